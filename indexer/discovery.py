"""Paths → `SourceFile`s: files and folders (recursive), include/exclude globs, hidden skipped, stdin."""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from indexer.readers import SourceFile

STDIN = "-"


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path as given, reason)


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    """A glob matches the relative path, any trailing part of it, or the file name."""
    parts = PurePosixPath(rel).parts
    for pattern in patterns:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(parts[-1], pattern):
            return True
        # `sub/*.md` should match `a/sub/x.md` too, as in .gitignore.
        if any(fnmatch.fnmatch("/".join(parts[i:]), pattern) for i in range(1, len(parts))):
            return True
    return False


def _wanted(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not _matches(rel, include):
        return False
    return not (exclude and _matches(rel, exclude))


def discover(paths: Iterable[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (),
             stdin_name: str = "stdin.txt") -> Discovery:
    """Expand `paths` into files. A file's id is its path relative to the root it was found under.

    Hidden files and folders (a name starting with '.') are skipped while walking a folder, but a
    hidden file named explicitly is taken. Files are listed in a stable (sorted) order.
    """
    found = Discovery()
    seen: set[str] = set()
    for given in paths:
        given_str = str(given)
        if given_str == STDIN:
            data = sys.stdin.buffer.read()
            found.files.append(SourceFile(rel=stdin_name, data=data, display="<stdin>"))
            continue
        path = Path(given_str)
        if path.is_dir():
            for rel, full in sorted(_walk(path)):
                if _wanted(rel, include, exclude) and str(full) not in seen:
                    seen.add(str(full))
                    found.files.append(SourceFile(rel=rel, path=full, display=str(full)))
        elif path.exists() or path.is_symlink():
            # An explicit file: its id is its name (relative to its parent, the implied root).
            # A broken symlink lands here too and is reported by the reader as unreadable.
            if str(path) not in seen and _wanted(path.name, include, exclude):
                seen.add(str(path))
                found.files.append(SourceFile(rel=path.name, path=path, display=given_str))
        else:
            found.missing.append((given_str, "no such file or folder"))
    return found


def _walk(root: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root, onerror=None):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = base / name
            yield full.relative_to(root).as_posix(), full
