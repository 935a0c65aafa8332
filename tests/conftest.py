"""Shared fixtures: a random model file and generated word images (no data files needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from crnn_ctc.bundle import ModelBundle, new_bundle, save_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.decode import GreedyDecoder
from crnn_ctc.preprocess import collate, preprocess

torch.set_num_threads(1)

WORDS = ["hello", "coffee", "0011", "crnn", "a", "recognition", "xyz42", "street", "ok", "bookkeeper"]


def render_word(text: str, height: int = 32, scale: int = 1, ink: int = 0, paper: int = 255) -> Image.Image:
    """A gray image of ``text`` in Pillow's built-in font, width following the text length."""
    font = ImageFont.load_default(size=20 * scale)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 8 * scale, max(height * scale, bottom - top + 8 * scale)), paper)
    ImageDraw.Draw(image).text((4 * scale - left, 4 * scale - top), text, fill=ink, font=font)
    return image


def fixture_images() -> list[Image.Image]:
    """One image per word of ``WORDS``, at three scales so widths vary within a batch."""
    return [render_word(word, scale=1 + index % 3) for index, word in enumerate(WORDS)]


def overfit_words(bundle: ModelBundle, max_steps: int = 600) -> int:
    """Train ``bundle``'s network on ``fixture_images`` until it reads every word; return the steps.

    A random network outputs nearly the same text for every image, which would let tests of
    batching and decoding pass vacuously; a network that reads its words makes them bite.
    """
    arrays = [preprocess(image, bundle.preprocess) for image in fixture_images()]
    batch, widths = collate(arrays)
    images, true_widths = torch.from_numpy(batch), torch.from_numpy(widths)
    targets = torch.tensor([index for word in WORDS for index in bundle.charset.encode(word)])
    target_lengths = torch.tensor([len(word) for word in WORDS])
    model = bundle.model
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    for step in range(1, max_steps + 1):
        model.train()
        log_probs = model(images, true_widths)
        loss = ctc(log_probs.transpose(0, 1), targets, model.output_lengths(true_widths), target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0:
            model.eval()
            with torch.no_grad():
                log_probs = model(images, true_widths).numpy()
            lengths = model.output_lengths(true_widths).numpy()
            texts = [d.text for d in GreedyDecoder(bundle.charset).decode(log_probs, lengths)]
            if texts == WORDS:
                return step
    raise AssertionError(f"the fixture model did not learn {WORDS} in {max_steps} steps")


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``small`` lower-alnum model trained to read ``fixture_images`` (about 20 s on one thread)."""
    bundle = new_bundle("small", Charset.preset("lower-alnum"), seed=1234)
    steps = overfit_words(bundle)
    bundle.provenance["training"] = f"overfit on {len(WORDS)} fixture words, {steps} steps"
    path = tmp_path_factory.mktemp("model") / "fixture.safetensors"
    save_bundle(bundle, path)
    return path


@pytest.fixture(scope="session")
def word_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """PNG files of varied widths (and one JPEG), one per word of ``WORDS``."""
    folder = tmp_path_factory.mktemp("words")
    paths = []
    for index, (word, image) in enumerate(zip(WORDS, fixture_images(), strict=True)):
        path = folder / (f"{index:02d}_{word}." + ("jpg" if index == 3 else "png"))
        image.save(path)
        paths.append(path)
    return paths


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
