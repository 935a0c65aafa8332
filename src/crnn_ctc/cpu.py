"""What the CPU computes fast, read from its feature flags: the one place that asks, for every choice
that depends on it (the training precision, the int8 graph of ``--backend auto``)."""

from __future__ import annotations

import platform
from pathlib import Path

# Under any of these (as Linux's /proc/cpuinfo names them) ONNX Runtime's int8 matrix kernels add u8 x s8
# products in 32 bits. Without them, on x86 (AVX2 only, or AVX-512 without VNNI), the u8s8 kernels add
# pairs of products in 16 bits first, which saturates: there the bundled static int8 graph read 65.85%
# of IIIT5K against fp32's 67.65%, where with VNNI it reads exactly as fp32 does. There the engine now
# asks for exact kernels (``int8_kernels_may_saturate``), and reads as with VNNI; ``auto`` still runs
# int8 only with VNNI, since those kernels' speed has not been measured on such a CPU.
INT8_VNNI_CPU_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags; empty where the system does not list them (not Linux, no x86)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def int8_reads_like_fp32(flags: frozenset[str] | None = None, machine: str | None = None) -> bool:
    """Whether an int8 graph may stand in for fp32 on this CPU: x86 with VNNI (AVX512_VNNI, AVX_VNNI or
    AMX_INT8) only. Other CPUs (ARM...) keep fp32, since int8 has not been measured there. ``flags`` and
    ``machine`` override the CPU's (for tests)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in X86_MACHINES:
        return False
    return bool((cpu_flags() if flags is None else flags) & INT8_VNNI_CPU_FLAGS)


def int8_kernels_may_saturate(flags: frozenset[str] | None = None, machine: str | None = None) -> bool:
    """x86 without VNNI, where ONNX Runtime's u8s8 kernels add pairs of uint8 x int8 products in 16 bits
    (VPMADDUBSW) and can saturate; ``runtime/onnx_engine.py`` then asks for its exact kernels."""
    machine = (machine if machine is not None else platform.machine()).lower()
    return machine in X86_MACHINES and not int8_reads_like_fp32(flags, machine)


# The flags that decide the int8 graph and bf16 training, as benchmarks report them.
REPORTED_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


def cpu_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name, or the machine type where the system does not say."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_cpu(flags: frozenset[str] | None = None) -> str:
    """One line for benchmark reports: the CPU, which of ``REPORTED_CPU_FLAGS`` it has, and the int8 rule."""
    flags = cpu_flags() if flags is None else flags
    present = " ".join(flag for flag in REPORTED_CPU_FLAGS if flag in flags) or "none of those that decide"
    rule = "used (VNNI)" if int8_reads_like_fp32(flags) else "not used (no VNNI): fp32"
    return f"CPU: {cpu_name()} ({platform.machine()}); flags: {present}; int8 graphs under --backend auto: {rule}"
