"""Ingest page: upload files (tables with a column picker), or index a folder on the server when
enabled; a progress bar that moves per file and per batch, and a per-file report."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import pandas as pd
import streamlit as st

from app import ui_common as ui
from indexer.pipeline import AddOptions, Index, Upload
from indexer.readers import (
    KNOWN_EXTS,
    ReadError,
    guess_text_column,
    guess_title_column,
    read_table_frame,
)
from indexer.report import IngestProgress, IngestReport
from rosetta.store import StoreError, collection_options

ALLOWED = sorted(ext.lstrip(".") for ext in KNOWN_EXTS)
TABLE_EXTS = {".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet"}
PREVIEW_ROWS = 5
NONE = "(none)"


def check_upload(name: str, size: int, max_mb: int) -> str | None:
    """Why an upload is refused, or None. The browser widget checks too, but a client can lie."""
    if PurePath(name).suffix.lower() not in KNOWN_EXTS:
        return f"type not allowed (allowed: {', '.join(ALLOWED)})"
    if size > max_mb * 1024 * 1024:
        return f"too large ({size / 1024 / 1024:.1f} MB > {max_mb} MB limit)"
    return None


@dataclass
class Job:
    """One `Index.add` call: files that share read options (each table has its own columns)."""

    items: list[str | Upload]
    options: AddOptions = field(default_factory=AddOptions)


def merge(total: IngestReport, part: IngestReport) -> None:
    for name in (
        "files_seen",
        "files_indexed",
        "files_unchanged",
        "files_skipped",
        "chunks_added",
        "chunks_deleted",
        "seconds",
        "documents_added",
        "documents_pruned",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.files_failed += part.files_failed
    total.skipped += part.skipped
    total.notes += part.notes


def run_ingest(jobs: list[Job], refused: list[tuple[str, str]], replace: bool = False) -> None:
    cfg = ui.settings()
    store = ui.store_or_stop(cfg)
    encoder = ui.guarded(lambda: ui.get_encoder(cfg))
    files_total = sum(len(j.items) for j in jobs)
    bar = st.progress(0.0, text=f"Reading 0/{files_total} files…")
    done_before = 0

    def on_progress(p: IngestProgress) -> None:
        # Files are read (and their passages counted) before embedding: weigh both, per batch.
        read = done_before + p.files_read
        files = read / files_total if files_total else 1.0
        chunks = p.chunks_done / p.chunks_queued if p.chunks_queued else 0.0
        bar.progress(
            min(1.0, 0.3 * files + 0.7 * chunks * (read / max(files_total, 1))),
            text=f"{read}/{files_total} files read · {p.chunks_done}/{p.chunks_queued} passages "
            f"embedded" + (f" · {p.current}" if p.current else ""),
        )

    report = IngestReport()
    # Keep the store for the whole ingest: an idle release between two writes would let another
    # process take it half-way.
    hold = store.hold() if hasattr(store, "hold") else contextlib.nullcontext(store)
    try:
        with hold as held:
            index = Index(
                held, encoder, collection, batch_size=cfg.batch_size, options=collection_options(cfg)
            )
            for job in jobs:
                options = dataclasses.replace(job.options, replace=replace)
                merge(report, index.add(job.items, options=options, progress=on_progress))
                done_before += len(job.items)
    except StoreError as exc:
        bar.empty()
        st.error(ui.md_escape(str(exc)), icon=":material/error:")
        return
    bar.progress(1.0, text=f"Done in {report.seconds:.1f} s")
    given = [i.name if isinstance(i, Upload) else str(i) for j in jobs for i in j.items]
    st.session_state["ingest_report"] = (report, refused, given)


def show_report(report: IngestReport, refused: list[tuple[str, str]], given: list[str]) -> None:
    failed = len(report.files_failed) + len(refused)
    cols = st.columns(4)
    cols[0].metric("Files indexed", report.files_indexed)
    cols[1].metric("Unchanged", report.files_unchanged)
    cols[2].metric("Skipped", report.files_skipped)
    cols[3].metric("Failed", failed)
    st.caption(
        f"{report.chunks_added} passages added, {report.chunks_deleted} replaced or removed, "
        f"{report.seconds:.1f} s"
    )
    rows = [{"file": name, "status": "refused", "reason": why} for name, why in refused]
    rows += [
        {"file": f.path.removeprefix("upload:"), "status": "failed", "reason": f.error}
        for f in report.files_failed
    ]
    rows += [
        {"file": f.path.removeprefix("upload:"), "status": "skipped", "reason": f.error}
        for f in report.skipped
    ]
    noted = {r["file"] for r in rows}
    notes = {f.path.removeprefix("upload:"): f.error for f in report.notes}
    # Uploads are listed one by one; a folder's indexed files are only counted by the indexer.
    rows += [
        {"file": n, "status": "indexed or unchanged", "reason": notes.get(n, "")}
        for n in given
        if n not in noted and not Path(n).is_dir()
    ]
    if failed:
        st.error(f"{failed} file(s) could not be indexed — see the reasons below.", icon=":material/error:")
    elif report.files_indexed:
        st.success("Indexed. Go to **Search** to query the new documents.", icon=":material/check_circle:")
    elif report.files_unchanged:
        st.info(
            f"Nothing new: {report.files_unchanged} file(s) were already indexed, unchanged.",
            icon=":material/done_all:",
        )
    if rows:
        # A table, not a grid: long reasons wrap instead of being cut off.
        st.table(pd.DataFrame(rows).set_index("file"))


def table_setup(name: str, data: bytes, key: str) -> AddOptions | str:
    """Column picker with a preview for one uploaded table: its read options, or why it cannot go in."""
    try:
        frame = read_table_frame(name, data)
    except ReadError as exc:
        return str(exc)
    columns = list(frame.columns)
    if not columns:
        return "the table has no columns"
    label = f"Table **{ui.md_escape(name)}**: {len(frame):,} rows · choose its columns"
    with st.expander(label, expanded=True):
        st.dataframe(frame.head(PREVIEW_ROWS), hide_index=True, width="stretch")
        c = st.columns(3)
        guess = guess_text_column(columns)
        text_col = c[0].selectbox(
            "Text column",
            columns,
            index=columns.index(guess) if guess else None,
            key=f"{key}-text",
            placeholder="choose the column to search",
            help="The passages come from this column.",
        )
        id_col = c[1].selectbox(
            "Id column",
            [NONE, *columns],
            key=f"{key}-id",
            help="Stable row ids make re-uploads replace rows instead of adding them.",
        )
        title_guess = guess_title_column(columns, exclude=(text_col,))
        title_options = [NONE, *columns]
        title_col = c[2].selectbox(
            "Title column",
            title_options,
            key=f"{key}-title",
            index=title_options.index(title_guess) if title_guess else 0,
        )
        rest = [col for col in columns if col not in (text_col, id_col, title_col)]
        meta = st.multiselect(
            "Metadata columns (filterable in Search)", rest, default=rest, key=f"{key}-meta"
        )
    if text_col is None:
        return f"choose the text column of {name}"
    return AddOptions(
        text_column=text_col,
        id_column=None if id_col == NONE else id_col,
        title_column=None if title_col == NONE else title_col,
        metadata_columns=tuple(meta),
    )


cfg = ui.settings()
store = ui.store_or_stop(cfg)
collection = ui.choose_collection(store, cfg)
st.title("Ingest")
header = st.empty()  # filled at the end, so the count includes what this run added

# The widget itself lists the allowed types and the size limit.
files = st.file_uploader(
    "Documents to index (text, Markdown, HTML, PDF, Word, tables)",
    type=ALLOWED,
    accept_multiple_files=True,
    max_upload_size=cfg.upload_max_mb,
    key="uploads",
)
jobs: list[Job] = []
refused: list[tuple[str, str]] = []
blocked: list[str] = []
plain: list[str | Upload] = []
for i, f in enumerate(files or []):
    why = check_upload(f.name, f.size, cfg.upload_max_mb)
    if why:
        refused.append((f.name, why))
    elif PurePath(f.name).suffix.lower() in TABLE_EXTS:
        setup = table_setup(f.name, f.getvalue(), f"table-{i}-{f.name}")
        if isinstance(setup, str):
            blocked.append(setup)
        else:
            jobs.append(Job([Upload(f.name, f.getvalue())], setup))
    else:
        plain.append(Upload(f.name, f.getvalue()))
if plain:
    jobs.insert(0, Job(plain))
for why in blocked:
    st.warning(ui.md_escape(why), icon=":material/table_chart:")
# Uploads have ids of their own ("upload:NAME"); only table rows with an id column can meet
# ids that other files hold, and those are refused unless this is ticked.
replace = st.checkbox(
    "Replace documents that other files already hold under the same id (--replace)",
    value=False,
    key="replace",
)
count = sum(len(j.items) for j in jobs)
if st.button(
    f"Index {count} file{'s' if count != 1 else ''}" if files else "Index uploaded files",
    type="primary",
    disabled=bool(blocked),
    key="index-uploads",
):
    if not files:
        st.warning("Choose one or more files first.", icon=":material/description:")
    else:
        run_ingest(jobs, refused, replace)

st.subheader("Folder on the server")
if cfg.allow_server_paths:
    folder = st.text_input("Folder or file path on the server", key="server_path")
    if st.button("Index folder", disabled=not folder):
        path = Path(folder).expanduser()
        if not path.exists():
            st.error(f"No such file or folder on the server: {ui.md_escape(folder)}", icon=":material/error:")
        else:
            run_ingest([Job([str(path)])], [])
else:
    st.caption(
        "Reading server folders is off. An administrator can enable it with "
        "`ROSETTA_ALLOW_SERVER_PATHS=true` (it lets anyone with the UI read files the server can)."
    )

if "ingest_report" in st.session_state:
    st.subheader("Last run")
    show_report(*st.session_state["ingest_report"])

header.caption(
    f"Add documents to **{ui.md_escape(collection)}** "
    f"({ui.collection_count(store, collection):,} passages now). "
    "Documents in any language; each passage's language is detected."
)
