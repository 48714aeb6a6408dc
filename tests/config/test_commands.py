"""Every management command answers a bad argument with one line on stderr and exit 2
(not argparse's usage block, never a traceback); called from code it raises CommandError."""

from __future__ import annotations

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

from tests.config.test_settings import manage

CONCORD_APPS = ("accounts", "config", "dashboard", "events", "integrity", "ledger", "narrative")
BAD_ARGUMENTS = {
    "archive_activity_days": ["--bogus"],
    "archive_events": ["--bogus"],
    "demo_admin": ["--bogus"],
    "export_member": [],
    "import_registrations": [],
    "integrity_report": ["--format", "xml"],
    "overlay_token": ["create"],
    "rebuild_story_state": ["--member", "x"],
    "run_relay": ["--bogus"],
    "seed_demo": ["--members", "x"],
}


def concord_commands() -> list[str]:
    return sorted(
        name for name, app in get_commands().items() if app in (*CONCORD_APPS, "tournaments")
    )


def test_every_concord_command_is_covered_here():
    assert concord_commands() == sorted(BAD_ARGUMENTS)


@pytest.mark.parametrize(("name", "args"), sorted(BAD_ARGUMENTS.items()))
def test_a_bad_argument_is_one_line_and_exit_2(name, args):
    result = manage(name, *args, env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"manage.py {name}"), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def test_help_still_shows_the_usage():
    result = manage("overlay_token", "--help", env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 0
    assert "usage: manage.py overlay_token" in result.stdout


@pytest.mark.parametrize(("name", "args"), sorted(BAD_ARGUMENTS.items()))
def test_a_bad_argument_from_code_raises_command_error(name, args):
    with pytest.raises(CommandError, match=r"^Error: "):
        call_command(name, *args)
