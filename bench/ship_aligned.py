"""Ship a finished LoRA run as multilingual-e5-small-aligned: copy its adapter into the package, write
the adapter's card (measured scores, base → aligned) and the report into bench/results/.

    python bench/ship_aligned.py .rosetta/trained/aligned-e5small-50lang
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rosetta.models.aligned import adapter_file  # noqa: E402
from training.trainer import ADAPTER_FILE  # noqa: E402

TATOEBA6 = ["deu", "spa", "ara", "cmn", "rus", "jpn"]


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 2) if values else None


def scores(before: dict, after: dict, trained: list[str]) -> dict[str, dict[str, float | None]]:
    """The numbers `rosetta models list` shows, each as {base, aligned}."""

    def pick(res: dict) -> dict[str, float | None]:
        tat = res.get("tatoeba", {})
        sts17 = res.get("sts17", {})
        stsb = res.get("stsb", {})
        out = {
            "Tatoeba(6)": _mean([100 * tat[k]["accuracy"] for k in TATOEBA6 if k in tat]),
            f"Tatoeba({len([k for k in trained if k in tat])} trained)": _mean(
                [100 * tat[k]["accuracy"] for k in trained if k in tat]
            ),
            "STS17 cross": _mean([sts17[k]["spearman"] for k in ("en-ar", "en-tr", "es-en") if k in sts17]),
        }
        for k in ("en-en", "es-es", "ar-ar"):
            out[f"STS17 {k}"] = sts17.get(k, {}).get("spearman")
        for k in ("en", "it", "en-it"):
            out[f"STSb {k}"] = stsb.get(k, {}).get("spearman")
        return out

    b, a = pick(before), pick(after)
    return {k: {"base": b[k], "aligned": a[k]} for k in b if b[k] is not None and a[k] is not None}


def main(run_dir: Path) -> None:
    from training.langs import tatoeba_code

    report = json.loads((run_dir / "training_report.json").read_text())
    if not report.get("after") or not report.get("before"):
        raise SystemExit(f"{run_dir}: the report has no evaluation; run `rosetta train --report-only` first")
    cfg = report["config"]
    trained = [tatoeba_code(x) for x in cfg["languages"]]
    target = adapter_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / ADAPTER_FILE, target)
    card = {
        "name": target.stem,
        "adapter": target.name,
        "adapter_bytes": target.stat().st_size,
        "config": "bench/configs/distill_aligned_50lang.yaml",
        "report": "bench/results/training_report_aligned.md",
        "pairs_seen": report["run"].get("pairs_seen"),
        "languages": cfg["languages"],
        "scores": scores(report["before"], report["after"], trained),
    }
    target.with_suffix(".json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    for ext in ("json", "md"):
        shutil.copyfile(
            run_dir / f"training_report.{ext}", ROOT / "bench/results" / f"training_report_aligned.{ext}"
        )
    print(json.dumps(card["scores"], indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
