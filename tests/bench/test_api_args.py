"""bench/api.py refuses a bad choice of server, or a set-up without Redis, with one line
and exit 2, before it touches the database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT


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
def test_a_bad_server_choice_is_one_line_and_exit_2(args, says):
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:5432/unused"}
    done = subprocess.run(
        [sys.executable, "bench/api.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0]


def test_without_redis_it_refuses_to_measure_a_set_up_nobody_deploys():
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:5432/unused",
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "bench/api.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "REDIS_URL is unset" in lines[0]
