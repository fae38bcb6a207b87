"""Subcommands contributed by the training layer (registered on the root `rosetta` CLI):
`train`, `eval`, `pairs filter`, `mine`."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rosetta.cli_common import err, fail, get_settings, load_encoder
from rosetta.mining import Backend as KnnBackend
from rosetta.mining import MiningMode
from rosetta.settings import Settings


def _split(value: str | None) -> list[str] | None:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


def _eval_dir_or_fail(data_dir: Path | None, settings: Settings) -> Path:
    from training.evaluation import default_eval_dir

    found = default_eval_dir(data_dir or settings.eval_dir)
    if found is None or not found.is_dir():
        raise fail(
            "no evaluation data: pass --data-dir, set ROSETTA_EVAL_DIR, or put it at ../shared/data/eval"
        )
    return found


def cached_eval(
    settings: Settings,
    model: str,
    data_dir: Path,
    tasks: list[str],
    langs: list[str] | None,
    use_cache: bool = True,
    stsb_langs: list[str] | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Evaluate `model`, memoised on disk by (weights, prompts, backend, tasks, langs, data, precision)."""
    from training.evaluation import evaluate_encoder

    # Published scores are fp32 numbers, and so are ours by default; bf16 (2.8x faster on CPUs with
    # AMX, vectors within cosine 0.999) is for many-language tables on a busy machine and is
    # recorded in the result. `auto` evaluates the torch reference; a backend set explicitly is
    # evaluated as such.
    backend = "torch" if settings.encoder_backend == "auto" else settings.encoder_backend
    encoder = load_encoder(settings, model, precision=precision, backend=backend)
    ident = encoder.identity
    # The torch fp32 key is unchanged so earlier cached results stay valid.
    key_parts: list[Any] = [
        ident.weights_sha256,
        ident.prompts,
        sorted(tasks),
        langs,
        stsb_langs,
        str(data_dir.resolve()),
    ]
    if ident.backend != "torch":
        key_parts.append(ident.backend)
    if precision != "fp32":
        key_parts.append(precision)
    key_src = json.dumps(key_parts)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:24]
    cache = settings.data_dir / "eval_cache" / f"{key}.json"
    if use_cache and cache.exists():
        return json.loads(cache.read_text())
    with err.status(f"Evaluating {ident.describe()} on {', '.join(tasks)}…"):
        result = evaluate_encoder(
            encoder,
            data_dir,
            tasks,
            langs,
            batch_size=settings.batch_size,
            stsb_langs=stsb_langs,
            embedding_cache=(
                settings.data_dir / "eval_cache" / "embeddings" if precision == "fp32" else None
            ),
        )
    result["precision"] = encoder.precision
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result, ensure_ascii=False))
    return result


def register(app: typer.Typer) -> None:
    """Add this layer's subcommands to the root CLI."""
    register_data_commands(app)

    @app.command("eval")
    def eval_cmd(
        model: Annotated[str, typer.Argument(help="Model name or folder.")],
        tasks: Annotated[
            str,
            typer.Option(
                help="Comma list of tatoeba, sts17, stsb, mining, retrieval (language-agnostic retrieval: "
                "plain vs corpus means vs language vectors)."
            ),
        ] = "tatoeba,sts17,stsb",
        langs: Annotated[str | None, typer.Option(help="Comma list of languages (ISO 639-1 or -3).")] = None,
        stsb_langs: Annotated[str | None, typer.Option(help="Restrict stsb_multi_mt to these.")] = None,
        data_dir: Annotated[Path | None, typer.Option(help="Eval data (env ROSETTA_EVAL_DIR).")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute even if cached.")] = False,
        precision: Annotated[str, typer.Option(help="fp32 (published numbers are fp32) or bf16.")] = "fp32",
    ) -> None:
        """Tatoeba bitext retrieval and STS (STS17, stsb_multi_mt incl. cross-lingual) for MODEL."""
        from training.evaluation.published import load_published
        from training.report import comparison_table, summary_table

        settings = get_settings()
        folder = _eval_dir_or_fail(data_dir, settings)
        task_list = _split(tasks) or []
        try:
            result = cached_eval(
                settings,
                model,
                folder,
                task_list,
                _split(langs),
                use_cache=not no_cache,
                stsb_langs=_split(stsb_langs),
                precision=precision,
            )
        except (ValueError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
        if json_out:
            typer.echo(json.dumps(result, ensure_ascii=False))
            return
        if "retrieval" in result:
            from training.evaluation.retrieval import markdown

            typer.echo(markdown(result["retrieval"]))
            if set(task_list) <= {"retrieval"}:
                return
        name = result["model"]["name"]
        typer.echo(summary_table({name: result}))
        typer.echo("")
        typer.echo(comparison_table({name: result}, load_published(folder)))

    @app.command("train")
    def train_cmd(
        config: Annotated[Path | None, typer.Option(help="YAML config; flags override it.")] = None,
        teacher: Annotated[str | None, typer.Option()] = None,
        student: Annotated[str | None, typer.Option()] = None,
        data: Annotated[list[str] | None, typer.Option(help="TSV(.gz) file or folder; repeatable.")] = None,
        langs: Annotated[str | None, typer.Option(help="Comma list, e.g. de,es,fr.")] = None,
        max_pairs_per_lang: Annotated[int | None, typer.Option()] = None,
        epochs: Annotated[float | None, typer.Option()] = None,
        max_steps: Annotated[int | None, typer.Option()] = None,
        batch_size: Annotated[int | None, typer.Option()] = None,
        lr: Annotated[float | None, typer.Option("--lr")] = None,
        warmup_ratio: Annotated[float | None, typer.Option()] = None,
        eval_steps: Annotated[int | None, typer.Option()] = None,
        save_steps: Annotated[int | None, typer.Option()] = None,
        output: Annotated[Path | None, typer.Option(help="Output model folder.")] = None,
        seed: Annotated[int | None, typer.Option()] = None,
        device: Annotated[str | None, typer.Option()] = None,
        objective: Annotated[str | None, typer.Option(help="mse | ranking | mse+ranking")] = None,
        freeze_embeddings: Annotated[
            bool | None, typer.Option("--freeze-embeddings/--train-embeddings")
        ] = None,
        keep_layers: Annotated[int | None, typer.Option(help="Keep k evenly spaced layers.")] = None,
        freeze_layers: Annotated[int | None, typer.Option(help="Freeze the bottom k layers.")] = None,
        init_projection: Annotated[str | None, typer.Option(help="none | lstsq")] = None,
        filter_min_score: Annotated[
            float | None,
            typer.Option(help="Filter the training pairs first: keep margin ≥ this (turns on `filter:`)."),
        ] = None,
        resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
        report_only: Annotated[
            bool,
            typer.Option(
                help="Do not train: evaluate the finished run in the output folder and write its report."
            ),
        ] = False,
        evaluate: Annotated[
            bool, typer.Option(help="Evaluate teacher, untrained and trained student.")
        ] = True,
        eval_tasks: Annotated[str, typer.Option()] = "tatoeba,sts17,stsb",
        eval_langs: Annotated[str | None, typer.Option()] = None,
        eval_stsb_langs: Annotated[str | None, typer.Option()] = None,
        eval_precision: Annotated[str, typer.Option(help="fp32 or bf16 for the evaluations.")] = "fp32",
        data_dir: Annotated[Path | None, typer.Option(help="Eval data (env ROSETTA_EVAL_DIR).")] = None,
        report: Annotated[Path | None, typer.Option(help="Also write the report to REPORT.json/.md.")] = None,
    ) -> None:
        """Distil a multilingual student from an English teacher on parallel data (MSE; or ranking)."""
        from pydantic import ValidationError

        from training.config import TrainConfig
        from training.data import ParallelDataError
        from training.evaluation.published import load_published
        from training.report import build_report, write_model_card, write_report
        from training.trainer import META_FILE, train

        settings = get_settings()
        overrides: dict[str, Any] = {
            "teacher": teacher,
            "student": student,
            "data": data,
            "languages": _split(langs),
            "max_pairs_per_lang": max_pairs_per_lang,
            "epochs": epochs,
            "max_steps": max_steps,
            "batch_size": batch_size,
            "learning_rate": lr,
            "warmup_ratio": warmup_ratio,
            "eval_steps": eval_steps,
            "save_steps": save_steps,
            "output_dir": output,
            "seed": seed,
            "device": device or (settings.device if config is None else None),
            "objective": objective,
            "freeze_embeddings": freeze_embeddings,
            "keep_layers": keep_layers,
            "freeze_layers": freeze_layers,
            "init_projection": init_projection,
            "eval_dir": data_dir,
            # A mapping merges into the config file's `filter:` (model, check_lang… stay as set there).
            "filter": {"min_score": filter_min_score} if filter_min_score is not None else None,
        }
        try:
            cfg = TrainConfig.from_yaml(config, overrides)
        except (ValidationError, ValueError, OSError) as exc:
            raise fail(f"bad training config: {exc}") from None
        teacher_eval = before_eval = None
        folder = None
        tasks = _split(eval_tasks) or []
        if report_only:
            meta_file = Path(cfg.output_dir) / META_FILE
            if not meta_file.is_file():
                raise fail(f"--report-only: no finished run in {cfg.output_dir} ({META_FILE} is missing)")
            meta = json.loads(meta_file.read_text())
            evaluate = True
        if evaluate:
            folder = _eval_dir_or_fail(cfg.eval_dir or data_dir, settings)
            # The teacher and the student before training, on the same tasks.
            teacher_eval, before_eval = (
                cached_eval(
                    settings,
                    reference,
                    folder,
                    tasks,
                    _split(eval_langs),
                    stsb_langs=_split(eval_stsb_langs),
                    precision=eval_precision,
                )
                for reference in (cfg.teacher, cfg.student)
            )
        if not report_only:
            try:
                meta = train(cfg, settings.models_dir, resume=resume, console=err).to_dict()
            except ParallelDataError as exc:
                raise fail(str(exc)) from None
        output_dir = Path(meta["output_dir"])
        after_eval = None
        if evaluate and folder is not None:
            after_eval = cached_eval(
                settings,
                str(output_dir),
                folder,
                tasks,
                _split(eval_langs),
                stsb_langs=_split(eval_stsb_langs),
                precision=eval_precision,
            )
        rep = build_report(meta, teacher_eval, before_eval, after_eval)
        published = load_published(folder) if folder else {}
        write_report(rep, published, output_dir / "training_report")
        write_model_card(output_dir, rep, published)
        if report is not None:
            write_report(rep, published, report.with_suffix(""))
        err.print(
            f"[green]saved:[/] {output_dir} ({meta['steps']} steps, "
            f"{meta['pairs_per_second']:.1f} pairs/s, {meta['total_seconds'] / 60:.1f} min)"
        )


def register_data_commands(app: typer.Typer) -> None:
    """`rosetta pairs filter` and `rosetta mine` (LaBSE/LASER-style data tools)."""
    pairs_app = typer.Typer(help="Parallel data tools.", no_args_is_help=True)
    app.add_typer(pairs_app, name="pairs")

    @pairs_app.command("filter")
    def pairs_filter(
        inputs: Annotated[list[Path], typer.Argument(help="en-XXX.tsv[.gz] files or folders of them.")],
        out: Annotated[Path, typer.Option(help="Folder for the filtered en-XXX.tsv.gz files.")],
        model: Annotated[str | None, typer.Option(help="Scoring model (default: settings).")] = None,
        min_score: Annotated[
            float, typer.Option(help="Minimum margin score to keep (model-dependent).")
        ] = 1.0,
        k: Annotated[int, typer.Option(help="Neighbours for the margin.")] = 4,
        langs: Annotated[str | None, typer.Option(help="Only these languages (folders).")] = None,
        check_language: Annotated[bool, typer.Option("--check-language/--no-check-language")] = True,
        chunk_size: Annotated[int, typer.Option(help="Pairs per scoring chunk.")] = 2000,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Score every pair (cosine, margin), drop duplicates, wrong-language and low-score pairs."""
        from rich.table import Table

        from rosetta.progress import make_progress
        from training.data import FolderSource, lang_from_filename
        from training.filtering import FilterRules, filter_file

        settings = get_settings()
        files: list[tuple[str, Path]] = []
        for p in inputs:
            if p.is_dir():
                files += FolderSource(p, _split(langs)).files()
            elif p.is_file() and (code := lang_from_filename(p)):
                files.append((code, p))
            else:
                raise fail(f"{p}: not a folder nor an en-XXX.tsv[.gz] file")
        encoder = load_encoder(settings, model)

        def embed(texts: list[str]) -> Any:
            return encoder.encode_queries(texts, batch_size=settings.batch_size)

        rules = FilterRules(min_score, k, check_language, chunk_size)
        results = []
        with make_progress(err) as bar:
            for code, path in files:
                task = bar.add_task(f"filter {code}", total=None, unit="pair")
                stats = filter_file(
                    path, out, embed, rules, code, on_chunk=functools.partial(bar.advance, task)
                )
                results.append(stats.to_dict())
        if json_out:
            typer.echo(json.dumps(results, ensure_ascii=False))
            return
        table = Table(title=f"kept / dropped (margin ≥ {min_score}, k={k})")
        cols = [
            "lang",
            "read",
            "kept",
            "dropped",
            "malformed",
            "duplicate",
            "wrong_lang_english",
            "wrong_lang_translation",
            "low_score",
            "median_margin",
        ]
        for c in cols:
            table.add_column(c)
        for r in results:
            table.add_row(*(str(r.get(c, "–")) for c in cols))
        err.print(table)

    @app.command("mine")
    def mine_cmd(
        src_file: Annotated[Path, typer.Argument(help="Sentences, one per line (language A).")],
        tgt_file: Annotated[Path, typer.Argument(help="Sentences, one per line (language B).")],
        model: Annotated[str | None, typer.Option(help="Model name or folder.")] = None,
        threshold: Annotated[float, typer.Option(help="Minimum margin score (model-dependent).")] = 1.0,
        mode: Annotated[
            MiningMode, typer.Option(help="Which side's best match a pair must be.")
        ] = "intersection",
        k: Annotated[int, typer.Option(help="Neighbours for the margin.")] = 4,
        out: Annotated[
            Path | None, typer.Option(help="Write score<TAB>src<TAB>tgt here (else stdout).")
        ] = None,
        backend: Annotated[
            KnnBackend,
            typer.Option(help="k-NN search: auto = exact up to 20k sentences a side, then Qdrant."),
        ] = "auto",
        qdrant_url: Annotated[
            str | None,
            typer.Option(help="Qdrant server for the qdrant backend (default: in-memory local mode)."),
        ] = None,
    ) -> None:
        """Find translation pairs between two unaligned files with margin scoring."""
        from rosetta.mining import QDRANT_MIN_SENTENCES, mine, resolve_backend

        for p in (src_file, tgt_file):
            if not p.is_file():
                raise fail(f"{p}: no such file")
        src = [x.strip() for x in src_file.read_text(encoding="utf-8").splitlines() if x.strip()]
        tgt = [x.strip() for x in tgt_file.read_text(encoding="utf-8").splitlines() if x.strip()]
        settings = get_settings()
        encoder = load_encoder(settings, model)
        with err.status(f"Embedding {len(src)} + {len(tgt)} sentences…"):
            a = encoder.encode_queries(src, batch_size=settings.batch_size)
            b = encoder.encode_queries(tgt, batch_size=settings.batch_size)
        chosen = resolve_backend(backend, len(src), len(tgt))
        if chosen == "qdrant" and qdrant_url is None and max(len(src), len(tgt)) > QDRANT_MIN_SENTENCES:
            # Local mode is a brute-force scan in Python: correct, but only a server bounds memory.
            err.print("[yellow]hint:[/] pass --qdrant-url for large inputs (local mode holds every vector)")
        with err.status(f"Mining ({chosen} k-NN)…"):
            pairs = mine(a, b, k=k, mode=mode, threshold=threshold, backend=chosen, qdrant_url=qdrant_url)
        lines = [f"{p.score:.4f}\t{src[p.src]}\t{tgt[p.tgt]}" for p in pairs]
        if out is not None:
            out.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
            err.print(f"[green]{len(pairs)} pairs[/] → {out}")
        else:
            typer.echo("\n".join(lines))
