"""The ledger: double-entry points and credits, holds, achievements and streaks."""
