"""Ingest page: upload files (or, when enabled, index a folder on the server) with a progress bar."""

from __future__ import annotations

import contextlib
from pathlib import Path, PurePath

import pandas as pd
import streamlit as st

from app import ui_common as ui
from indexer.pipeline import Index, Upload
from indexer.readers import KNOWN_EXTS
from indexer.report import IngestProgress, IngestReport
from indexer.store import StoreError, collection_options

ALLOWED = sorted(ext.lstrip(".") for ext in KNOWN_EXTS)


def check_upload(name: str, size: int, max_mb: int) -> str | None:
    """Why an upload is refused, or None. The browser widget checks too, but a client can lie."""
    if PurePath(name).suffix.lower() not in KNOWN_EXTS:
        return f"type not allowed (allowed: {', '.join(ALLOWED)})"
    if size > max_mb * 1024 * 1024:
        return f"too large ({size / 1024 / 1024:.1f} MB > {max_mb} MB limit)"
    return None


def run_ingest(items: list[str | Upload], refused: list[tuple[str, str]], replace: bool = False) -> None:
    cfg = ui.settings()
    store = ui.store_or_stop(cfg)
    encoder = ui.guarded(lambda: ui.get_encoder(cfg))
    bar = st.progress(0.0, text="Reading files…")

    def on_progress(p: IngestProgress) -> None:
        # Chunks are only known once files are read, so weigh files read and chunks embedded.
        files = p.files_done / p.files_total if p.files_total else 1.0
        chunks = p.chunks_done / p.chunks_queued if p.chunks_queued else 0.0
        bar.progress(min(1.0, 0.3 * files + 0.7 * chunks),
                     text=f"{p.files_done}/{p.files_total} files · {p.chunks_done}/{p.chunks_queued} "
                          f"passages embedded" + (f" · {p.current}" if p.current else ""))

    # Keep the store for the whole ingest: an idle release between two writes would let another
    # process take it half-way.
    hold = store.hold() if hasattr(store, "hold") else contextlib.nullcontext(store)
    try:
        with hold as held:
            index = Index(held, encoder, collection, batch_size=cfg.batch_size,
                          options=collection_options(cfg))
            report = index.add(items, progress=on_progress, replace=replace) if items else IngestReport()
    except StoreError as exc:
        bar.empty()
        st.error(str(exc), icon=":material/error:")
        return
    bar.progress(1.0, text=f"Done in {report.seconds:.1f} s")
    st.session_state["ingest_report"] = (report, refused, [i.name if isinstance(i, Upload) else str(i)
                                                           for i in items])


def show_report(report: IngestReport, refused: list[tuple[str, str]], given: list[str]) -> None:
    failed = len(report.files_failed) + len(refused)
    cols = st.columns(4)
    cols[0].metric("Files indexed", report.files_indexed)
    cols[1].metric("Unchanged", report.files_unchanged)
    cols[2].metric("Skipped", report.files_skipped)
    cols[3].metric("Failed", failed)
    st.caption(f"{report.chunks_added} passages added, {report.chunks_deleted} replaced or removed, "
               f"{report.seconds:.1f} s")
    rows = [{"file": name, "status": "refused", "reason": why} for name, why in refused]
    rows += [{"file": f.path.removeprefix("upload:"), "status": "failed", "reason": f.error}
             for f in report.files_failed]
    rows += [{"file": f.path.removeprefix("upload:"), "status": "skipped", "reason": f.error}
             for f in report.skipped]
    # Uploads are listed one by one; a folder's indexed files are only counted by the indexer.
    noted = {r["file"] for r in rows}
    rows += [{"file": n, "status": "indexed or unchanged", "reason": ""} for n in given
             if n not in noted and not Path(n).is_dir()]
    if failed:
        st.error(f"{failed} file(s) could not be indexed — see the reasons below.", icon=":material/error:")
    elif report.files_indexed or report.files_unchanged:
        st.success("Indexed. Go to **Search** to query the new documents.", icon=":material/check_circle:")
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


cfg = ui.settings()
store = ui.store_or_stop(cfg)
collection = ui.choose_collection(store, cfg)
st.title("Ingest")
st.caption(f"Add documents to **{collection}** ({ui.collection_count(store, collection):,} passages now). "
           "Documents in any language; each passage's language is detected.")

with st.form("upload", clear_on_submit=True):
    # The widget itself lists the allowed types and the size limit.
    files = st.file_uploader("Documents to index (text, Markdown, HTML, PDF, Word, tables)",
                             type=ALLOWED, accept_multiple_files=True, max_upload_size=cfg.upload_max_mb)
    # Uploads have ids of their own ("upload:NAME"); only table rows with an id column can meet
    # ids that other files hold, and those are refused unless this is ticked.
    replace = st.checkbox("Replace documents that other files already hold under the same id (--replace)",
                          value=False)
    submitted = st.form_submit_button("Index uploaded files", type="primary")
if submitted:
    if not files:
        st.warning("Choose one or more files first.", icon=":material/description:")
    else:
        uploads: list[str | Upload] = []
        refused: list[tuple[str, str]] = []
        for f in files:
            why = check_upload(f.name, f.size, cfg.upload_max_mb)
            if why:
                refused.append((f.name, why))
            else:
                uploads.append(Upload(f.name, f.getvalue()))
        run_ingest(uploads, refused, replace)

st.subheader("Folder on the server")
if cfg.allow_server_paths:
    folder = st.text_input("Folder or file path on the server", key="server_path")
    if st.button("Index folder", disabled=not folder):
        path = Path(folder).expanduser()
        if not path.exists():
            st.error(f"No such file or folder on the server: {folder}", icon=":material/error:")
        else:
            run_ingest([str(path)], [])
else:
    st.caption("Reading server folders is off. An administrator can enable it with "
               "`ROSETTA_ALLOW_SERVER_PATHS=true` (it lets anyone with the UI read files the server can).")

if "ingest_report" in st.session_state:
    st.subheader("Last run")
    show_report(*st.session_state["ingest_report"])
