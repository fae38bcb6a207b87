"""Run a benchmark as if on a CPU with fewer instruction-set extensions (AVX2-only, AVX512 without
BF16, AVX512-BF16 without AMX), for the machines of this project a session may not be lent.

`cpuid_mask.c`, preloaded, hides the level's extensions from CPUID (through Linux's CPUID faulting),
so ONNX Runtime, oneDNN, ATen and numpy all dispatch as they would there, on this CPU's cores. It
stands in for the instruction set, not for another CPU's clock, caches or core count.

    from isa_mask import reexec_masked
    reexec_masked(args.isa)  # first thing in main(): re-runs this script under the mask, once
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from rosetta.models.cpu import ISA_MASK_ENV, ISA_MASK_LEVELS, cpu_flags, isa_mask
from rosetta.settings import user_cache_dir

# glibc picks its own string-function variants in ld.so, before the preload runs: its tunable
# hides AVX512 from them (the ML kernels measured do not depend on it).
GLIBC_HIDE = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
SOURCE = Path(__file__).with_name("cpuid_mask.c")


def library() -> Path:
    """The preload library, compiled once per source version into the user's cache."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    out = user_cache_dir() / "bench" / f"cpuid_mask-{digest}.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE), "-ldl"], check=True)
        tmp.replace(out)
    return out


def supported() -> bool:
    """CPUID faulting is what the mask needs (x86-64 Linux, `cpuid_fault` in the CPU flags)."""
    return "cpuid_fault" in cpu_flags()


def masked_env(level: str, env: dict[str, str] | None = None) -> dict[str, str]:
    if level not in ISA_MASK_LEVELS:
        raise SystemExit(f"--isa {level}: expected one of {', '.join(ISA_MASK_LEVELS)}")
    env = dict(os.environ if env is None else env)
    if level == "native":
        env.pop(ISA_MASK_ENV, None)
        return env
    if not supported():
        raise SystemExit(f"--isa {level}: this CPU or kernel has no CPUID faulting (cpuid_fault)")
    env[ISA_MASK_ENV] = level
    if level == "avx2":
        env["GLIBC_TUNABLES"] = ":".join(t for t in (env.get("GLIBC_TUNABLES", ""), GLIBC_HIDE) if t)
    env["LD_PRELOAD"] = ":".join(p for p in (str(library()), env.get("LD_PRELOAD", "")) if p)
    return env


def reexec_masked(level: str) -> None:
    """Replace this process by the same command under the mask, unless it already runs under it."""
    if level == isa_mask():
        return
    env = masked_env(level)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
