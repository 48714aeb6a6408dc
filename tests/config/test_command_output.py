"""What commands print and write is data (issue 14, "Terminal markup" and "Spreadsheet
formulas"): a name, label or sheet cell is shown as the characters it holds, never run by
the terminal (ESC, NUL, C1, bidi overrides) or read by rich as markup (`[/bold]`,
`[link=...]`), and a CSV cell never starts a formula. The rules live in `config.text`."""

from __future__ import annotations

import csv
import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rich.console import Console
from rich.text import Text

from config.text import csv_writer, printable, rich_literal, spreadsheet_cell
from dashboard.models import OverlayToken
from integrity import registry
from tests.config.test_settings import manage

HOSTILE = "[/bold] [link=http://evil]x[/link] :warning: \x1b[31mred\x00\x07\x7f\x9b\u202e\u200b!"
SHOWN = "[/bold] [link=http://evil]x[/link] :warning: [31mred!"
ARGUMENT = HOSTILE.replace("\x00", "")  # what a command line can carry
UNPRINTABLE = ("\x1b", "\x00", "\x07", "\x7f", "\x9b", "\u202e", "\u200b")


def assert_plain(text: str) -> None:
    assert not [c for c in UNPRINTABLE if c in text], repr(text)
    assert "]8;" not in text  # no OSC 8 hyperlink


def test_printable_drops_controls_and_format_characters_and_keeps_every_script():
    assert printable(HOSTILE) == SHOWN
    assert printable("Zoë 林 Ωμέγα 👍 ١٢٣") == "Zoë 林 Ωμέγα 👍 ١٢٣"
    assert printable("a\tb\nc\r\u2028d\ufeff\ud800") == "a b cd"
    assert printable("two\nlines\r\n", newlines=True) == "two\nlines\n"
    assert printable(ValueError("bad \x1b[2J")) == "bad [2J"


def test_rich_literal_prints_exactly_the_text():
    console = Console(file=io.StringIO(), width=200)
    console.print(
        Text.assemble(
            Text.from_markup("[bold]hostile:[/bold] "),
            rich_literal(HOSTILE),
            " and ",
            rich_literal("ends in \\"),
            Text.from_markup("[bold]![/bold]"),
        )
    )
    console.print(rich_literal("a long value", limit=6))
    assert console.file.getvalue() == f"hostile: {SHOWN} and ends in \\!\na lon…\n"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_text_cell_that_starts_a_formula_gets_a_quote(start):
    assert spreadsheet_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"


def test_other_cells_and_our_numbers_are_written_as_they_are():
    assert [spreadsheet_cell(v) for v in ["web", " =1", "a=1", "", -5, 3, 2.5, None]] == [
        "web",
        " =1",
        "a=1",
        "",
        -5,
        3,
        2.5,
        None,
    ]
    out = io.StringIO()
    csv_writer(out).writerows([["=1+1", -5, "-5"], ["@x", 7, None]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["'=1+1", "-5", "'-5"],
        ["'@x", "7", ""],
    ]


@pytest.mark.django_db
def test_overlay_token_prints_a_hostile_label_as_text():
    out = StringIO()
    call_command("overlay_token", "create", "--scope", "events", "--label", ARGUMENT, stdout=out)
    assert OverlayToken.objects.get().label == ARGUMENT  # stored as given
    out = StringIO()
    call_command("overlay_token", "list", stdout=out)
    assert_plain(out.getvalue())
    assert SHOWN in out.getvalue()


@pytest.fixture
def hostile_checks():
    """Two integrity checks whose output carries markup and control characters: one
    finds 'violations' with such a sample, one fails with such a message."""

    @registry.check("zz_tests.hostile_sample", "a check whose sample is hostile")
    def hostile_sample():
        return registry.Violations(count=1, sample=[HOSTILE])

    @registry.check("zz_tests.hostile_error", "a check that fails with a hostile message")
    def hostile_error():
        raise ValueError(HOSTILE)

    yield ["zz_tests.hostile_sample", "zz_tests.hostile_error"]
    for name in ("zz_tests.hostile_sample", "zz_tests.hostile_error"):
        registry._checks.pop(name)


@pytest.mark.django_db
def test_integrity_report_prints_hostile_samples_and_errors_as_text(hostile_checks):
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(
            "integrity_report", *[f"--check={name}" for name in hostile_checks], stdout=out
        )
    assert exited.value.code == 1  # violations found: the printing does not decide it
    assert_plain(out.getvalue())
    flat = " ".join(out.getvalue().replace("│", " ").split())
    assert "[/bold]" in flat
    assert "[link=http://evil]x[/link]" in flat
    assert "NOT CLEAN" in flat


@pytest.mark.django_db
def test_a_command_error_quoting_a_hostile_value_is_printed_as_text(tmp_path):
    from tests.factories import TournamentFactory

    cup = TournamentFactory()
    with pytest.raises(CommandError) as raised:
        call_command("import_registrations", str(cup.pk), str(tmp_path / f"{ARGUMENT}.csv"))
    assert_plain(str(raised.value))
    assert f"cannot read {tmp_path / SHOWN}.csv" in str(raised.value)


def test_from_the_shell_a_hostile_bad_argument_is_one_plain_line():
    result = manage("overlay_token", "list", ARGUMENT, env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 2
    assert_plain(result.stderr)
    assert result.stderr.strip().splitlines() == [
        f"manage.py overlay_token: error: unrecognized arguments: {SHOWN}"
    ]
