"""Subcommands contributed by the indexer layer (registered on the root `rosetta` CLI):
`rosetta index` and `rosetta stats`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:  # the heavy imports happen inside the commands, not at CLI start-up
    from indexer.pipeline import AddOptions, Index, Upload
    from indexer.report import IngestReport

# Exit code when the run finished but some files could not be ingested (2 = usage/store errors).
EXIT_SOME_FAILED = 3


def register(app: typer.Typer) -> None:
    """Add this layer's subcommands to the root CLI."""
    app.command("index")(index_command)
    app.command("stats")(stats_command)


def index_command(
    paths: Annotated[list[str], typer.Argument(help="Files or folders to index (recursive); '-' reads "
                                                    "one document from stdin.")],
    collection: Annotated[str | None, typer.Option(help="Collection (default: settings).")] = None,
    recreate: Annotated[bool, typer.Option(help="Delete and rebuild the collection first.")] = False,
    prune: Annotated[bool, typer.Option(help="Delete documents whose files were not found under "
                                             "PATHS (the collection mirrors PATHS).")] = False,
    include: Annotated[list[str] | None, typer.Option(help="Only files matching this glob "
                                                           "(repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Skip files matching this glob "
                                                           "(repeatable).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Tables: the column holding the text "
                                                         "(default: text/content/body).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Tables: the column holding document ids "
                                                       "(default: file#row).")] = None,
    index_field: Annotated[list[str] | None, typer.Option(help="Metadata field to index for "
                                                                "filtering (repeatable).")] = None,
    chunk_tokens: Annotated[int, typer.Option(help="Chunk size in model tokens (capped by the "
                                                   "model's max_seq_length).", min=16)] = 256,
    overlap: Annotated[int, typer.Option(help="Tokens shared by consecutive chunks.", min=0)] = 32,
    max_file_mb: Annotated[float, typer.Option(help="Refuse text files larger than this.")] = 25.0,
    stdin_name: Annotated[str, typer.Option(help="Document id (and format, by extension) of '-'.")
                          ] = "stdin.txt",
    model: Annotated[str | None, typer.Option(help="Model name or folder (default: settings).")] = None,
    language_neutral: Annotated[bool | None, typer.Option(
        help="A new collection: remove the model's language vectors, so that search ranks by content "
             "across languages (default: ROSETTA_LANGUAGE_NEUTRAL). An existing one keeps its own.")
                                ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")
                        ] = False,
) -> None:
    """Index documents in any language into the vector store (incremental: unchanged files are skipped)."""
    from indexer.chunking import ChunkConfig
    from indexer.pipeline import AddOptions, Index, Upload
    from indexer.store import StoreError
    from rosetta.cli import fail, get_settings, load_encoder

    settings = get_settings()
    if language_neutral is not None:
        settings = settings.model_copy(update={"language_neutral": language_neutral})
    encoder = load_encoder(settings, model)
    options = AddOptions(include=tuple(include or ()), exclude=tuple(exclude or ()),
                         text_column=text_column, id_column=id_column, prune=prune,
                         max_file_mb=max_file_mb)
    items: list[str | Upload] = []
    for p in paths:
        if p == "-":
            import sys

            items.append(Upload(stdin_name, sys.stdin.buffer.read()))
        else:
            items.append(p)
    try:
        index = Index.open(settings, encoder=encoder, collection=collection, recreate=recreate,
                           index_fields=tuple(index_field or ()),
                           chunk=ChunkConfig(chunk_tokens, overlap))
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        report = _run_with_progress(index, items, options)
    except StoreError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; run the same command again to finish (nothing is duplicated)",
                   130) from None
    finally:
        index.close()
    if json_out:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _print_report(report)
    if report.files_failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _run_with_progress(index: Index, items: list[str | Upload], options: AddOptions) -> IngestReport:
    from indexer.report import IngestProgress
    from rosetta.progress import make_progress

    with make_progress(transient=False) as bar:
        files_task = bar.add_task("files", total=None, unit="files")
        chunks_task = bar.add_task("chunks", total=None, unit="chunks")

        def on_progress(p: IngestProgress) -> None:
            bar.update(files_task, total=p.files_total, completed=p.files_done)
            bar.update(chunks_task, total=max(p.chunks_queued, 1), completed=p.chunks_done)

        return index.add(items, options=options, progress=on_progress)


def _print_report(report: IngestReport) -> None:
    from rosetta.cli import console

    table = Table(title="Ingest report", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for label, value in (
        ("files seen", report.files_seen), ("indexed", report.files_indexed),
        ("unchanged", report.files_unchanged), ("skipped", report.files_skipped),
        ("failed", len(report.files_failed)), ("chunks added", report.chunks_added),
        ("chunks deleted", report.chunks_deleted), ("documents pruned", report.documents_pruned),
        ("seconds", f"{report.seconds:.1f}"), ("chunks/s", f"{report.chunks_per_second:.1f}"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for issue in report.skipped:
        console.print(f"[yellow]skipped[/] {issue.path}: {issue.error}", highlight=False)
    for issue in report.files_failed:
        console.print(f"[red]failed[/] {issue.path}: {issue.error}", highlight=False)


def stats_command(
    collection: Annotated[str | None, typer.Option(help="Collection (default: settings).")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Points, documents, chunks per language and the model of a collection."""
    from indexer.pipeline import collection_stats
    from indexer.store import StoreError, open_store
    from rosetta.cli import console, fail, get_settings
    from rosetta.models import ModelIdentity

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
    console.print(f"collection [bold]{name}[/] · {stats.points} points · {stats.documents} documents "
                  f"· model {model}", highlight=False)
    table = Table(title="chunks per language")
    table.add_column("lang")
    table.add_column("chunks", justify="right")
    for lang, count in stats.languages.items():
        table.add_row(lang, str(count))
    console.print(table)


__all__ = ["EXIT_SOME_FAILED", "register"]
