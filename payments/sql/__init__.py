"""The PostgreSQL trigger functions of payments, one file each (format: `config.sqlfiles`).

- `payments_payment_guard.pg.sql`: a payment's legal transitions, its fixed terms, and
  that its credit (and refund) transfers move what it says;
- `payments_reading_guard.pg.sql`: a reading is written once, for its captured hold;
- `payments_reading_written.pg.sql`: at commit, every captured reading hold has its reading.
"""

from __future__ import annotations

from pathlib import Path

from config import sqlfiles

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in."""
    return sqlfiles.load(FOLDER, name, **pieces)
