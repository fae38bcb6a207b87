"""Hostile-input probe: runs the real `rosetta index` / `search` / `stats` CLI on bad inputs, one
fresh data folder per case, and checks what a user would see.

A case is *handled cleanly* when the command finished in time with the exit code the README
documents (0 all in, 3 some files failed, 2 usage errors, 130 interrupted), printed no traceback,
and every good document next to the bad input is in the store afterwards (*data lost* counts the
good documents missing). Peak memory (max RSS of the command) shows the bounded ones.

    .venv/bin/python bench/hostile_inputs.py [--only NAME ...]

Writes bench/results/hostile_inputs.json (with the CPU flags).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "hostile_inputs.json"
sys.path.insert(0, str(REPO))  # the test file builders: the zoo and this probe build the same bomb
from rosetta.models.cpu import isa_flags  # noqa: E402
from tests.indexer.conftest import bomb_docx  # noqa: E402

GOOD = "Die Katze schläft den ganzen Tag auf dem Sofa im Wohnzimmer."


@dataclass
class Outcome:
    name: str
    what: str
    exit_codes: list[int] = field(default_factory=list)
    expected_exit: int = 0
    seconds: float = 0.0
    max_rss_mb: float = 0.0
    traceback: bool = False
    good_expected: int = 0
    good_found: int = 0
    checks_failed: list[str] = field(default_factory=list)
    skipped: str = ""  # why the case could not run here (not counted)

    @property
    def data_lost(self) -> int:
        return max(self.good_expected - self.good_found, 0)

    @property
    def clean(self) -> bool:
        return (
            not self.traceback
            and not self.checks_failed
            and self.data_lost == 0
            and all(code == self.expected_exit for code in self.exit_codes[-1:])
        )


def run(
    args: list[str],
    env: dict[str, str],
    timeout: float = 180.0,
    stdin: bytes | None = None,
    interrupt_when: Callable[[int], bool] | None = None,
) -> tuple[int, str, float, float]:
    """(exit code, stdout+stderr, seconds, max RSS MB) of `rosetta ARGS` as a real subprocess."""
    started = time.perf_counter()
    # cwd: the case's folder, so that only PYTHONPATH (--code) decides which checkout runs.
    proc = subprocess.Popen(
        [sys.executable, "-c", "from rosetta.cli import main; main()", *args],
        env=env,
        cwd=Path(env["ROSETTA_DATA_DIR"]).parent,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    deadline = started + timeout
    status = rusage = None
    interrupted = False
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if interrupt_when is not None and not interrupted and interrupt_when(proc.pid):
            proc.send_signal(signal.SIGINT)
            interrupted = True
        if time.perf_counter() > deadline:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if time.perf_counter() > deadline:
        code, out = 124, out + "\n[probe: timed out]"
    return code, out, time.perf_counter() - started, rusage.ru_maxrss / 1024


def stored_docs(data_dir: Path, collection: str = "probe") -> dict[str, str]:
    from rosetta.store import QdrantStore

    path = data_dir / "qdrant"
    if not path.exists():
        return {}
    with QdrantStore.embedded(path) as store:
        if not store.exists(collection):
            return {}
        return {
            h.payload["doc_id"]: h.payload["text"]
            for h in store.iterate(collection)
            if h.payload.get("chunk_index") == 0
        }


# ---- the cases: (name, what, body) where body(root, env, outcome) runs the commands ------------
def _index(
    root: Path, env: dict[str, str], o: Outcome, *paths: str | Path, extra: tuple[str, ...] = (), **kw
) -> str:
    code, out, secs, rss = run(["index", *map(str, paths), *extra], env, **kw)
    o.exit_codes.append(code)
    o.seconds += secs
    o.max_rss_mb = max(o.max_rss_mb, rss)
    o.traceback |= "Traceback" in out
    return out


def _good(folder: Path, name: str = "good.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(GOOD)
    return folder


def case_fifo(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    os.mkfifo(f / "pipe.txt")
    out = _index(root, env, o, f, timeout=120)
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))
    if "FIFO" not in out:
        o.checks_failed.append("FIFO not named in the report")


def case_dev_zero(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    (f / "zero.txt").symlink_to("/dev/zero")
    (f / "urandom.md").symlink_to("/dev/urandom")
    out = _index(root, env, o, f, timeout=120)
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))
    if out.count("character device") != 2:
        o.checks_failed.append("device files not reported as skipped")


def case_docx_bomb(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    (f / "bomb.docx").write_bytes(bomb_docx(5_000_000))  # ~80 KB holding 30 MB of XML
    (f / "bomb-in-disguise.bin").write_bytes(bomb_docx(5_000_000))
    out = _index(root, env, o, f)
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))
    if out.count("markup elements") != 2:
        o.checks_failed.append("bombs not refused with the reason")


def case_html_bomb(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    (f / "tags.html").write_bytes(b"<html><body>" + b"<b>" * 8_000_000 + b"</body></html>")  # 24 MB
    out = _index(root, env, o, f)
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))
    if "markup elements" not in out:
        o.checks_failed.append("markup bomb not refused")


def case_markup_names(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    (f / "[").mkdir()
    (f / "[" / "red]markup.txt").write_bytes(b"")  # skipped: printed as ".../[/red]markup.txt"
    (f / "[bold]ok.txt").write_text(GOOD + " Noch ein Satz.")
    (f / "\x1b[2J\x1b[31mansi.txt").write_bytes(b"\x00\x01" * 100)  # failed: binary
    out = _index(root, env, o, f)
    o.good_expected, o.good_found = 2, len(stored_docs(root / "data"))
    if "\x1b[" in out or "[/red]markup.txt" not in out or "\\x1b[2J" not in out:
        o.checks_failed.append("names not shown literally / escapes reached the terminal")


def case_colliding_roots(root: Path, env, o: Outcome) -> None:
    for name in ("A", "B"):
        (root / name).mkdir()
        (root / name / "README.md").write_text(f"Projekt {name}: wie Vulkane entstehen und ausbrechen.")
    counts = []
    for _ in range(3):
        _index(root, env, o, root / "A", root / "B")
        counts.append(len(stored_docs(root / "data")))
    o.good_expected, o.good_found = 2, min(counts)
    if counts != [2, 2, 2]:
        o.checks_failed.append(f"documents per run {counts}")


def case_colliding_files(root: Path, env, o: Outcome) -> None:
    for name in ("a", "b"):
        (root / name).mkdir()
        (root / name / "x.txt").write_text(f"Datei {name}: das Wetter in Berlin ist kalt und nass.")
    for _ in range(2):
        _index(root, env, o, root / "a" / "x.txt", root / "b" / "x.txt")
    o.good_expected, o.good_found = 2, len(stored_docs(root / "data"))


def case_collision_across_runs(root: Path, env, o: Outcome) -> None:
    for name in ("A", "B"):
        (root / name).mkdir()
        (root / name / "README.md").write_text(f"Projekt {name}: Anleitung zur Installation.")
    _index(root, env, o, root / "A")
    out = _index(root, env, o, root / "B")  # same id, another live file: refused, exit 3
    docs = stored_docs(root / "data")
    o.good_expected, o.good_found = 1, int(docs.get("README.md", "").startswith("Projekt A"))
    if "already belongs to" not in out:
        o.checks_failed.append("collision not reported")


def case_encodings(root: Path, env, o: Outcome) -> None:
    f = root / "f"
    f.mkdir()
    (f / "mixed.txt").write_bytes(
        "Grüße aus Köln und viele Grüße.\n".encode() + "Café crème et déjà vu à Paris.\n".encode("latin-1")
    )
    (f / "utf16.txt").write_bytes("Привет, мир! Как дела сегодня в Москве?".encode("utf-16-le"))
    _index(root, env, o, f)
    docs = stored_docs(root / "data")
    o.good_expected = 2
    o.good_found = int("crème" in docs.get("mixed.txt", "") and "Köln" in docs.get("mixed.txt", "")) + int(
        "Москве" in docs.get("utf16.txt", "")
    )


def case_legacy_zoo(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    (f / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    (f / "binary.txt").write_bytes(b"\x00\xff\x10" * 1000)
    (f / "empty.md").write_bytes(b"")
    (f / "broken-link.txt").symlink_to(f / "does-not-exist")
    (f / "invalid.jsonl").write_text('{"text": "ok"}\n{broken\n')
    (f / "no-text-column.csv").write_text("title,note\na,b\n")
    (f / "huge.txt").write_bytes(b"y" * (50 * 1024 * 1024))
    (f / "truncated.docx").write_bytes(bomb_docx(10)[:2000])
    _index(root, env, o, f)
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))


def case_missing_path(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    _index(root, env, o, f, root / "no-such-folder")
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))


def case_unlistable_folder(root: Path, env, o: Outcome) -> None:
    f = _good(root / "f")
    (f / "locked").mkdir()
    (f / "locked" / "secret.txt").write_text(GOOD)
    (f / "locked").chmod(0)
    try:
        if os.geteuid() == 0:
            o.skipped = "root lists every folder (run the probe as a normal user)"
            return
        out = _index(root, env, o, f)
        if "cannot list folder" not in out:
            o.checks_failed.append("unlistable folder not reported")
    finally:
        (f / "locked").chmod(0o755)
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))


def case_search_bad_options(root: Path, env, o: Outcome) -> None:
    _index(root, env, o, _good(root / "f"))
    for bad in ("nan", "inf", "1.5"):
        code, out, *_ = run(["search", "Katze", "--min-score", bad], env)
        o.exit_codes.append(code)
        o.traceback |= "Traceback" in out
        if code != 2:
            o.checks_failed.append(f"--min-score {bad}: exit {code}")
    code, out, *_ = run(["search", "Katze", "--lang", "xx"], env)
    if code != 0 or "no passage has language xx" not in out:
        o.checks_failed.append("--lang xx not explained")
    o.good_expected, o.good_found = 1, len(stored_docs(root / "data"))


def case_ctrl_c_model_load(root: Path, env, o: Outcome) -> None:
    model_file = "model.safetensors"

    def loading(pid: int) -> bool:  # the weights are mapped: the model is being loaded
        try:
            return model_file in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return False

    code, out, secs, rss = run(["index", str(_good(root / "f"))], env, interrupt_when=loading)
    o.exit_codes.append(code)
    o.seconds, o.max_rss_mb = secs, rss
    o.traceback |= "Traceback" in out
    if "interrupted" not in out:
        o.checks_failed.append(f"no message on Ctrl-C: {out[-200:]!r}")


CASES: list[tuple[str, str, int, Callable[[Path, dict[str, str], Outcome], None]]] = [
    ("fifo", "a FIFO next to a good file", 0, case_fifo),
    ("dev_zero", "symlinks to /dev/zero and /dev/urandom", 0, case_dev_zero),
    ("docx_bomb", "80 KB .docx holding 30 MB of <w:p/> (and the same bytes as .bin)", 3, case_docx_bomb),
    ("html_bomb", "24 MB HTML of 8M open tags", 3, case_html_bomb),
    ("markup_names", "file names with Rich markup and ANSI escapes", 3, case_markup_names),
    ("colliding_roots", "index A B (both hold README.md), three times", 0, case_colliding_roots),
    ("colliding_files", "index a/x.txt b/x.txt, twice", 0, case_colliding_files),
    ("collision_across_runs", "index A, then index B (same README.md id)", 3, case_collision_across_runs),
    ("encodings", "UTF-8 mixed with latin-1 lines; UTF-16 without BOM", 0, case_encodings),
    (
        "legacy_zoo",
        "corrupt PDF, binary, empty, broken symlink, bad jsonl, no text column, 50 MB, truncated docx",
        3,
        case_legacy_zoo,
    ),
    ("missing_path", "a path that does not exist next to a good one", 3, case_missing_path),
    ("unlistable_folder", "a subfolder without read permission", 3, case_unlistable_folder),
    ("search_bad_options", "search --min-score nan/inf/1.5, --lang xx", 2, case_search_bad_options),
    ("ctrl_c_model_load", "SIGINT while the model loads", 130, case_ctrl_c_model_load),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument(
        "--code",
        type=Path,
        default=REPO,
        help="Run the CLI from this checkout (e.g. an older commit, for before/after).",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    outcomes: list[Outcome] = []
    skipped: list[dict[str, str]] = []
    for name, what, expected, body in CASES:
        if (args.only and name not in args.only) or name in args.skip:
            continue
        with tempfile.TemporaryDirectory(prefix=f"probe-{name}-") as tmp:
            root = Path(tmp)
            env = {
                **os.environ,
                "ROSETTA_DATA_DIR": str(root / "data"),
                "ROSETTA_COLLECTION": "probe",
                "COLUMNS": "300",
                "PYTHONPATH": str(args.code),
            }
            outcome = Outcome(name, what, expected_exit=expected)
            body(root, env, outcome)
        if outcome.skipped:
            print(f"skip {name:24s} {outcome.skipped}", flush=True)
            skipped.append({"name": name, "why": outcome.skipped})
            continue
        outcomes.append(outcome)
        print(
            f"{'ok  ' if outcome.clean else 'FAIL'} {name:24s} exit {outcome.exit_codes} "
            f"(want {expected}) {outcome.seconds:6.1f} s {outcome.max_rss_mb:7.0f} MB "
            f"lost {outcome.data_lost} {'; '.join(outcome.checks_failed)}",
            flush=True,
        )
    clean = sum(o.clean for o in outcomes)
    lost = sum(o.data_lost for o in outcomes)
    print(f"\n{len(outcomes)} cases: {clean} handled cleanly, {lost} good documents lost")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "code": str(args.code),
                "cases": len(outcomes),
                "handled_cleanly": clean,
                "good_documents_lost": lost,
                "skipped": skipped,
                "outcomes": [{**asdict(o), "clean": o.clean, "data_lost": o.data_lost} for o in outcomes],
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu_flags": isa_flags(),
                    "python": platform.python_version(),
                    "note": "2 CPU cores shared with other jobs; seconds include model loading",
                },
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
