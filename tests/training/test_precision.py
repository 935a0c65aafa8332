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
    assert chosen.dtype is None and chosen.name == "fp32"
    assert "no native bf16" in chosen.reason
    assert chosen.channels_last  # NHWC is the faster layout on a CPU in fp32 too


@pytest.mark.parametrize("flags", [SAPPHIRE_RAPIDS, ZEN5, frozenset({"amx_bf16"})])
def test_auto_is_bf16_channels_last_where_the_cpu_computes_bf16(flags: frozenset[str]) -> None:
    chosen = choose_precision("auto", CPU, flags)
    assert chosen.dtype is torch.bfloat16 and chosen.channels_last and chosen.name == "bf16"


def test_explicit_choices_are_kept_whatever_the_cpu() -> None:
    assert choose_precision("off", CPU, SAPPHIRE_RAPIDS).dtype is None
    assert choose_precision("off", CPU, ZEN3_AVX2).channels_last
    cuda = torch.device("cuda")  # these choices ask nothing of the device, so no GPU is needed here
    assert not choose_precision("off", cuda).channels_last and not choose_precision("bf16", cuda).channels_last
    assert choose_precision("bf16", CPU, ZEN3_AVX2).dtype is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        choose_precision("fp16", CPU, SAPPHIRE_RAPIDS)


def test_cpu_flags_reads_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n", encoding="utf-8")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_channels_last_computes_the_same_step_as_nchw() -> None:
    """The layout is a speed choice only: loss and gradients match NCHW's up to rounding."""
    from crnn_ctc.bundle import new_bundle
    from crnn_ctc.charset import Charset

    torch.manual_seed(0)
    images = torch.rand(4, 1, 32, 96)
    targets = torch.randint(1, 27, (4, 5))
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        model = new_bundle("small", Charset.preset("lower-alnum"), seed=3).model.train()
        model.to(memory_format=layout)
        log_probs = model(images).transpose(0, 1)  # (T, N, classes), as ctc_loss takes them
        lengths = torch.full((4,), log_probs.shape[0], dtype=torch.long)
        loss = torch.nn.functional.ctc_loss(log_probs, targets, lengths, torch.full((4,), 5, dtype=torch.long))
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5)
