"""bench/common.py sets up what every benchmark measures: production settings."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.servers import ROOT

SET_UP = (
    "import common, django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
)


def test_a_benchmark_gets_production_settings_with_nothing_but_a_database_url():
    """Importing `common` first must leave nothing for `config` to refuse: a benchmark
    run with only DATABASE_URL set starts on production settings (DEBUG off, a secret key
    of its own), not with a configuration error."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:5432/unused"
    done = subprocess.run(
        [sys.executable, "-c", SET_UP],
        cwd=ROOT / "bench",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
