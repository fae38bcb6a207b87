"""Logging for every `rosetta` command, configured once by the CLI root.

Without `-v` only warnings reach the user (the commands print their own progress and errors);
`-v` shows the project's own detail (retry notices, reader tracebacks, the chosen encoder
backend); `-vv` also the libraries' debug output.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

PROJECT_LOGGERS = ("rosetta", "indexer", "training", "app")
FORMAT = "%(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it per invocation)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT))

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(verbosity: int = 0) -> None:
    """Route log records to stderr: warnings by default, the project's debug detail at 1, all at 2.

    Args:
        verbosity: how many `-v` were given.
    """
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 1 else logging.NOTSET)
