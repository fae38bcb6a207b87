"""Re-render the issue-7 report: MSE+ranking next to the MSE-only run at the same budget, plus mining.

Usage: python bench/train_compare.py [mining.jsonl]
(mining.jsonl: `rosetta eval MODEL --tasks tatoeba,mining --json` lines for before / mse / mse+ranking)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from training.evaluation.published import load_published
from training.report import write_report

RESULTS = Path(__file__).parent / "results"
EVAL_DIR = Path("/work/shared/data/eval")
ISSUE7_LANGS = ["deu", "spa", "ara", "cmn", "rus", "jpn"]


def main() -> None:
    mse = json.loads((RESULTS / "training_report.json").read_text())
    rank = json.loads((RESULTS / "training_report_mse_ranking.json").read_text())
    rank["compared_to"] = {"mse_only_after": mse["after"], "mse_only_report": "training_report.json"}

    def t7(res: dict) -> float:
        vals = [res["tatoeba"][x]["accuracy"] for x in ISSUE7_LANGS if x in res.get("tatoeba", {})]
        return round(100 * sum(vals) / len(vals), 2) if vals else float("nan")

    rank["issue7_tatoeba_mean"] = {
        "langs": ISSUE7_LANGS, "before": t7(rank["before"]), "mse_only": t7(mse["after"]),
        "mse_ranking": t7(rank["after"]), "published_multilingual_e5_small": 91.05,
    }
    mining_rows = []
    if len(sys.argv) > 1:
        names = ["before", "mse_only", "mse_ranking"]
        lines = [ln for ln in Path(sys.argv[1]).read_text().splitlines() if ln.strip()]
        rank["mining"] = {n: json.loads(ln)["mining"] for n, ln in zip(names, lines, strict=False)}
        for n, ln in zip(names, lines, strict=False):
            res = json.loads(ln)
            for lang, m in res["mining"].items():
                acc = 100 * res["tatoeba"][lang]["accuracy"]
                mining_rows.append(f"| {n} | {lang} | {acc:.1f} | {100 * m['precision']:.1f} | "
                                   f"{100 * m['recall']:.1f} | {100 * m['f1']:.1f} |")
    published = load_published(EVAL_DIR)
    _, md = write_report(rank, published, RESULTS / "training_report_mse_ranking",
                         title="Training report: MSE + translation ranking (margin 0.3), same budget")
    summary = {"before": rank["before"], "mse only": mse["after"], "mse+ranking": rank["after"]}
    extra = ["", "## MSE-only vs MSE+ranking (same data, steps, batch, learning rate)", "",
             "| metric | " + " | ".join(summary) + " |", "|---|" + "---|" * len(summary)]
    for key in ("tatoeba_mean_accuracy", "sts17_cross_mean", "sts17_mean", "stsb_mean"):
        vals = [res["summary"][key] for res in summary.values()]
        fmt = [f"{100 * v:.1f}" if "tatoeba" in key else f"{v:.1f}" for v in vals]
        extra.append(f"| {key} | " + " | ".join(fmt) + " |")
    en_en = [str(r["sts17"]["en-en"]["spearman"]) for r in summary.values()]
    extra.append("| sts17 en-en | " + " | ".join(en_en) + " |")
    t = rank["issue7_tatoeba_mean"]
    extra.append(f"| Tatoeba mean {'/'.join(ISSUE7_LANGS)} | {t['before']} | {t['mse_only']} | "
                 f"{t['mse_ranking']} |")
    extra.append("")
    extra.append("Published fp32 multilingual-e5-small on the same six: 91.05.")
    if mining_rows:
        extra += ["", "## Bitext mining on Tatoeba (English side shuffled; margin, intersection, ≥ 1.0)",
                  "",
                  "| model | lang | Tatoeba acc | precision | recall | F1 |", "|---|---|---|---|---|---|",
                  *mining_rows]
    md.write_text(md.read_text() + "\n".join(extra) + "\n")


if __name__ == "__main__":
    main()
