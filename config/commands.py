"""The base of every Concord management command: a bad argument is one line on stderr and
exit 2 (`manage.py X: error: ...`), not argparse's usage block; `--help` still shows it."""

from __future__ import annotations

import argparse
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser


class OneLineParser(CommandParser):
    """Django's parser (raises CommandError when called from code), one line from a shell;
    subcommands' parsers are made of the same class (`CommandParser.add_subparsers`)."""

    def error(self, message: str):
        if not self.called_from_command_line:
            raise CommandError(f"Error: {message}")
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


class ConcordCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        _one_line(parser)
        return parser


def _one_line(parser: CommandParser) -> None:
    """Make `parser` and its subcommands' parsers (made in add_arguments, before this)
    OneLineParsers: a subclass adding only `error`."""
    parser.__class__ = OneLineParser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _one_line(sub)
