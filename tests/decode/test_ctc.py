"""The CTC forward algorithm and best alignments against PyTorch's CTC loss and brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from crnn_ctc.decode import ctc
from ctc_reference import brute_force_distribution, collapse, random_log_probs


def test_forward_equals_exp_of_minus_torch_ctc_loss(rng) -> None:
    log_probs = random_log_probs(rng, (6, 12, 6))
    lengths = np.array([12, 9, 5, 12, 1, 12])
    labels = [[1, 2, 2, 3], [5], [4, 4], [], [2], [1, 2, 3, 4, 5, 1, 2, 3]]
    padded, label_lengths = ctc.pad_labels(labels)
    ours = ctc.log_likelihood(log_probs, lengths, padded, label_lengths)
    loss = torch.nn.functional.ctc_loss(
        torch.from_numpy(log_probs).transpose(0, 1), torch.from_numpy(padded), torch.from_numpy(lengths),
        torch.from_numpy(label_lengths), reduction="none", zero_infinity=False,
    )  # fmt: skip
    np.testing.assert_allclose(np.exp(ours), np.exp(-loss.double().numpy()), rtol=1e-5, atol=1e-12)


def test_forward_equals_brute_force_and_handles_rows_and_labels_that_do_not_fit(rng) -> None:
    log_probs = random_log_probs(rng, (2, 5, 3), sharpness=1.0)
    lengths = np.array([5, 3])
    exact = [brute_force_distribution(log_probs[row], int(lengths[row])) for row in range(2)]
    pairs = [(0, ()), (0, (1,)), (0, (1, 1)), (0, (2, 1, 2)), (1, (1, 2)), (1, (2, 2)), (1, (1, 1, 1)), (0, (1,) * 3)]
    padded, label_lengths = ctc.pad_labels([list(label) for _, label in pairs])
    rows = np.array([row for row, _ in pairs])
    ours = np.exp(ctc.log_likelihood(log_probs, lengths, padded, label_lengths, rows))
    expected = [exact[row].get(label, 0.0) for row, label in pairs]
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-15)
    assert ours[6] == 0.0  # "aaa" needs 5 steps, row 1 has 3
    np.testing.assert_array_equal(ctc.required_steps(padded, label_lengths), [0, 1, 3, 3, 2, 3, 5, 5])


def test_chunks_give_the_same_scores(rng, monkeypatch) -> None:
    log_probs = random_log_probs(rng, (3, 8, 5))
    labels = [list(rng.integers(1, 5, size=rng.integers(0, 5))) for _ in range(40)]
    padded, label_lengths = ctc.pad_labels(labels)
    rows = rng.integers(0, 3, size=40)
    whole = ctc.log_likelihood(log_probs, np.array([8, 6, 4]), padded, label_lengths, rows)
    monkeypatch.setattr(ctc, "_CHUNK_STATES", 7)
    np.testing.assert_array_equal(
        ctc.log_likelihood(log_probs, np.array([8, 6, 4]), padded, label_lengths, rows), whole
    )


def test_best_alignment_char_probs_follow_the_most_likely_path(rng) -> None:
    log_probs = random_log_probs(rng, (1, 6, 3), sharpness=1.5)
    probs = np.exp(log_probs[0].astype(np.float64))
    for label in [(1,), (1, 2), (2, 2), (1, 2, 1)]:
        paths = [p for p in itertools.product(range(3), repeat=6) if collapse(p) == label]
        best = max(paths, key=lambda p: np.prod(probs[np.arange(6), p]))
        # Symbol k's runs on the best path: the k-th run of a non-blank class.
        expected = np.zeros(len(label))
        run = -1
        for step, cls in enumerate(best):
            if cls != 0 and (step == 0 or best[step - 1] != cls):
                run += 1
            if cls != 0:
                expected[run] = max(expected[run], probs[step, cls])
        padded, label_lengths = ctc.pad_labels([list(label)])
        ours = ctc.best_alignment_char_probs(log_probs, np.array([6]), padded, label_lengths)[0]
        np.testing.assert_allclose(ours, expected, rtol=1e-6)
    unfit, unfit_length = ctc.pad_labels([[1, 1, 1, 1]])
    assert not ctc.best_alignment_char_probs(log_probs, np.array([6]), unfit, unfit_length).any()
