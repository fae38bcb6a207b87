"""Subcommands contributed by the indexer layer (registered on the root `rosetta` CLI):
`rosetta index`, `rosetta stats` and `rosetta store migrate`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rosetta.cli_common import console, fail, get_settings, load_encoder, show

if TYPE_CHECKING:  # the heavy imports happen inside the commands, not at CLI start-up
    from indexer.pipeline import AddOptions, Index, Upload
    from indexer.report import IngestReport

# Exit code when the run finished but some files could not be ingested (2 = usage/store errors).
EXIT_SOME_FAILED = 3


def register(app: typer.Typer) -> None:
    """Add this layer's subcommands to the root CLI."""
    app.command("index")(index_command)
    app.command("stats")(stats_command)
    store_app = typer.Typer(
        help="The embedded store: migrate a data folder of an earlier version.", no_args_is_help=True
    )
    store_app.command("migrate")(migrate_command)
    app.add_typer(store_app, name="store")


def index_command(
    paths: Annotated[
        list[str],
        typer.Argument(help="Files or folders to index (recursive); '-' reads one document from stdin."),
    ],
    collection: Annotated[str | None, typer.Option(help="Collection (default: settings).")] = None,
    recreate: Annotated[bool, typer.Option(help="Delete and rebuild the collection first.")] = False,
    prune: Annotated[
        bool,
        typer.Option(
            help="Delete documents whose files were not found under PATHS (the collection mirrors PATHS)."
        ),
    ] = False,
    include: Annotated[
        list[str] | None, typer.Option(help="Only files matching this glob, .gitignore syntax (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Skip files matching this glob, .gitignore syntax (repeatable).")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Tables: the column holding the text (default: text/content/body).")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Tables: the column holding document ids (default: file#row).")
    ] = None,
    index_field: Annotated[
        list[str] | None, typer.Option(help="Metadata field to index for filtering (repeatable).")
    ] = None,
    chunk_tokens: Annotated[
        int, typer.Option(help="Chunk size in model tokens (capped by the model's max_seq_length).", min=16)
    ] = 256,
    overlap: Annotated[int, typer.Option(help="Tokens shared by consecutive chunks.", min=0)] = 32,
    max_file_mb: Annotated[
        float, typer.Option(help="Refuse files larger than this (bytes read).", min=0.001)
    ] = 25.0,
    replace: Annotated[
        bool,
        typer.Option(
            help="Let a file take over a document id that another existing file (or an upload) holds."
        ),
    ] = False,
    stdin_name: Annotated[
        str, typer.Option(help="Document id (and format, by extension) of '-'.")
    ] = "stdin.txt",
    model: Annotated[str | None, typer.Option(help="Model name or folder (default: settings).")] = None,
    language_neutral: Annotated[
        bool | None,
        typer.Option(
            help="A new collection: remove the model's language vectors, so that search ranks by content "
            "across languages (default: ROSETTA_LANGUAGE_NEUTRAL). An existing one keeps its own."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Index documents in any language into the vector store (incremental: unchanged files are skipped)."""
    from indexer.chunking import ChunkConfig
    from indexer.pipeline import AddOptions, Index, Upload
    from rosetta.store import StoreError

    settings = get_settings()
    if language_neutral is not None:
        settings = settings.model_copy(update={"language_neutral": language_neutral})
    encoder = load_encoder(settings, model)
    options = AddOptions(
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        text_column=text_column,
        id_column=id_column,
        prune=prune,
        max_file_mb=max_file_mb,
        replace=replace,
    )
    items: list[str | Upload] = []
    for p in paths:
        if p == "-":
            import sys

            items.append(Upload(stdin_name, sys.stdin.buffer.read(), namespace="", origin="stdin"))
        else:
            items.append(p)
    try:
        index = Index.open(
            settings,
            encoder=encoder,
            collection=collection,
            recreate=recreate,
            index_fields=tuple(index_field or ()),
            chunk=ChunkConfig(chunk_tokens, overlap),
        )
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        report = _run_with_progress(index, items, options)
    except StoreError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; run the same command again to finish (nothing is duplicated)", 130) from None
    finally:
        index.close()
    show(json_out, report.to_dict(), lambda: _print_report(report))
    if report.files_failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _run_with_progress(index: Index, items: list[str | Upload], options: AddOptions) -> IngestReport:
    from indexer.pipeline import OPTIMIZING
    from indexer.report import IngestProgress
    from rosetta.progress import make_progress

    with make_progress(transient=False) as bar:
        files_task = bar.add_task("files", total=None, unit="files")
        chunks_task = bar.add_task("chunks", total=None, unit="chunks")

        def on_progress(p: IngestProgress) -> None:
            bar.update(files_task, total=p.files_total, completed=p.files_done)
            bar.update(
                chunks_task,
                total=max(p.chunks_queued, 1),
                completed=p.chunks_done,
                description=OPTIMIZING if p.current == OPTIMIZING else "chunks",
            )

        return index.add(items, options=options, progress=on_progress)


def _print_report(report: IngestReport) -> None:
    from rosetta.safe_text import for_console

    table = Table(title="Ingest report", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for label, value in (
        ("files seen", report.files_seen),
        ("indexed", report.files_indexed),
        ("unchanged", report.files_unchanged),
        ("skipped", report.files_skipped),
        ("failed", len(report.files_failed)),
        ("chunks added", report.chunks_added),
        ("chunks deleted", report.chunks_deleted),
        ("documents pruned", report.documents_pruned),
        ("seconds", f"{report.seconds:.1f}"),
        ("chunks/s", f"{report.chunks_per_second:.1f}"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for issue in report.skipped:
        console.print(
            f"[yellow]skipped[/] {for_console(issue.path)}: {for_console(issue.error)}", highlight=False
        )
    for issue in report.files_failed:
        console.print(
            f"[red]failed[/] {for_console(issue.path)}: {for_console(issue.error)}", highlight=False
        )


def stats_command(
    collection: Annotated[str | None, typer.Option(help="Collection (default: settings).")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Points, documents, chunks per language and the model of a collection."""
    from indexer.pipeline import collection_stats
    from rosetta.models import ModelIdentity
    from rosetta.safe_text import for_console
    from rosetta.store import StoreError, open_store

    settings = get_settings()
    name = collection or settings.collection
    try:
        with open_store(settings) as store:
            stats = collection_stats(store, name)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if json_out:
        typer.echo(json.dumps(stats.to_dict(), ensure_ascii=False))
        return
    model = ModelIdentity.from_dict(stats.model).describe() if stats.model else "unknown"
    console.print(
        f"collection [bold]{for_console(name)}[/] · {stats.points} points · "
        f"{stats.documents} documents · model {for_console(model)}",
        highlight=False,
    )
    table = Table(title="chunks per language")
    table.add_column("lang")
    table.add_column("chunks", justify="right")
    for lang, count in stats.languages.items():
        table.add_row(for_console(lang), str(count))
    console.print(table)


def migrate_command(
    remove_old: Annotated[
        bool,
        typer.Option(
            help="Delete the old store once every collection is copied (default: keep it, renamed)."
        ),
    ] = False,
) -> None:
    """Copy the collections of the previous embedded store (qdrant-client local mode) into the new
    engine: vectors and payloads as they are, nothing re-encoded."""
    from rosetta.progress import make_progress
    from rosetta.store import StoreError
    from rosetta.store.migrate import migrate_legacy

    settings = get_settings()
    tasks: dict[str, object] = {}
    try:
        with make_progress(transient=False) as bar:

            def on_progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=max(total, 1), unit="points")
                bar.update(tasks[name], completed=done)  # type: ignore[arg-type]

            report = migrate_legacy(settings.data_dir, progress=on_progress, keep_old=not remove_old)
    except StoreError as exc:
        raise fail(str(exc)) from None
    for c in report.collections:
        if c.skipped:
            console.print(
                f"[yellow]not copied[/] {c.name}: {c.skipped} (it stays in the old store)", highlight=False
            )
        else:
            console.print(f"copied [bold]{c.name}[/]: {c.points} points", highlight=False)
    if report.backup is not None:
        console.print(
            f"the old store is kept at {report.backup}; delete it when you no longer need it", highlight=False
        )


__all__ = ["EXIT_SOME_FAILED", "register"]
