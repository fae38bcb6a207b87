"""Encoder throughput of torch fp32 and bf16 with the instruction sets capped, to stand in for CPUs
this project runs on but a session may not have (AVX2-only, AVX512 without BF16, AVX512-BF16 without
AMX): what `auto` decides between has to hold on all of them.

Each cap runs in its own process with oneDNN (`ONEDNN_MAX_CPU_ISA`: torch's bf16 matmuls), MKL
(`MKL_ENABLE_INSTRUCTIONS`: torch's fp32 matmuls) and ATen's own kernels (`ATEN_CPU_CAPABILITY`)
limited together; oneDNN's verbose line (for one matmul) proves which ISA it ran. ONNX Runtime has
no such switch (its kernels read cpuid), so int8 is measured natively only; the issue's own AVX2 measurement
(int8 1.65x torch fp32) stands for it there. Passages come from the shared parallel data.

    .venv/bin/python bench/encoder_isa.py [--passages 384] [--caps native,AVX512_CORE_BF16,...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "parallel"
RESULTS = REPO / "bench" / "results" / "encoder_isa.json"
# cap -> (oneDNN ISA, MKL instructions, ATen capability); the CPUs they stand for.
CAPS = {
    "native": (None, None, None),
    "AVX512_CORE_BF16": ("AVX512_CORE_BF16", "AVX512", "avx512"),  # Cooper Lake, Zen 4: BF16, no AMX
    "AVX512_CORE_VNNI": ("AVX512_CORE_VNNI", "AVX512", "avx512"),  # Cascade Lake: AVX512, no BF16
    "AVX2": ("AVX2", "AVX2", "avx2"),  # Haswell..Zen 3 and many laptops
}
LANGS = ["deu", "spa", "fra", "ara", "tur", "zho", "hin", "rus"]


def passages(n: int) -> list[str]:
    out: list[str] = []
    for lang in LANGS:
        with gzip.open(DATA / f"en-{lang}.tsv.gz", "rt", encoding="utf-8") as fh:
            rows = zip(range(3 * n // len(LANGS)), fh, strict=False)
            lines = [line.rstrip("\n").split("\t")[1] for _, line in rows]
        out += [" ".join(lines[i : i + 3]) for i in range(0, len(lines) - 2, 3)]
    return out[:n]


def measure(precisions: list[str], n: int, repeats: int) -> dict:
    """In this process (caps already in its environment): chunks/s per precision."""
    import torch

    from rosetta.models import Encoder
    from rosetta.settings import Settings

    # oneDNN names the ISA it dispatches to in its verbose lines (verbose only here: it slows runs).
    a = torch.randn(64, 64, dtype=torch.bfloat16)
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        torch.nn.functional.linear(a, a)
    sys.stdout.flush()
    texts = passages(n)
    settings = Settings()
    out: dict = {
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
    for precision in precisions:
        enc = Encoder.load("multilingual-e5-small", settings.models_dir, "cpu", precision, "torch")
        enc.encode_documents(texts[:64], batch_size=32)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            enc.encode_documents(texts, batch_size=32)
            best = min(best, time.perf_counter() - t0)
        out[precision] = round(len(texts) / best, 1)
    return out


def run_capped(cap: str, n: int, repeats: int) -> dict:
    onednn, mkl, aten = CAPS[cap]
    env = dict(os.environ)
    caps = {"ONEDNN_MAX_CPU_ISA": onednn, "MKL_ENABLE_INSTRUCTIONS": mkl, "ATEN_CPU_CAPABILITY": aten}
    env.update({key: value for key, value in caps.items() if value})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--passages", str(n), "--repeats", str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    isa = next((line.split("isa:", 1)[1] for line in proc.stdout.splitlines() if "isa:" in line), "?")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["onednn_isa"] = isa.strip()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--caps", default=",".join(CAPS))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(["fp32", "bf16"], args.passages, args.repeats)))
        return 0

    from rosetta.models.cpu import isa_flags

    rows = {}
    for cap in args.caps.split(","):
        rows[cap] = run_capped(cap, args.passages, args.repeats)
        r = rows[cap]
        r["bf16_over_fp32"] = round(r["bf16"] / r["fp32"], 2)
        print(
            f"{cap:18s} oneDNN {r['onednn_isa'][:40]:40s} ATen {r['aten_capability']:8s} "
            f"fp32 {r['fp32']:6.1f}  bf16 {r['bf16']:6.1f}  bf16/fp32 {r['bf16_over_fp32']:.2f}",
            flush=True,
        )
    result = {
        "passages": args.passages,
        "unit": "chunks/s, best of repeats, torch threads = cores",
        "caps": rows,
        "cpu_flags": isa_flags(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
