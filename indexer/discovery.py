"""Paths → `SourceFile`s: files and folders (recursive), include/exclude globs, hidden skipped, stdin."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from indexer.readers import SourceFile

STDIN = "-"


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path as given, reason)


def glob_spec(patterns: Sequence[str]) -> pathspec.PathSpec | None:
    """Globs in .gitignore syntax (`*.md`, `docs/**`, `!keep.txt`), None when there are none.

    Unlike .gitignore, a pattern with a slash inside also matches deeper down (`sub/*.md` matches
    `a/sub/x.md`), as a file name pattern does; a leading `/` anchors it at the given folder.
    """
    if not patterns:
        return None
    lines = [
        p if p.startswith(("/", "**/", "!")) or "/" not in p.rstrip("/") else f"**/{p}" for p in patterns
    ]
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _wanted(rel: str, include: pathspec.PathSpec | None, exclude: pathspec.PathSpec | None) -> bool:
    if include is not None and not include.match_file(rel):
        return False
    return not (exclude is not None and exclude.match_file(rel))


def common_root(paths: Iterable[str | Path]) -> Path | None:
    """The folder document ids are relative to: the deepest folder holding every given path.

    One folder given: that folder (ids are paths inside it); one file: its parent (the id is its
    name). Several: their common ancestor, so `A/README.md` and `B/README.md` stay two documents.
    """
    anchors = []
    for given in paths:
        if str(given) == STDIN:
            continue
        path = Path(os.path.abspath(given))
        if path.is_dir():
            anchors.append(str(path))
        elif path.exists() or path.is_symlink():
            anchors.append(str(path.parent))
    return Path(os.path.commonpath(anchors)) if anchors else None


def discover(
    paths: Iterable[str | Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    stdin_name: str = "stdin.txt",
) -> Discovery:
    """Expand `paths` into files. A file's id is its path relative to `common_root(paths)`.

    Ids are unique per real file and the same on every run over the same paths. A file reached
    twice (the same path given twice, a folder and a file inside it, a symlink to a file already
    listed) is one document. Hidden files and folders (a name starting with '.') are skipped while
    walking a folder, but a hidden file named explicitly is taken. Files are listed in a stable
    (sorted) order; folders that cannot be listed are reported in `missing`.
    """
    given_paths = [str(p) for p in paths]
    root = common_root(given_paths)
    found = Discovery()
    seen: set[str] = set()
    include_spec, exclude_spec = glob_spec(include), glob_spec(exclude)

    def add(full: Path, display: str, rel_for_globs: str) -> None:
        real = os.path.realpath(full)
        if real in seen or not _wanted(rel_for_globs, include_spec, exclude_spec):
            return
        seen.add(real)
        absolute = os.path.abspath(full)
        assert root is not None
        rel = Path(os.path.relpath(absolute, root)).as_posix()
        found.files.append(SourceFile(rel=rel, path=full, display=display, origin=absolute))

    for given_str in given_paths:
        if given_str == STDIN:
            data = sys.stdin.buffer.read()
            found.files.append(SourceFile(rel=stdin_name, data=data, display="<stdin>", origin="stdin"))
            continue
        path = Path(given_str)
        if path.is_dir():
            for rel, full in sorted(_walk(path, found.missing)):
                add(full, str(full), rel)
        elif path.exists() or path.is_symlink():
            # A broken symlink lands here too and is reported by the reader as unreadable.
            add(path, given_str, path.name)
        else:
            found.missing.append((given_str, "no such file or folder"))
    return found


def _walk(root: Path, unreadable: list[tuple[str, str]]) -> Iterable[tuple[str, Path]]:
    def onerror(exc: OSError) -> None:
        # Silently leaving out a folder would look like a complete run.
        unreadable.append((str(exc.filename or root), f"cannot list folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = base / name
            yield full.relative_to(root).as_posix(), full
