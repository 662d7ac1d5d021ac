"""Command-line helpers shared by the management commands that take registry credentials."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["refuse_password_argument"]

_REFUSED = (
    "a password is never taken as an argument (shell history, the process list): "
    "pipe it in with --password-stdin"
)


class _RefusePassword(argparse.Action):
    """``--password VALUE`` (or ``--password=VALUE``): refused without repeating the value."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(_REFUSED)


def refuse_password_argument(parser: argparse.ArgumentParser) -> None:
    """Make ``--password``/``--pass``… an error naming ``--password-stdin``.

    Without it argparse reads ``--password`` as an abbreviation of ``--password-stdin`` and
    then reports the password itself as an "unrecognized argument" on stderr."""
    parser.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)
