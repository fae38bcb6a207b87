"""Subcommands contributed by the app layer (registered on the root `rosetta` CLI):
`rosetta search`, `rosetta ui` and `rosetta demo`."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rosetta.cli_common import console, err, fail, get_settings, load_encoder, show

if TYPE_CHECKING:  # heavy imports happen inside the commands, not at CLI start-up
    from app.search import SearchResult
    from rosetta.settings import Settings
    from rosetta.store import VectorStore

APP_DIR = Path(__file__).resolve().parent
STREAMLIT_APP = APP_DIR / "streamlit_app.py"
SAMPLE_CORPUS = APP_DIR / "sample_corpus"
DEMO_COLLECTION = "demo"
DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"
# The UI's address options, shared by `rosetta ui` and `rosetta demo`.
PortOption = Annotated[int, typer.Option(help="Port to serve on.")]
HostOption = Annotated[
    str,
    typer.Option(
        help="Address to bind. The default serves this machine only; "
        "0.0.0.0 serves every interface (the UI has no login)."
    ),
]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    """Add this layer's subcommands to the root CLI."""
    app.command("search")(search_command)
    app.command("ui")(ui_command)
    app.command("demo")(demo_command)


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    collection: Annotated[str | None, typer.Option(help="Collection (default: settings).")] = None,
    limit: Annotated[int, typer.Option(help="Results to show.", min=1, max=1000)] = 10,
    offset: Annotated[int, typer.Option(help="Skip this many results (pagination).", min=0)] = 0,
    lang: Annotated[str | None, typer.Option(help="Only these languages, comma-separated (de,fr).")] = None,
    exclude_lang: Annotated[
        str | None, typer.Option(help="Leave out these languages (comma-separated).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only sources starting with this prefix.")] = None,
    doc_id: Annotated[list[str] | None, typer.Option(help="Only this document (repeatable).")] = None,
    min_score: Annotated[float | None, typer.Option(help="Cosine similarity floor.")] = None,
    hybrid: Annotated[bool, typer.Option(help="Fuse semantic and keyword rankings (RRF).")] = False,
    group: Annotated[bool, typer.Option(help="One result per document (--no-group: every passage).")] = True,
    ranking: Annotated[
        str,
        typer.Option(
            help="neutral (best matches in any language), prefer-language (lift the query's language), "
            "per-language (the best match in each language)."
        ),
    ] = "neutral",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Search the index across languages; print a ranked table (or --json)."""
    from app.search import RANKINGS, Searcher, SearchError, SearchRequest
    from rosetta.store import StoreError, open_store

    if ranking not in RANKINGS:
        raise fail(f"--ranking {ranking!r}: choose one of {', '.join(RANKINGS)}")
    settings = get_settings()
    name = collection or settings.collection
    if min_score is not None and not -1.0 <= min_score <= 1.0:  # also refuses nan
        raise fail(f"--min-score must be a cosine similarity between -1 and 1, not {min_score}")
    request = SearchRequest(
        query=query,
        limit=limit,
        offset=offset,
        langs=_split(lang),
        exclude_langs=_split(exclude_lang),
        source_prefix=source,
        doc_ids=doc_id or (),
        min_score=min_score,
        hybrid=hybrid,
        group_by_doc=group,
        ranking=ranking,
    )
    try:
        store = open_store(settings)
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        if not store.exists(name) or store.count(name) == 0:
            hint = (
                f"; the demo corpus is in --collection {DEMO_COLLECTION}"
                if name != DEMO_COLLECTION and store.exists(DEMO_COLLECTION)
                else ""
            )
            raise fail(
                f"collection '{name}' is empty or missing; index documents first "
                f"(rosetta index PATH, or rosetta demo){hint}"
            )
        _note_absent_languages(store, name, [*request.langs, *request.exclude_langs])
        encoder = load_encoder(settings, queries=True)
        result = Searcher(encoder, store, name).search(request)
    except (SearchError, StoreError) as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
    show(json_out, result.to_json(), lambda: _print_result(result))


def _note_absent_languages(store: VectorStore, collection: str, langs: list[str]) -> None:
    """A mistyped language code silently filters everything out: say which codes no passage has."""
    if not langs:
        return
    from rosetta.safe_text import for_console

    present = store.facet(collection, "lang", limit=1000)
    absent = [code for code in langs if code not in present]
    if absent:
        err.print(
            f"[yellow]note:[/] no passage has language {for_console(', '.join(absent))} "
            f"(this collection has: {for_console(', '.join(sorted(present)))})",
            highlight=False,
        )


def _print_result(result: SearchResult) -> None:
    from rosetta.safe_text import for_console

    console.print(
        f"query language [bold]{result.query_lang}[/] · {len(result.hits)} results · "
        f"ranking {result.ranking} · encode {result.encode_ms:.0f} ms · "
        f"search {result.search_ms:.0f} ms",
        highlight=False,
    )
    if not result.language_neutral:
        console.print(
            "[dim]this collection was indexed without language-neutral vectors: results "
            "lean towards the query's language (rosetta index --recreate fixes that)[/]",
            highlight=False,
        )
    if not result.hits:
        console.print("[yellow]no passages matched[/] (try fewer filters or other words)")
        return
    table = Table(show_lines=True)
    for col, kw in (
        ("#", {"justify": "right"}),
        ("score", {"justify": "right"}),
        ("lang", {}),
        ("title / source", {"max_width": 36}),
        ("passage", {"ratio": 1}),
    ):
        table.add_column(col, **kw)
    for h in result.hits:
        p = h.passage
        text = " ".join(p.text.split())
        text = text if len(text) <= 300 else text[:299] + "…"
        more = f"\n[dim]+{h.more_count} more passages[/]" if h.more_count else ""
        # Document strings are data, not Rich markup nor terminal control sequences.
        table.add_row(
            str(h.rank),
            f"{p.score:.3f}",
            for_console(p.lang),
            f"[bold]{for_console(p.title)}[/]\n[dim]{for_console(p.source)}[/]{more}",
            for_console(text),
        )
    console.print(table)


def _check_store_free(settings: Settings) -> None:
    """The embedded store allows one process: fail now, clearly, rather than inside the web page."""
    if settings.qdrant_url:
        return
    from rosetta.store import StoreError, open_embedded

    try:
        open_embedded(Path(settings.data_dir)).close()
    except StoreError as exc:
        raise fail(str(exc)) from None


def launch_ui(settings: Settings, port: int, host: str, collection: str | None) -> None:
    """Replace this process with the Streamlit server (it never returns).

    exec rather than a child process: signals (Ctrl+C, `docker stop`, a test killing the
    process) reach the server directly, and no orphaned server keeps the port and the store.
    """
    env = dict(os.environ)
    # The app reads its settings from the environment, like every other entry point.
    env["ROSETTA_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    if settings.cache_dir is not None:
        env["ROSETTA_CACHE_DIR"] = str(Path(settings.cache_dir).resolve())
    if collection:
        env["ROSETTA_COLLECTION"] = collection
    command = [
        # app.server warms the model and the store up at start, then runs `streamlit run`.
        sys.executable,
        "-m",
        "app.server",
        str(STREAMLIT_APP),
        "--server.port",
        str(port),
        "--server.headless",
        "true",  # no browser launch attempt, no e-mail prompt
        "--browser.gatherUsageStats",
        "false",  # offline: never phone home
        "--server.maxUploadSize",
        str(settings.upload_max_mb),
        "--server.fileWatcherType",
        "none",  # installed code does not change under a server
        "--theme.base",
        "light",
        "--client.toolbarMode",
        "viewer",  # no "Deploy" button: this app is already deployed
    ]
    command += ["--server.address", host]
    from rosetta.safe_text import for_console

    err.print(
        f"[green]Rosetta UI[/] on http://{for_console(host)}:{port}  (collection "
        f"{for_console(collection or settings.collection)}; Ctrl+C stops)",
        highlight=False,
    )
    if host in LOOPBACK:
        err.print(
            "Only this machine can reach it. To share it, pass --host 0.0.0.0 behind a proxy "
            "that asks for a login (the UI has none): see docs/deployment.md.",
            highlight=False,
        )
    else:
        err.print(
            f"[yellow]Listening on {for_console(host)}: anyone who can reach this port can search, "
            "upload and read the indexed documents — the UI has no login.[/] Put it behind an "
            "authenticating proxy (docs/deployment.md).",
            highlight=False,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)


def ui_command(
    port: PortOption = DEFAULT_PORT,
    host: HostOption = DEFAULT_HOST,
    collection: Annotated[str | None, typer.Option(help="Collection to open (default: settings).")] = None,
) -> None:
    """Start the web UI (search, ingest, explore)."""

    settings = get_settings()
    _check_store_free(settings)
    launch_ui(settings, port, host, collection)


def demo_command(
    port: PortOption = DEFAULT_PORT,
    host: HostOption = DEFAULT_HOST,
    collection: Annotated[str, typer.Option(help="Collection for the sample corpus.")] = DEMO_COLLECTION,
    reindex: Annotated[bool, typer.Option(help="Re-check the sample corpus even if indexed.")] = False,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Only index; do not start the UI.")] = False,
) -> None:
    """Index the bundled sample corpus (12 languages) into its own collection, then start the UI on it."""

    settings = get_settings()
    _check_store_free(settings)
    index_sample_corpus(settings, collection, reindex=reindex)
    if not no_ui:
        launch_ui(settings, port, host, collection)


def index_sample_corpus(settings: Settings, collection: str, *, reindex: bool = False) -> int:
    """Index app/sample_corpus into `collection` unless it already holds it; returns its point count."""
    from indexer.pipeline import Index
    from indexer.report import IngestProgress
    from rosetta.progress import make_progress
    from rosetta.store import StoreError, open_store

    if not SAMPLE_CORPUS.is_dir():
        raise fail(f"the sample corpus is missing ({SAMPLE_CORPUS}); reinstall rosetta")
    try:
        with open_store(settings) as store:
            points = store.count(collection) if store.exists(collection) else 0
    except StoreError as exc:
        raise fail(str(exc)) from None
    if points and not reindex:
        console.print(f"demo collection [bold]{collection}[/] ready ({points} passages)", highlight=False)
        return points
    encoder = load_encoder(settings)
    try:
        with Index.open(settings, encoder=encoder, collection=collection) as index, make_progress() as bar:
            task = bar.add_task("sample corpus", total=None, unit="passages")

            def on_progress(p: IngestProgress) -> None:
                bar.update(task, total=max(p.chunks_queued, 1), completed=p.chunks_done)

            # Sources read "sample_corpus/de/…" rather than this machine's install path: the indexer
            # records paths as given, so give it one relative to the app folder (store already open).
            # The corpus README describes the corpus; it is not one of its documents.
            with contextlib.chdir(APP_DIR):
                report = index.add([SAMPLE_CORPUS.name], exclude=("README.md",), progress=on_progress)
            points = index.store.count(collection)
    except StoreError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"indexed the sample corpus: {report.files_indexed} files, {report.chunks_added} "
        f"passages in {report.seconds:.0f} s → collection [bold]{collection}[/]",
        highlight=False,
    )
    for issue in report.files_failed:
        console.print(f"[red]failed[/] {issue.path}: {issue.error}", highlight=False)
    return points
