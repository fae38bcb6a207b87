"""Time `rosetta models build multilingual-e5-small-aligned` (base conversion already built) twice into
fresh caches and check both builds have the same sha256; JSON to bench/results/build_aligned.json."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rosetta.models import build_model  # noqa: E402
from rosetta.models.aligned import BASE, NAME  # noqa: E402
from rosetta.models.cpu import isa_flags  # noqa: E402
from rosetta.settings import Settings  # noqa: E402


def main() -> None:
    models_dir = Settings().models_dir
    base = build_model(BASE, models_dir)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            cache = Path(tmp) / f"cache{i}"
            cache.mkdir()
            (cache / BASE).symlink_to(base)
            t0, c0 = time.perf_counter(), time.process_time()
            out = build_model(NAME, cache)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            sha = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
            runs.append({"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "sha256": sha})
            print(f"build {i + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU, sha256 {sha[:16]}")
    result = {
        "model": NAME,
        "runs": runs,
        "identical": runs[0]["sha256"] == runs[1]["sha256"],
        "cpu_flags": isa_flags(),
        "note": "shared 2-core machine; base conversion not included",
    }
    (ROOT / "bench/results/build_aligned.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"identical: {result['identical']}")


if __name__ == "__main__":
    main()
