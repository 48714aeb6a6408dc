"""What every benchmark here shares: production settings and argument checks.

Import it first: it puts the project on sys.path and sets the environment Django reads."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Measure production settings: with DEBUG on, Django keeps every query it runs, which
# costs client CPU on every call (it roughly doubled a registration's). DJANGO_DEBUG=1
# measures that instead.
os.environ.setdefault("DJANGO_DEBUG", "0")
if os.environ["DJANGO_DEBUG"] == "0":
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}")

MAX_WORKERS = 64


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def worker_counts(text: str) -> list[int]:
    """`1,4,8` -> [1, 4, 8]: each at least 1 and at most MAX_WORKERS, repeats dropped."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("give at least one worker count, e.g. 1,4,8")
    counts = [positive(part) for part in parts if part]
    if max(counts) > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{max(counts)} workers is more than {MAX_WORKERS}")
    return list(dict.fromkeys(counts))
