"""training_report.json / .md and the model card (README.md in the trained model's folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rosetta.models.cpu import isa_flags
from training.evaluation.published import comparison_rows

# Published models worth a column in the tables (the rest stay in the JSON file they come from).
PUBLISHED_COLUMNS = [
    "multilingual-e5-small",
    "paraphrase-multilingual-MiniLM-L12-v2",
    "all-MiniLM-L6-v2",
    "LaBSE",
]


def build_report(
    train_meta: dict[str, Any],
    teacher: dict[str, Any] | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The shape the acceptance asks for, plus the run details under `run`."""
    report: dict[str, Any] = {
        "config": train_meta["config"],
        "teacher": teacher,
        "before": before,
        "after": after,
        "pairs_per_second": train_meta["pairs_per_second"],
        "seconds": train_meta["total_seconds"],
        "run": {
            k: train_meta[k]
            for k in (
                "steps",
                "precision",
                "train_pairs",
                "pairs_seen",
                "train_seconds",
                "teacher_seconds",
                "student",
                "data",
                "heldout_before",
                "heldout_after",
                "losses",
            )
            if k in train_meta
        },
    }
    report["machine"] = machine()
    if extra:
        report.update(extra)
    return report


def machine() -> dict[str, Any]:
    """Where a run happened: speed and bf16 numbers differ between AVX2, AVX512 and AMX machines."""
    import torch

    return {"cpu_flags": isa_flags(), "cpus": os.cpu_count(), "threads": torch.get_num_threads()}


# Reimers & Gurevych 2020 (the recipe this module implements), STSb-multi Spearman ×100 before and
# after distillation; the en-it pairs take sentence 1 from the English and sentence 2 from the
# Italian test file.
ARTICLE_STSB = {"en": (47.5, 81.6), "it": (49.6, 74.3), "en-it": (22.9, 71.0)}


def seed_table(results: dict[str, dict[str, Any]]) -> str:
    """STSb-multi en / it / en-it for each model, next to the article's untrained → trained numbers."""
    head = ["stsb_multi_mt", *results.keys(), "article: untrained", "article: trained"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lang, (untrained, trained) in ARTICLE_STSB.items():
        vals = [(res or {}).get("stsb", {}).get(lang, {}).get("spearman") for res in results.values()]
        cells = [
            lang,
            *("–" if v is None else f"{v:.1f}" for v in vals),
            f"{untrained:.1f}",
            f"{trained:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tatoeba_delta_table(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """Per-language Tatoeba accuracy before → after, sorted by the change."""
    b = (before or {}).get("tatoeba", {})
    a = (after or {}).get("tatoeba", {})
    langs = sorted(set(a) & set(b), key=lambda k: a[k]["accuracy"] - b[k]["accuracy"])
    lines = ["| lang | before | after | Δ |", "|---|---|---|---|"]
    for k in langs:
        x, y = 100 * b[k]["accuracy"], 100 * a[k]["accuracy"]
        lines.append(f"| {k} | {x:.1f} | {y:.1f} | {y - x:+.1f} |")
    if langs:
        mb = sum(100 * b[k]["accuracy"] for k in langs) / len(langs)
        ma = sum(100 * a[k]["accuracy"] for k in langs) / len(langs)
        lines.append(f"| mean of {len(langs)} | {mb:.1f} | {ma:.1f} | {ma - mb:+.1f} |")
    return "\n".join(lines)


def _fmt(v: Any, task: str) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}" if task == "tatoeba" else f"{v:.1f}"


def comparison_table(results: dict[str, dict[str, Any]], published: dict[str, dict[str, float]]) -> str:
    models = [m for m in PUBLISHED_COLUMNS if m in published]
    rows = comparison_rows(results, published, models)
    head = ["task", "lang", *results.keys(), *(f"pub. {m}" for m in models)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["task"],
            r["lang"],
            *(_fmt(r[n], r["task"]) for n in results),
            *(_fmt(r[f"published:{m}"], r["task"]) for m in models),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(results: dict[str, dict[str, Any]]) -> str:
    keys = ["tatoeba_mean_accuracy", "sts17_cross_mean", "sts17_mean", "stsb_mean"]
    lines = ["| summary | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for k in keys:
        vals = []
        for res in results.values():
            v = (res or {}).get("summary", {}).get(k)
            vals.append("–" if v is None else (f"{100 * v:.1f}" if "tatoeba" in k else f"{v:.1f}"))
        lines.append(f"| {k} | " + " | ".join(vals) + " |")
    en_en = [
        str((res or {}).get("sts17", {}).get("en-en", {}).get("spearman", "–")) for res in results.values()
    ]
    lines.append("| sts17 en-en | " + " | ".join(en_en) + " |")
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], published: dict[str, dict[str, float]], title: str) -> str:
    cfg = report["config"]
    run = report.get("run", {})
    results = {k: report[k] for k in ("teacher", "before", "after") if report.get(k)}
    parts = [
        f"# {title}",
        "",
        f"Teacher `{cfg['teacher']}` → student `{cfg['student']}`, "
        f"objective `{cfg.get('objective', 'mse')}`, "
        f"languages {', '.join(cfg['languages'])}.",
        f"{run.get('steps', '?')} steps × batch {cfg['batch_size']} = "
        f"{run.get('pairs_seen', '?')} pairs seen "
        f"(pool {run.get('train_pairs', '?')} pairs), {report['pairs_per_second']:.1f} pairs/s "
        f"({run.get('precision', 'fp32')}), "
        f"{report['seconds'] / 60:.1f} min in all (training {run.get('train_seconds', 0) / 60:.1f} min, "
        f"teacher embeddings {run.get('teacher_seconds', 0):.0f} s).",
        "",
        "Tatoeba: accuracy %, non-English → English. STS: Spearman ×100 of cosine. Every model is "
        "embedded with its own query prompt (E5: `query: ` on both sides; teacher: none)"
        + (
            ", in bf16 (vectors within cosine 0.999 of fp32; published numbers are fp32)."
            if (report.get("after") or {}).get("precision") == "bf16"
            else "."
        ),
        "",
        "## Summary",
        "",
        summary_table(results),
        "",
        "## STSb-multi en / it / en-it, next to Reimers & Gurevych 2020",
        "",
        seed_table(results),
        "",
        "## All metrics, with published MTEB numbers",
        "",
        comparison_table(results, published),
        "",
    ]
    if len((report.get("after") or {}).get("tatoeba", {})) > 12:
        parts += [
            "## Tatoeba per language, before → after",
            "",
            tatoeba_delta_table(report.get("before"), report.get("after")),
            "",
        ]
    if run.get("heldout_after"):
        parts += [
            "## Held-out pairs (distillation space)",
            "",
            "MSE×100 to the teacher target of student(translation); accuracy of translation→English "
            "(src→trg) and English→translation retrieval among the held-out pairs of that language. "
            "'before' is the student as training starts (after the least-squares head, if any).",
            "",
            "| lang | MSE×100 before | after | src→trg acc before | after | trg→src acc before | after |",
            "|---|---|---|---|---|---|---|",
        ]
        for lang, a in run["heldout_after"].items():
            b = run.get("heldout_before", {}).get(lang, {})
            parts.append(
                f"| {lang} | {b.get('mse_x100', '–')} | {a['mse_x100']} | "
                f"{b.get('src2trg_accuracy', '–')} | {a['src2trg_accuracy']} | "
                f"{b.get('trg2src_accuracy', '–')} | {a['trg2src_accuracy']} |"
            )
        parts.append("")
    if run.get("data"):
        parts += [
            "## Data",
            "",
            "| lang | read | malformed | too long | duplicate | excluded (eval) | "
            "over cap | train | held-out |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for lang, st in run["data"].items():
            parts.append(
                f"| {lang} | {st['read']} | {st['malformed']} | {st['too_long']} | "
                f"{st['duplicate']} | "
                f"{st['excluded']} | {st['over_cap']} | {st['train']} | {st['heldout']} |"
            )
        parts.append("")
        parts += filter_table(run["data"], cfg.get("filter"))
    parts += ["## Method", "", *method_notes(cfg), ""]
    parts += ["## Config", "", "```yaml", _yaml(cfg), "```", ""]
    return "\n".join(parts)


def filter_table(data: dict[str, Any], fcfg: dict[str, Any] | None) -> list[str]:
    """Markdown lines for the `filter:` counts (train pairs only; 'train' above is after it)."""
    rows = {lang: st["filter"] for lang, st in data.items() if st.get("filter")}
    if not rows or not fcfg:
        return []
    lines = [
        f"### Filter (model `{fcfg.get('model') or 'student base'}`, margin ≥ {fcfg['min_score']}, "
        f"k={fcfg['k']}, language check {'on' if fcfg.get('check_lang') else 'off'})",
        "",
        "| lang | scored | kept | dropped | duplicate | wrong lang (en) | wrong lang (translation) "
        "| low score | median margin |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lang, f in rows.items():
        lines.append(
            f"| {lang} | {f['read']} | {f['kept']} | {f['dropped']} | {f['duplicate']} | "
            f"{f['wrong_lang_english']} | {f['wrong_lang_translation']} | {f['low_score']} | "
            f"{f.get('median_margin', '–')} |"
        )
    return [*lines, ""]


def method_notes(cfg: dict[str, Any]) -> list[str]:
    """The choices a reader needs to interpret the numbers, derived from the config."""
    notes = [
        f"- Target: the teacher's {'normalized' if cfg.get('normalize_target') else 'un-normalized'} "
        "sentence embedding of the English side; the student is trained without its final Normalize "
        "layer (an L2-normalized output cannot match un-normalized targets under MSE), which is put "
        "back when saving, so the saved model outputs unit vectors like the base model.",
    ]
    mode = cfg.get("prompt_mode", "random")
    if mode == "random":
        notes.append(
            "- Prompts: each student input (English and translation) gets the E5 `query: ` or "
            "`passage: ` prompt at random (50/50), so both prompted uses land in the teacher "
            "space; the saved model keeps the E5 prompts. The teacher sees plain text."
        )
    else:
        notes.append(f"- Prompts while training: `{mode}`.")
    if cfg.get("init_projection") == "lstsq":
        notes.append(
            f"- Head: a Dense 384→384 layer initialised by ridge least squares from the student's "
            f"pooled output to the teacher targets on {cfg.get('init_pairs_per_lang')} training "
            "pairs per language (both sides) — the closed-form optimum of the MSE objective for "
            "that layer — then trained with the rest."
        )
    frozen = "word embeddings frozen" if cfg.get("freeze_embeddings") else "word embeddings trained"
    if cfg.get("freeze_layers"):
        frozen += f", bottom {cfg['freeze_layers']} transformer layers frozen"
    lora = cfg.get("lora")
    if lora:
        frozen += (
            f"; LoRA r={lora['r']}, alpha={lora['alpha']} on "
            f"{', '.join(lora['target_modules'])} of "
            + (f"blocks {lora['layers']}" if lora.get("layers") is not None else "the unfrozen blocks")
            + " (all other weights frozen; shipped as a low-rank adapter)"
        )
    notes.append(f"- Trainable: {frozen}; max {cfg.get('max_seq_length')} tokens.")
    if cfg.get("preservation_weight"):
        notes.append(
            f"- Preservation: + {cfg['preservation_weight']} × MSE(student(x), base(x)) for the "
            "non-English side x (base = the untrained student), so each language keeps its own "
            "geometry while it is pulled towards English."
        )
    if cfg.get("exclude_eval_sentences"):
        notes.append(
            "- Every sentence of the Tatoeba, STS17 and stsb_multi_mt files was removed from "
            "the training data (the Tatoeba-challenge and STSb-MT sources overlap the test sets)."
        )
    return notes


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()


def write_report(
    report: dict[str, Any], published: dict[str, dict[str, float]], stem: Path, title: str = "Training report"
) -> tuple[Path, Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    jpath, mpath = stem.with_suffix(".json"), stem.with_suffix(".md")
    jpath.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    mpath.write_text(render_markdown(report, published, title))
    return jpath, mpath


def write_model_card(model_dir: Path, report: dict[str, Any], published: dict[str, dict[str, float]]) -> Path:
    """README.md for the trained folder: provenance first, then the report's tables."""
    cfg = report["config"]
    run = report.get("run", {})
    langs = ", ".join(cfg["languages"])
    student = run.get("student", {})
    header = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "tags: [sentence-transformers, multilingual, knowledge-distillation, rosetta]",
        "---",
        "",
        f"# {model_dir.name}",
        "",
        "Multilingual student distilled with Rosetta (Reimers & Gurevych 2020): `student(en) ≈ teacher(en)` "
        f"and `student(x) ≈ teacher(en)`; objective `{cfg.get('objective', 'mse')}`.",
        "",
        f"- teacher: `{cfg['teacher']}` (target: "
        f"{'normalized' if cfg['normalize_target'] else 'un-normalized'} output)",
        f"- student base: `{cfg['student']}`, layers kept {student.get('kept_layers')}, "
        f"word embeddings {'frozen' if cfg['freeze_embeddings'] else 'trained'}",
        f"- languages: {langs}; training pairs seen: {run.get('pairs_seen')} (pool {run.get('train_pairs')})",
        f"- prompts while training: `{cfg['prompt_mode']}`",
        "",
    ]
    body = render_markdown(report, published, "Evaluation").split("\n", 1)[1]
    path = model_dir / "README.md"
    path.write_text("\n".join(header) + body)
    return path
