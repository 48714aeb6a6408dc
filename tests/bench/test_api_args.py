"""bench/api.py refuses a bad argument, or a set-up without Redis, with one line
and exit 2, before it touches the database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT


def refusal(args: list[str], **env: str) -> str:
    """The one line bench/api.py prints on stderr when it exits 2 on `args`."""
    done = subprocess.run(
        [sys.executable, "bench/api.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:5432/unused", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--server", "uvicorn"], "invalid choice: 'uvicorn'"),
        (["--server", "daphne", "--threads", "4"], "--threads is for --server gunicorn"),
        (["--server", "uwsgi", "--pool", "4"], "--pool is for --server daphne"),
        (["--server", "gunicorn", "--threads", "0"], "0 must be at least 1"),
        (["--server", "gunicorn", "--pool", "4"], "--pool is for --server daphne"),
        (["--rounds", "0"], "0 must be at least 1"),
        (["--rounds", "21"], "--rounds"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(args, says):
    assert says in refusal(args)


def test_without_redis_it_refuses_to_measure_a_set_up_nobody_deploys():
    assert "REDIS_URL is unset" in refusal([], REDIS_URL="")
