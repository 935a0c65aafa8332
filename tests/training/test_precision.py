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


def _step(layout: torch.memory_format, widths: torch.Tensor | None) -> tuple[float, list[torch.Tensor]]:
    """One training step's loss and gradients, the model and its training-only CNN head in ``layout``."""
    from crnn_ctc.bundle import new_bundle
    from crnn_ctc.charset import Charset
    from crnn_ctc.training.cnn_head import WithCnnHead

    torch.manual_seed(0)
    images = torch.rand(4, 1, 32, 96)
    targets = torch.randint(1, 27, (4, 4))
    network = WithCnnHead(new_bundle("small", Charset.preset("lower-alnum"), seed=3).model).train()
    network.to(memory_format=layout)
    main, head = network(images, widths)
    steps = main.shape[1]
    lengths = network.model.output_lengths(widths) if widths is not None else torch.full((4,), steps)
    loss = sum(
        weight * torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, lengths, torch.full((4,), 4))
        for weight, log_probs in ((1.0, main), (0.5, head))
    )
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in network.parameters()]


def test_channels_last_computes_the_same_step_as_nchw() -> None:
    """The layout is a speed choice only: loss and gradients match NCHW's up to rounding."""
    loss_a, grads_a = _step(torch.contiguous_format, None)
    loss_b, grads_b = _step(torch.channels_last, None)
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5)


def test_channels_last_with_widths_masked_matches_nchw_closely() -> None:
    """With widths masked the loss still matches; a few gradient entries of the deeper convolutions
    differ (measured: at most 1.1% of a tensor's gradient norm), most likely where max pooling meets
    masked columns of equal values and each layout's kernel picks another of the equal maxima."""
    widths = torch.tensor([96, 80, 57, 40])
    loss_a, grads_a = _step(torch.contiguous_format, widths)
    loss_b, grads_b = _step(torch.channels_last, widths)
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        assert float((b - a).norm()) <= 0.03 * float(a.norm()) + 1e-6
