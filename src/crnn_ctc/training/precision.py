"""Which precision a training run computes in, chosen from what the device computes fast.

bf16 autocast is only a gain where the hardware has bf16 arithmetic: on a CPU with AVX512_BF16 or
AMX it measured 2.2 times fp32's training speed, and on an AVX2-only CPU 13 times *slower*, since
every bf16 operation is then emulated. So ``auto`` asks the CPU (or the CUDA device) before it picks.

On a CPU the model is kept in channels_last (NHWC) whatever the precision: oneDNN's pooling, batch norm
and convolutions are faster in it, in fp32 too (on an AVX2-only CPU the fp32 step's operators took 0.85
of their NCHW time, max pooling a seventh: docs/benchmarks.md).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

import torch

from ..cpu import cpu_flags
from ..errors import ConfigError

# CPU flags (as Linux's /proc/cpuinfo names them) under which bf16 matrix products run natively.
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@dataclass(frozen=True)
class Precision:
    """The autocast dtype (None: plain fp32), whether to use channels_last, and why it was chosen."""

    dtype: torch.dtype | None
    channels_last: bool
    reason: str

    @property
    def layout(self) -> str:
        return "channels_last" if self.channels_last else "nchw"

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    return bool((cpu_flags() if flags is None else flags) & NATIVE_BF16_CPU_FLAGS)


def choose_precision(amp: str, device: torch.device, flags: frozenset[str] | None = None) -> Precision:
    """``amp`` is ``off``, ``auto``, ``bf16`` or ``fp16``; ``flags`` overrides the CPU's (for tests)."""
    on_cpu = device.type == "cpu"
    if amp == "off":
        return Precision(None, on_cpu, "--amp off")
    if amp == "fp16":
        if device.type != "cuda":
            raise ConfigError("--amp fp16 needs a CUDA device; use --amp bf16 (or auto) on the CPU")
        return Precision(torch.float16, False, "--amp fp16")
    if amp == "bf16":
        return Precision(torch.bfloat16, on_cpu, "--amp bf16")
    if amp != "auto":
        raise ConfigError(f"--amp must be off, auto, bf16 or fp16, got {amp!r}")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision(torch.bfloat16, False, "auto: the CUDA device computes bf16")
        return Precision(torch.float16, False, "auto: fp16 (this CUDA device has no bf16)")
    if on_cpu and cpu_has_native_bf16(flags):
        return Precision(torch.bfloat16, True, "auto: the CPU computes bf16 natively (AVX512_BF16/AMX)")
    where = platform.machine() or "this CPU"
    return Precision(None, on_cpu, f"auto: fp32, since {where} has no native bf16 (bf16 would be emulated, slower)")
