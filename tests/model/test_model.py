import pytest
import torch

from crnn_ctc.errors import ConfigError
from crnn_ctc.model import ARCHITECTURES, ModelConfig, build_model
from crnn_ctc.model.sequence import reverse_padded


def _model(arch: str, classes: int = 37, height: int = 32) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig.for_arch(arch, classes, height=height)).eval()


def test_vgg_matches_the_paper() -> None:
    model = _model("vgg")
    parameters = sum(p.numel() for p in model.parameters())
    assert 8.2e6 < parameters < 8.4e6  # 8.3M with a linear layer between the two BiLSTMs
    assert model.config.output_length(100) == 26
    convs = [m for m in model.cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2


def test_small_is_much_smaller() -> None:
    small = sum(p.numel() for p in _model("small").parameters())
    assert small < 2.5e6


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_output_is_log_probabilities_with_predicted_length(arch: str) -> None:
    model = _model(arch)
    for width in (16, 17, 23, 100, 257):
        with torch.no_grad():
            log_probs = model(torch.randn(2, 1, 32, width))
        assert log_probs.shape == (2, model.config.output_length(width), 37)
        assert model.output_lengths(torch.tensor([width])).item() == log_probs.shape[1]
        assert torch.allclose(log_probs.exp().sum(2), torch.ones(2, log_probs.shape[1]), atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_padding_never_changes_a_result(arch: str) -> None:
    """A padded image in a batch gets the same outputs as the same image alone."""
    model = _model(arch)
    torch.manual_seed(1)
    widths = torch.tensor([131, 100, 37, 16])
    batch = torch.randn(4, 1, 32, 131)
    with torch.no_grad():
        together = model(batch, widths)
        lengths = model.output_lengths(widths)
        for row, width in enumerate(widths.tolist()):
            alone = model(batch[row : row + 1, :, :, :width])
            assert alone.shape[1] == lengths[row]
            torch.testing.assert_close(together[row, : lengths[row]], alone[0], atol=1e-4, rtol=1e-4)


def test_taller_inputs_fold_rows_and_too_short_inputs_are_refused() -> None:
    model = _model("vgg", height=48)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 48, 100)).shape == (1, 26, 37)
    with pytest.raises(ConfigError, match="too small"):
        ModelConfig.for_arch("vgg", 37, height=16)
    with pytest.raises(ConfigError, match="unknown architecture"):
        ModelConfig.for_arch("resnet9000", 37)


def test_config_round_trips_through_dict() -> None:
    config = ModelConfig.for_arch("small", 63, in_channels=3)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown model parameters"):
        ModelConfig.from_dict({**config.to_dict(), "dropout": 0.5})


def test_reverse_padded_reverses_within_each_length() -> None:
    sequences = torch.arange(10, dtype=torch.float32).view(2, 5, 1).clone()
    reversed_ = reverse_padded(sequences, torch.tensor([3, 5]))
    assert reversed_[0, :, 0].tolist() == [2, 1, 0, 3, 4]
    assert reversed_[1, :, 0].tolist() == [9, 8, 7, 6, 5]
    assert torch.equal(reverse_padded(reversed_, torch.tensor([3, 5])), sequences)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_a_new_model_starts_with_open_forget_gates(arch: str) -> None:
    """Every LSTM's forget-gate bias sums to 1 and the other gates' to PyTorch's small random start."""
    lstms = [m for m in _model(arch).modules() if isinstance(m, torch.nn.LSTM)]
    assert len(lstms) == 4
    for lstm in lstms:
        hidden = lstm.hidden_size
        total = lstm.bias_ih_l0 + lstm.bias_hh_l0
        torch.testing.assert_close(total[hidden : 2 * hidden], torch.ones(hidden))
        assert total[:hidden].abs().max() < 2 / hidden**0.5 and total[2 * hidden :].abs().max() < 2 / hidden**0.5
