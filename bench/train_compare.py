"""Re-render an issue-7 report: a ranking run next to MSE-only runs at the same budget, plus mining.

Usage:
  python bench/train_compare.py RANKING.json --mse NAME=MSE.json [--mse NAME=...] [--mining FILE]
    [--title TITLE]
RANKING.json / MSE.json: reports written by `rosetta train --report` (same data, steps, batch).
--mining FILE: JSON lines `{"name": ..., "eval": <rosetta eval --tasks tatoeba,mining --json>}`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from training.evaluation.published import load_published
from training.report import write_report

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
ISSUE7_LANGS = ["deu", "spa", "ara", "cmn", "rus", "jpn"]
PUBLISHED_E5_SMALL_T6 = 91.05


def tatoeba6(res: dict[str, Any]) -> float:
    vals = [res["tatoeba"][x]["accuracy"] for x in ISSUE7_LANGS if x in res.get("tatoeba", {})]
    return round(100 * sum(vals) / len(vals), 2) if vals else float("nan")


def comparison_rows(columns: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key in ("tatoeba_mean_accuracy", "sts17_cross_mean", "sts17_mean", "stsb_mean"):
        vals = [res["summary"].get(key) for res in columns.values()]
        fmt = ["–" if v is None else f"{100 * v:.1f}" if "tatoeba" in key else f"{v:.1f}" for v in vals]
        rows.append(f"| {key} | " + " | ".join(fmt) + " |")
    for pair in ("en-en", "es-es", "ar-ar", "en-ar", "en-tr", "es-en"):
        vals = [str(r["sts17"][pair]["spearman"]) for r in columns.values()]
        rows.append(f"| sts17 {pair} | " + " | ".join(vals) + " |")
    rows.append(
        f"| Tatoeba mean {'/'.join(ISSUE7_LANGS)} | "
        + " | ".join(str(tatoeba6(r)) for r in columns.values())
        + " |"
    )
    return rows


def mining_rows(lines: list[dict[str, Any]]) -> list[str]:
    rows = ["| model | lang | Tatoeba acc | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    for line in lines:
        res = line["eval"]
        for lang, m in res["mining"].items():
            acc = 100 * res["tatoeba"][lang]["accuracy"]
            rows.append(
                f"| {line['name']} | {lang} | {acc:.1f} | {100 * m['precision']:.1f} | "
                f"{100 * m['recall']:.1f} | {100 * m['f1']:.1f} |"
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ranking", type=Path)
    ap.add_argument("--mse", action="append", default=[], help="NAME=report.json of an MSE-only run")
    ap.add_argument("--mining", type=Path)
    ap.add_argument("--title", default="Training report: MSE + translation ranking, against MSE-only runs")
    args = ap.parse_args()

    rank = json.loads(args.ranking.read_text())
    mse = {name: json.loads(Path(path).read_text()) for name, path in (m.split("=", 1) for m in args.mse)}
    for name, rep in mse.items():
        # Batches without repeated texts may leave a few pairs of an epoch unused: allow 1%.
        if abs(rep["run"]["pairs_seen"] - rank["run"]["pairs_seen"]) > 0.01 * rank["run"]["pairs_seen"]:
            raise SystemExit(
                f"{name}: {rep['run']['pairs_seen']} pairs seen vs {rank['run']['pairs_seen']}: "
                "not the same budget"
            )
    rank["compared_to"] = {n: {"after": r["after"], "config": r["config"]} for n, r in mse.items()}
    columns = {
        "before": rank["before"],
        **{n: r["after"] for n, r in mse.items()},
        "mse+ranking": rank["after"],
    }
    rank["issue7_tatoeba_mean"] = {
        "langs": ISSUE7_LANGS,
        **{n: tatoeba6(r) for n, r in columns.items()},
        "published_multilingual_e5_small": PUBLISHED_E5_SMALL_T6,
    }
    lines = args.mining.read_text().splitlines() if args.mining else []
    mining = [json.loads(ln) for ln in lines if ln.strip()]
    if mining:
        rank["mining"] = {line["name"]: line["eval"]["mining"] for line in mining}
    _, md = write_report(rank, load_published(EVAL_DIR), args.ranking.with_suffix(""), title=args.title)
    extra = [
        "",
        "## Against MSE-only runs at the same budget (same data, steps, batch)",
        "",
        *comparison_rows(columns),
        "",
        f"Published fp32 multilingual-e5-small on the same six Tatoeba languages: {PUBLISHED_E5_SMALL_T6}.",
    ]
    if mining:
        extra += [
            "",
            "## Bitext mining on Tatoeba (English side shuffled; margin, intersection, ≥ 1.0)",
            "",
            *mining_rows(mining),
        ]
    md.write_text(md.read_text() + "\n".join(extra) + "\n")


if __name__ == "__main__":
    main()
