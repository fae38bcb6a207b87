"""Untrusted strings (file names, titles, document text) on their way to a terminal."""

from __future__ import annotations

import re

# Control characters (ANSI escapes start with ESC) and bidi overrides in a file name would act on
# the terminal instead of being shown; they are printed as visible escapes.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe to write to a terminal: control characters become `\\xNN` / `\\uNNNN`."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def for_console(text: str) -> str:
    """`text` (a path, a title: data) for Rich: terminal-safe and with markup escaped."""
    from rich.markup import escape

    return escape(printable(text))
