"""Encoder throughput of every backend with the instruction sets capped, to stand in for CPUs this
project runs on but a session may not have (AVX2-only, AVX512 without BF16, AVX512-BF16 without
AMX): what `auto` decides between has to hold on all of them.

Each cap runs in its own process under a CPUID mask (`bench/isa_mask.py`: the extensions above the
level are hidden from CPUID, so ONNX Runtime's MLAS, oneDNN, MKL, ATen and numpy all dispatch as on
such a CPU), with oneDNN (`ONEDNN_MAX_CPU_ISA`), MKL (`MKL_ENABLE_INSTRUCTIONS`) and ATen
(`ATEN_CPU_CAPABILITY`) also capped by their own switches; oneDNN's verbose line (for one matmul)
proves which ISA it ran. The kernels run on this CPU's cores: the instruction set is the other CPU's,
the clock, caches and core count are this one's. Passages come from the shared parallel data.

    .venv/bin/python bench/encoder_isa.py [--passages 384] [--caps native,AVX2,...] [--student PATH]

`--student` adds a smaller model (a `--keep-layers` student) on ONNX Runtime int8 at every cap.
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
# cap -> (oneDNN ISA, MKL instructions, ATen capability, CPUID mask); the CPUs they stand for.
CAPS = {
    "native": (None, None, None, "native"),
    # Cooper Lake, Zen 4: BF16, no AMX
    "AVX512_CORE_BF16": ("AVX512_CORE_BF16", "AVX512", "avx512", "avx512-bf16"),
    # Skylake-SP, Cascade Lake, Ice Lake: AVX512 (VNNI), no BF16
    "AVX512_CORE_VNNI": ("AVX512_CORE_VNNI", "AVX512", "avx512", "avx512"),
    "AVX2": ("AVX2", "AVX2", "avx2", "avx2"),  # Haswell..Zen 3 and many laptops
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


# variant -> (backend, precision) of Encoder.load; "student-int8" loads --student.
VARIANTS = {
    "fp32": ("torch", "fp32"),
    "bf16": ("torch", "bf16"),
    "int8": ("onnx-int8", "fp32"),
    "student-int8": ("onnx-int8", "fp32"),
}


def measure(variants: list[str], n: int, repeats: int, student: str | None) -> dict:
    """In this process (caps already in its environment): chunks/s per variant."""
    import torch

    from rosetta.models import Encoder
    from rosetta.models.cpu import isa_flags, isa_mask
    from rosetta.settings import Settings

    # oneDNN names the ISA it dispatches to in its verbose lines (verbose only here: it slows runs).
    a = torch.randn(64, 64, dtype=torch.bfloat16)
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        torch.nn.functional.linear(a, a)
    sys.stdout.flush()
    texts = passages(n)
    settings = Settings()
    out: dict = {
        "isa_mask": isa_mask(),
        "cpu_flags_seen": isa_flags(),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
    for variant in variants:
        backend, precision = VARIANTS[variant]
        model = student if variant.startswith("student") else "multilingual-e5-small"
        enc = Encoder.load(model, settings.models_dir, "cpu", precision, backend)
        enc.encode_documents(texts[:64], batch_size=32)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            enc.encode_documents(texts, batch_size=32)
            best = min(best, time.perf_counter() - t0)
        out[variant] = round(len(texts) / best, 1)
    return out


def run_capped(cap: str, n: int, repeats: int, variants: list[str], student: str | None) -> dict:
    from isa_mask import masked_env

    onednn, mkl, aten, mask = CAPS[cap]
    env = masked_env(mask)
    caps = {"ONEDNN_MAX_CPU_ISA": onednn, "MKL_ENABLE_INSTRUCTIONS": mkl, "ATEN_CPU_CAPABILITY": aten}
    env.update({key: value for key, value in caps.items() if value})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--passages", str(n), "--repeats", str(repeats)]
        + ["--variants", ",".join(variants)]
        + (["--student", student] if student else []),
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
    ap.add_argument("--variants", default="fp32,bf16,int8")
    ap.add_argument("--student", default=None, help="a smaller model, also measured as student-int8")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    variants = args.variants.split(",")
    if args.student and "student-int8" not in variants:
        variants.append("student-int8")
    if "fp32" not in variants or ("student-int8" in variants and not args.student):
        raise SystemExit("--variants must include fp32 (the reference); student-int8 needs --student")
    if args.child:
        print(json.dumps(measure(variants, args.passages, args.repeats, args.student)))
        return 0

    from rosetta.models.cpu import isa_flags

    rows = {}
    for cap in args.caps.split(","):
        rows[cap] = run_capped(cap, args.passages, args.repeats, variants, args.student)
        r = rows[cap]
        r["over_fp32"] = {v: round(r[v] / r["fp32"], 2) for v in variants if v != "fp32"}
        print(
            f"{cap:18s} oneDNN {r['onednn_isa'][:40]:40s} ATen {r['aten_capability']:8s} "
            f"fp32 {r['fp32']:6.1f}  "
            + "  ".join(f"{v} {r[v]:6.1f} ({x:.2f}x)" for v, x in r["over_fp32"].items()),
            flush=True,
        )
    result = {
        "passages": args.passages,
        "unit": "chunks/s, best of repeats, threads = cores",
        "student": args.student,
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
