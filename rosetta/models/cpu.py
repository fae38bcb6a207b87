"""What this CPU computes natively, read from /proc/cpuinfo: the facts the encoder's defaults are
chosen by, and what every benchmark result records (machines of this project differ: AVX2 only,
AVX512, AVX512 with BF16 and AMX)."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

_X86 = {"x86_64", "amd64"}
_ARM = {"aarch64", "arm64"}
# bench/isa_mask.py runs a benchmark as if on an older CPU by hiding extensions from CPUID (the
# kernels of ONNX Runtime, oneDNN and ATen follow CPUID); it names the level in this variable so
# that the defaults chosen here, read from /proc/cpuinfo, follow the same CPU. Flag prefixes hidden:
ISA_MASK_ENV = "ROSETTA_ISA_MASK"
_NEWER_256 = ("avx_vnni", "avx_ifma", "avx_ne_convert", "avx10")
_HIDDEN = {
    "avx512-bf16": ("amx", "avx512_fp16", *_NEWER_256),
    "avx512": ("amx", "avx512_fp16", "avx512_bf16", *_NEWER_256),
    "avx2": ("amx", "avx512", *_NEWER_256),
}


@functools.cache
def cpu_flags() -> frozenset[str]:
    hidden = _HIDDEN.get(os.environ.get(ISA_MASK_ENV, ""), ())
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(f for f in line.split(":", 1)[1].split() if not f.startswith(hidden))
    except OSError:
        pass
    return frozenset()


ISA_MASK_LEVELS = ("native", *_HIDDEN)


def isa_mask() -> str:
    """The CPUID mask this process runs under ("native" without one); results record it."""
    level = os.environ.get(ISA_MASK_ENV, "")
    return level if level in _HIDDEN else "native"


def isa_flags() -> list[str]:
    """The vector-instruction flags (AVX*, AMX, FMA; ARM's dot product and BF16) a result records."""
    return sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "asimddp", "bf16")))


def int8_fast_here() -> bool:
    """Integer dot products ONNX Runtime's int8 kernels need: AVX2 (x86) or ARMv8.2 dot product."""
    machine = platform.machine().lower()
    if machine in _X86:
        return "avx2" in cpu_flags()
    if machine in _ARM:
        return "asimddp" in cpu_flags() or machine == "arm64"  # Apple silicon reports no cpuinfo
    return False


def bf16_fast_here() -> bool:
    """Is bf16 encoding faster than fp32 on this CPU? Measured (bench/results/encoder_isa.json,
    torch bf16 / fp32 encoder throughput with newer extensions hidden from CPUID): AMX 3.05-3.36x,
    AVX512-BF16 without AMX 0.77-0.80x, AVX512 0.29-0.30x, AVX2 0.18-0.20x. So x86 CPUs with AMX only; not
    torch's own check, which accepts any AVX512 CPU. ARM's BF16 extension is unmeasured: not chosen."""
    return platform.machine().lower() in _X86 and "amx_bf16" in cpu_flags()
