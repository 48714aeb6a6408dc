"""`manage.py import_registrations`: a 10,000-row sheet with repeated and bad rows, as a
dry run, all or nothing, and with --skip-invalid; matching rules; argument errors."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import Member
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.actions import spend
from ledger.models import Transfer
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import table_contents
from tournaments import imports
from tournaments.actions import open_check_in, register
from tournaments.models import Registration

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger", "tournaments")
HEADER = ["Platform", "External ID", "Username", "E-mail"]


@dataclass
class Sheet:
    path: Path
    expected: dict[int, str]  # line -> outcome
    found: dict[int, str]  # line -> created / matched by identity / matched by email
    reasons: dict[int, str]  # line -> a fragment of the reason


def write(path: Path, rows: list[list[str]], header=HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def flat(text: str) -> str:
    """The report's text with table borders and line breaks gone (cells wrap)."""
    return re.sub(r"[\s│┃]+", " ", text)


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_registrations", *map(str, args), stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cup(db):
    """50 slots, a 10-point fee, an open waitlist."""
    return TournamentFactory(name="Sheet Cup", capacity=50, entry_fee=10)


KNOWN = 60_000  # the known players' Discord ids


@pytest.fixture
def big_sheet(tmp_path, cup) -> Sheet:
    """10,000 rows: 198 members Concord knows named by identity, 100 by email (another
    identity, the address written differently), 1,000 new people, one member registered
    already and one who cannot pay, then 7,457 rows repeating an earlier player (by
    identity, or by email under another identity) and 1,243 bad rows. Every line's
    outcome is known in advance."""
    known = [
        MemberFactory(platform="discord", external_id=f"{KNOWN + n}", email=f"known.{n}@gmail.com")
        for n in range(300)
    ]
    already = known[0]
    register(cup, already)  # takes one of the 50 slots before the import
    poor = known[1]
    spend(poor, 100, sink="shop", reason="spent it all", idempotency_key="poor")
    rows: list[list[str]] = []
    expected: dict[int, str] = {}
    found: dict[int, str] = {}
    reasons: dict[int, str] = {}
    firsts: list[tuple[int, list[str]]] = []  # (line, row) of each person's first row
    seats = 49

    def add(row, outcome, how="", reason=""):
        nonlocal seats
        line = len(rows) + 2
        if outcome == "seat":
            outcome = "registered" if seats > 0 else "waitlisted"
            seats -= outcome == "registered"
        rows.append(row)
        expected[line] = outcome
        if how:
            found[line] = how
        if reason:
            reasons[line] = reason
        return line

    line = add(
        ["discord", f"{KNOWN}", "already", ""], "already registered", reason="before this import"
    )
    firsts.append((line, rows[-1]))
    line = add(
        ["discord", f"{KNOWN + 1}", "poor", ""], "rejected", reason="cannot pay the entry fee"
    )
    for n in range(2, 200):
        line = add(["Discord", f" {KNOWN + n} ", f"user {n}", ""], "seat", "matched by identity")
        firsts.append((line, rows[-1]))
    for n in range(200, 300):
        email = f"Known.{n}+sheet@GoogleMail.com"  # normalizes to known.{n}@gmail.com
        line = add(["telegram", f"{70_000 + n}", f"user {n}", email], "seat", "matched by email")
        firsts.append((line, rows[-1]))
    for n in range(1000):
        email = f"new.{n}@example.org" if n % 3 else ""
        line = add(["web", f"new{n}", f"new {n}", email], "seat", "created")
        firsts.append((line, rows[-1]))
    bad = [
        (["myspace", "x", "x", ""], "unknown platform"),
        (["telegram", "   ", "blank", ""], "needs an external id"),
        (["web", "y" * 65, "long", ""], "longer than 64"),
        (["web", "z1", "z", "not-an-email"], "not an email address"),
        (["web", "z2", "tab\tname", ""], "username contains"),
    ]
    for n in range(10_000 - len(rows)):
        if n % 7 == 0:
            row, reason = bad[n // 7 % len(bad)]
            add(list(row), "rejected", reason=reason)  # the same bad row again: again
        else:
            first_line, first = firsts[n % len(firsts)]
            if n % 2 and first[3]:
                # The same person under another identity, known by email.
                repeat = ["telegram", f"{80_000 + n}", "again", first[3].lower()]
            else:
                repeat = list(first)
            add(repeat, "already registered", reason=f"same player as line {first_line}")
    assert len(rows) == 10_000
    return Sheet(write(tmp_path / "sheet.csv", rows), expected, found, reasons)


COUNTS = {"registered": 49, "waitlisted": 1249, "already registered": 7458, "rejected": 1244}


def test_a_dry_run_reports_every_row_and_writes_nothing(big_sheet, cup):
    assert Counter(big_sheet.expected.values()) == COUNTS
    before = table_contents(*APPS)
    code, out, _ = run(cup.pk, big_sheet.path, "--dry-run")
    assert code == 1  # rejected rows: the file would not import as it is
    assert table_contents(*APPS) == before
    for outcome, count in COUNTS.items():
        assert re.search(rf"│ {outcome} +│ +{count} │", out), outcome
    assert re.search(r"│ player created \(planned\) +│ +1000 │", out)
    assert "Rejected rows" in out
    assert "dry run: nothing was written; 1244 rows would be rejected" in out


def test_the_plan_matches_what_the_sheet_says(big_sheet, cup):
    rows = imports.read_sheet(big_sheet.path)
    report = imports.run(cup.pk, rows, dry_run=True)
    assert not report.applied
    assert {row.line: row.outcome for row in rows} == big_sheet.expected
    for line, how in big_sheet.found.items():
        assert report.rows[line - 2].found == how, line
    for line, fragment in big_sheet.reasons.items():
        assert fragment in report.rows[line - 2].reason, (line, report.rows[line - 2].reason)
    positions = [row.position for row in rows if row.outcome == "waitlisted"]
    assert positions == list(range(1, 1250))


def test_a_sheet_with_rejected_rows_imports_nothing(big_sheet, cup):
    before = table_contents(*APPS)
    code, out, _ = run(cup.pk, big_sheet.path)
    assert code == 1
    assert table_contents(*APPS) == before
    assert "nothing imported: 1244 rows rejected" in out
    assert "unknown platform 'myspace'" in flat(out)
    assert "3 discord 60001 cannot pay the entry fee: has 0 points, needs 10" in flat(out)


def test_skip_invalid_imports_every_other_row(big_sheet, cup, tmp_path):
    members = Member.objects.count()
    report_path = tmp_path / "outcomes.csv"
    code, out, _ = run(cup.pk, big_sheet.path, "--skip-invalid", "--report", report_path)
    assert code == 0, out
    assert "imported" in out
    assert Member.objects.count() == members + 1000
    rows = Registration.objects.filter(tournament=cup)
    assert rows.filter(status="registered").count() == 50  # 49 + the one before
    waitlisted = rows.filter(status="waitlisted").order_by("waitlist_position")
    assert list(waitlisted.values_list("waitlist_position", flat=True)) == list(range(1, 1250))
    cup.refresh_from_db()
    assert (cup.active_count, cup.waitlist_count) == (50, 1249)
    assert (
        Transfer.objects.filter(idempotency_key__startswith=f"tournament:{cup.pk}:fee:").count()
        == 50
    )
    # The waitlist follows the sheet's order.
    by_line = [
        line for line, outcome in sorted(big_sheet.expected.items()) if outcome == "waitlisted"
    ]
    with open(report_path, encoding="utf-8") as written:
        outcomes = list(csv.DictReader(written))
    assert len(outcomes) == 10_000
    positions = {int(r["line"]): r["waitlist_position"] for r in outcomes if r["waitlist_position"]}
    assert [int(positions[line]) for line in by_line] == list(range(1, 1250))
    names = [c.name for c in all_checks() if c.name.startswith(("tournaments.", "ledger."))]
    assert run_checks(names).ok


def test_importing_the_same_sheet_again_changes_nothing(tmp_path, cup):
    path = write(
        tmp_path / "small.csv",
        [["telegram", "9101", "one", "one@example.org"], ["discord", "9102", "two", ""]],
    )
    assert run(cup.pk, path)[0] == 0
    before = table_contents(*APPS)
    code, out, _ = run(cup.pk, path)
    assert code == 0
    assert table_contents(*APPS) == before
    assert "already registered" in out


def test_a_clean_sheet_imports_everything(tmp_path, cup, alice):
    path = write(
        tmp_path / "clean.csv",
        [
            ["telegram", "1001", "alice", ""],  # alice, by identity
            ["web", "w1", "someone", "ALICE.LIDDELL+cup@googlemail.com"],  # alice again
            ["discord", "4004", "dee", "dee@example.org"],
        ],
    )
    code, out, _ = run(cup.pk, path)
    assert code == 0, out
    assert Registration.objects.filter(tournament=cup).count() == 2
    assert "same player as line 2" in out
    dee = Member.objects.get(identities__external_id="4004")
    assert dee.email_normalized == "dee@example.org"


def test_an_identity_wins_over_an_email_belonging_to_someone_else(tmp_path, cup, alice, bob):
    rows = imports.read_sheet(
        write(tmp_path / "s.csv", [["discord", "2002", "bob", "alice.liddell@gmail.com"]])
    )
    imports.run(cup.pk, rows)
    assert (rows[0].found, rows[0].member_id) == ("matched by identity", bob.pk)


def test_a_player_who_cannot_pay_any_more_when_the_rows_are_written(
    tmp_path, cup, alice, monkeypatch
):
    """The plan saw the fee covered; by the time the rows are written it is not: without
    --skip-invalid the whole import is aborted, with it that row is rejected."""
    rows = [["discord", "4009", "dee", ""], ["telegram", "1001", "a", ""]]
    path = write(tmp_path / "s.csv", rows)
    real = imports.plan

    def plan_then_spend(*args, **kwargs):
        found = real(*args, **kwargs)
        spend(alice, 100, sink="shop", reason="meanwhile", idempotency_key="meanwhile")
        return found

    monkeypatch.setattr(imports, "plan", plan_then_spend)
    with pytest.raises(imports.ImportAborted, match=r"line 3: member .* has 0 points available"):
        imports.run(cup.pk, imports.read_sheet(path))
    assert not Registration.objects.exists()
    assert not Member.objects.filter(identities__external_id="4009").exists()
    report = imports.run(cup.pk, imports.read_sheet(path), skip_invalid=True)
    assert [row.outcome for row in report.rows] == ["registered", "rejected"]


def test_a_disqualified_player_is_rejected(tmp_path, cup, alice):
    from tournaments.actions import disqualify

    disqualify(register(cup, alice))
    path = write(tmp_path / "s.csv", [["telegram", "1001", "alice", ""], ["web", "w", "", ""]])
    code, out, _ = run(cup.pk, path, "--skip-invalid")
    assert code == 0
    assert "2 telegram 1001 disqualified from this tournament" in flat(out)


def test_a_full_tournament_without_waitlist_rejects_the_rest(tmp_path, db):
    small = TournamentFactory(capacity=2, waitlist_limit=0, entry_fee=0)
    path = write(tmp_path / "s.csv", [["web", f"p{n}", "", ""] for n in range(3)])
    code, out, _ = run(small.pk, path, "--skip-invalid")
    assert code == 0
    assert "the tournament is full" in out
    assert Registration.objects.filter(tournament=small).count() == 2


@pytest.mark.parametrize(
    ("tournament", "file", "message"),
    [
        ("abc", "sheet.csv", "tournament must be an id"),
        ("0", "sheet.csv", "tournament must be an id"),
        ("999999", "sheet.csv", "no tournament 999999"),
        ("CUP", "missing.csv", "cannot read"),
        ("CUP", "empty.csv", "is empty"),
        ("CUP", "columns.csv", "has no column email (header: platform, external id, name"),
        ("CUP", "latin1.csv", "is not UTF-8 text"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, cup, tournament, file, message):
    write(tmp_path / "sheet.csv", [["web", "1", "", ""]])
    (tmp_path / "empty.csv").write_text("")
    write(
        tmp_path / "columns.csv",
        [["web", "1", ""]],
        header=["platform", "external id", "name", "username"],
    )
    (tmp_path / "latin1.csv").write_bytes(
        "platform,external_id,username,email\nweb,1,Zoë,\n".encode("latin-1")
    )
    tournament = str(cup.pk) if tournament == "CUP" else tournament
    with pytest.raises(CommandError) as raised:
        call_command("import_registrations", tournament, str(tmp_path / file), stdout=StringIO())
    assert raised.value.returncode == 2
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_tournament_not_taking_registrations_is_refused(tmp_path, cup):
    open_check_in(cup)
    path = write(tmp_path / "s.csv", [["web", "1", "", ""]])
    with pytest.raises(
        CommandError, match="is not open: the tournament is check-in open"
    ) as raised:
        call_command("import_registrations", str(cup.pk), str(path), stdout=StringIO())
    assert raised.value.returncode == 2


def test_from_the_shell_a_bad_argument_is_one_line_without_traceback():
    done = subprocess.run(
        [sys.executable, "manage.py", "import_registrations", "abc", "x.csv"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "CommandError: tournament must be an id (a whole number), not 'abc'"
    ]


# Spreadsheet formulas and terminal markup (issue 14): what a sheet says is data, never
# a formula in the --report file or markup, a hyperlink or a control sequence on screen.

FORMULA = '=HYPERLINK("http://evil","x")'
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_report_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(tmp_path, cup):
    path = write(
        tmp_path / "s.csv",
        [
            ["web", FORMULA, FORMULA, ""],  # registered: its external id is in the report
            ["web", "+1+1", "plus", ""],
            ["web", "-2+3", "minus", ""],
            ["web", "@SUM(A1)", "at", ""],
            [FORMULA, "p1", "x", ""],  # rejected: its platform cell is in the report
            ["nope", "\t=1+1", "tab", ""],  # rejected: its raw external id is in the report
            ["nope", "\r=1+1", "cr", ""],
        ],
    )
    report = tmp_path / "out.csv"
    code, out, _ = run(cup.pk, path, "--skip-invalid", "--report", report)
    assert code == 0, out
    with open(report, encoding="utf-8", newline="") as written:
        cells = [cell for row in csv.reader(written) for cell in row]
    assert [cell for cell in cells if cell.startswith(TRIGGERS)] == []
    with open(report, encoding="utf-8", newline="") as written:
        lines = {int(row["line"]): row for row in csv.DictReader(written)}
    assert lines[2]["external_id"] == "'" + FORMULA
    assert lines[4]["external_id"] == "'-2+3"
    assert lines[6]["platform"] == "'" + FORMULA
    assert lines[7]["external_id"] == "'\t=1+1"
    assert "'\r=1+1" in {row["external_id"] for row in lines.values()}
    # The numbers Concord writes stay numbers; the database keeps what the sheet said.
    assert int(lines[2]["member_id"]) == Member.objects.get(identities__external_id=FORMULA).pk
    assert Member.objects.filter(identities__external_id="-2+3").exists()


MARKUP = "[/bold]"
LINK = "[link=http://e]x[/link]"  # short enough to be printed whole
UNPRINTABLE = ("\x1b", "\x00", "\u202e", "\x9b")


def assert_plain(text: str) -> None:
    """Nothing a terminal would act on, and no hyperlink (OSC 8)."""
    assert not [c for c in UNPRINTABLE if c in text], repr(text)
    assert "]8;" not in text


def test_markup_and_control_characters_print_as_text_and_the_import_commits(tmp_path, db):
    cup = TournamentFactory(name=f"{MARKUP} x", capacity=10, entry_fee=0)
    path = write(
        tmp_path / "s.csv",
        [
            ["web", MARKUP, MARKUP, ""],  # line 2: registered
            ["web", LINK, "[link=http://evil]x[/link]", ""],  # line 3: registered
            ["web", MARKUP, "again", ""],  # line 4: already registered (printed)
            ["web", LINK, "", ""],  # line 5: already registered (printed)
            ["web", "esc\x1b[31m", "", ""],  # line 6: rejected (printed)
            ["web", "nul\x00", "", ""],  # line 7: rejected (printed)
            ["web\u202e\x9b", "b", "", ""],  # line 8: rejected, unknown platform (printed)
        ],
    )
    report = tmp_path / "out.csv"
    code, out, err = run(cup.pk, path, "--skip-invalid", "--report", report)
    assert code == 0, err
    assert Registration.objects.filter(tournament=cup).count() == 2
    assert report.exists()
    assert_plain(out + err)
    text = flat(out)
    assert f"Import into tournament {cup.pk} ({MARKUP} x)" in text
    assert f"4 web {MARKUP} same player as line 2" in text
    assert f"5 web {LINK} same player as line 3" in text
    assert "6 web esc[31m external id contains control characters" in text
    assert "7 web nul external id contains control characters" in text
    assert "imported in" in text


def test_a_rejected_sheet_with_markup_exits_1_and_writes_nothing(tmp_path, db):
    cup = TournamentFactory(name=f"{MARKUP} x", capacity=10, entry_fee=0)
    path = write(
        tmp_path / "s.csv",
        [
            ["web", "fine", MARKUP, ""],
            ["web", "esc\x1b[31m", "[link=http://evil]x[/link]", ""],
            ["web", "nul\x00", "", ""],
            ["web", "m", "", f"{MARKUP}"],
        ],
    )
    report = tmp_path / "out.csv"
    before = table_contents(*APPS)
    code, out, err = run(cup.pk, path, "--report", report)
    assert code == 1, err
    assert table_contents(*APPS) == before
    assert_plain(out + err)
    text = flat(out)
    assert f"({MARKUP} x)" in text
    assert f"5 web m {MARKUP} " in text  # the email column
    assert "nothing imported: 3 rows rejected" in text
    with open(report, encoding="utf-8", newline="") as written:
        assert [row["outcome"] for row in csv.DictReader(written)] == [
            "registered",
            "rejected",
            "rejected",
            "rejected",
        ]


class BrokenPipe(StringIO):
    """A terminal that went away (`... | head -1`)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_failure_to_print_never_turns_a_committed_import_into_nothing_imported(tmp_path, cup):
    path = write(tmp_path / "s.csv", [["web", "w1", "", ""], ["web", "w2", "", ""]])
    report = tmp_path / "out.csv"
    err = StringIO()
    try:
        call_command(
            "import_registrations", str(cup.pk), str(path), "--report", str(report),
            stdout=BrokenPipe(), stderr=err,
        )  # fmt: skip
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    assert code == 0
    assert Registration.objects.filter(tournament=cup).count() == 2
    with open(report, encoding="utf-8", newline="") as written:
        assert len(list(csv.DictReader(written))) == 2
    assert err.getvalue().strip().splitlines() == [
        "could not print the summary: [Errno 32] Broken pipe (the import was written)"
    ]


def test_an_unwritable_report_is_refused_before_anything_is_imported(tmp_path, cup):
    path = write(tmp_path / "s.csv", [["web", "w1", "", ""]])
    before = table_contents(*APPS)
    with pytest.raises(CommandError, match="cannot write") as raised:
        call_command(
            "import_registrations", str(cup.pk), str(path),
            "--report", str(tmp_path / "no" / "such" / "dir.csv"), stdout=StringIO(),
        )  # fmt: skip
    assert raised.value.returncode == 2
    assert table_contents(*APPS) == before
