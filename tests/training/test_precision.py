"""The precision ``--amp auto`` picks, for both kinds of CPU this project runs on (faked flags)."""

from __future__ import annotations

import pytest
import torch

from crnn_ctc.errors import ConfigError
from crnn_ctc.training.precision import choose_precision, cpu_flags

CPU = torch.device("cpu")
ZEN3_AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})
SAPPHIRE_RAPIDS = ZEN3_AVX2 | {"avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"}
ZEN5 = ZEN3_AVX2 | {"avx512f", "avx512_vnni", "avx512_bf16"}


def test_auto_is_fp32_on_a_cpu_without_native_bf16() -> None:
    chosen = choose_precision("auto", CPU, ZEN3_AVX2)
    assert chosen.dtype is None and chosen.name == "fp32" and not chosen.channels_last
    assert "no native bf16" in chosen.reason


@pytest.mark.parametrize("flags", [SAPPHIRE_RAPIDS, ZEN5, frozenset({"amx_bf16"})])
def test_auto_is_bf16_channels_last_where_the_cpu_computes_bf16(flags: frozenset[str]) -> None:
    chosen = choose_precision("auto", CPU, flags)
    assert chosen.dtype is torch.bfloat16 and chosen.channels_last and chosen.name == "bf16"


def test_explicit_choices_are_kept_whatever_the_cpu() -> None:
    assert choose_precision("off", CPU, SAPPHIRE_RAPIDS).dtype is None
    assert choose_precision("bf16", CPU, ZEN3_AVX2).dtype is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        choose_precision("fp16", CPU, SAPPHIRE_RAPIDS)


def test_cpu_flags_reads_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n", encoding="utf-8")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
