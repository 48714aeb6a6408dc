"""The base of every Concord management command.

- A bad argument is one line on stderr and exit 2 (`manage.py X: error: ...`), not
  argparse's usage block; `--help` still shows it.
- What a command prints is data (see `config.text`): a `CommandError`'s message is made
  printable here, once for every command, and rich output is rendered with `console()`
  and written with `show()`, so a failure to print (a value rich cannot render, a closed
  pipe) is one line on stderr and never decides what the command did or its exit code.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError, CommandParser, SystemCheckError
from rich.console import Console

from config import private_apis
from config.text import printable


class OneLineParser(CommandParser):
    """Django's parser (raises CommandError when called from code), one line from a shell;
    subcommands' parsers are made of the same class (`CommandParser.add_subparsers`)."""

    def error(self, message: str):
        if not self.called_from_command_line:
            raise CommandError(f"Error: {printable(message)}")
        sys.stderr.write(f"{self.prog}: error: {printable(message)}\n")
        sys.exit(2)


class ConcordCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        _one_line(parser)
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except SystemCheckError:
            raise
        except CommandError as error:
            # Messages quote what the operator or a sheet gave (a path, a name, a slug).
            message = printable(error)
            if message == str(error):
                raise
            raise CommandError(message, returncode=error.returncode) from None

    def console(self, width: int = 120) -> Console:
        """A rich console rendering into a buffer for `show`: no emoji codes or
        highlighting (markup comes only from our code, values go through
        `config.text.rich_literal`); colours when stdout is a terminal (or FORCE_COLOR)."""
        return Console(
            file=io.StringIO(),
            width=width,
            highlight=False,
            emoji=False,
            force_terminal=True if _isatty(self.stdout) else None,
        )

    def show(self, render: Callable[[Console], object], *, outcome: str = "") -> bool:
        """Render with `render(console)`, then write it all to stdout. If either fails,
        say so in one line on stderr (with `outcome`: what the command did anyway) and
        return False; the caller's exit code stays what it did."""
        console = self.console()
        try:
            render(console)
            self.stdout.write(console.file.getvalue(), ending="")
            self.stdout.flush()
        except Exception as error:  # printing never decides the outcome
            self.warn(f"could not print the summary: {printable(error)}" + outcome)
            return False
        return True

    def status_console(self, width: int = 100) -> Console:
        """A rich console on stderr for progress bars: failing to draw one (a closed
        pipe) is not a failure of the command (rich would exit 1 on a broken pipe)."""
        stream = getattr(self.stderr, "_out", self.stderr)  # not OutputWrapper's line endings
        return Console(file=_Unfailing(stream), width=width, highlight=False, emoji=False)

    def warn(self, line: str) -> None:
        """One line on stderr, if stderr is still there."""
        try:
            self.stderr.write(printable(line))
            self.stderr.flush()
        except (OSError, ValueError):
            pass


class _Unfailing:
    """A stream whose writes are dropped once it is gone."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        return _isatty(self._stream)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _one_line(parser: CommandParser) -> None:
    """Make `parser` and its subcommands' parsers (made in add_arguments, before this)
    OneLineParsers: a subclass adding only `error`."""
    parser.__class__ = OneLineParser
    for sub in private_apis.subparsers(parser):
        _one_line(sub)
