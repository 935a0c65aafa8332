"""ONNX export: dynamic batch and width, the model's config in the file's metadata, a parity check.

The fp32 graph comes from ``runtime.onnx_graph.onnx_bytes`` (why the TorchScript exporter: see there),
which the runtime also uses on a miss of its export cache. Export builds on the runtime, never the
reverse: the parity check runs the graph as an ``OnnxEngine``.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .extras import extra_imports

with extra_imports("train", "ONNX export"):
    import torch

from .bundle import ModelBundle, file_sha256
from .errors import CrnnError, ImageError, OutputError
from .files import atomic_file, check_writable, refuse_same_file
from .preprocess import collate
from .runtime.metadata import QUANTIZATION_KEY, SOURCE_KEY
from .runtime.onnx_engine import OnnxEngine
from .runtime.onnx_graph import DEFAULT_OPSET, onnx_bytes

PARITY_WIDTHS = (16, 100, 257, 640)
PARITY_BATCHES = (1, 3)
PARITY_TOLERANCE = 1e-3  # max |difference| of log-probabilities, fp32
# int8 changes numbers by design: it must still pick the same class at (nearly) every step.
INT8_MIN_AGREEMENT = 0.99
# A step where PyTorch itself found the int8 graph's class at least half as likely as its own best is a
# near-tie, not a disagreement: any rounding flips those (a lightly trained model has a few per hundred
# steps: 2 of 131 on the test fixture on an AVX2 CPU, at margins of 0.09-0.12). A broken graph picks
# classes PyTorch ruled out: 87 of the 90 steps that ONNX Runtime's saturating kernels changed there.
INT8_TIE_MARGIN = math.log(2)
# Dynamic int8 (no calibration): measured here (docs/benchmarks.md), quantising the matrix products
# and LSTMs is 1.1-1.45x faster than fp32, while quantising every op (ConvInteger) is 2-3x slower.
INT8_OPS = ("MatMul", "Gemm", "LSTM")
# Static int8 (calibrated, QDQ): the convolutions, where most of the cost is, run as int8 kernels
# (VNNI), 1.5-2x fp32; the LSTMs stay fp32 (quantising them too cost accuracy and gained nothing).
STATIC_INT8_OPS = ("Conv", "MatMul", "Gemm")
INT8_METHODS = ("static", "dynamic")
CALIBRATION_COUNT = 256


class ExportError(CrnnError):
    """An export failed, or its parity check found outputs that differ from PyTorch's."""


def quantize_int8(model_bytes: bytes) -> bytes:
    """Dynamic int8 quantisation of the matrix products and LSTMs (``INT8_OPS``) only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(model_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(source, target, op_types_to_quantize=list(INT8_OPS), weight_type=QuantType.QInt8)
        return target.read_bytes()


def _parity_batches(
    bundle: ModelBundle, images: Sequence[np.ndarray] | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Random images at ``PARITY_WIDTHS`` x ``PARITY_BATCHES`` with padding, or ``images`` (preprocessed)
    in batches of 8: a calibrated int8 graph is only meant for inputs like its calibration images."""
    if images is not None:
        for start in range(0, len(images), 8):
            yield collate(list(images[start : start + 8]))
        return
    generator = np.random.default_rng(0)
    channels, height = bundle.preprocess.channels, bundle.preprocess.height
    for width in PARITY_WIDTHS:
        for batch in PARITY_BATCHES:
            widths = np.full(batch, width, dtype=np.int64)
            widths[1:] = generator.integers(max(16, width // 3), width + 1, size=batch - 1)
            yield generator.standard_normal((batch, channels, height, width)).astype(np.float32), widths


def int8_agreeing_steps(reference: np.ndarray, got: np.ndarray) -> int:
    """Steps (rows of two ``(T, C)`` log-prob arrays) where ``got``'s best class is ``reference``'s best,
    or one ``reference`` found within ``INT8_TIE_MARGIN`` of it (a near-tie that any rounding flips)."""
    picked = np.take_along_axis(reference, got.argmax(-1)[:, None], axis=-1)[:, 0]
    return int((reference.max(-1) - picked <= INT8_TIE_MARGIN).sum())


def parity_check(
    bundle: ModelBundle,
    model_bytes: bytes,
    tolerance: float = PARITY_TOLERANCE,
    int8: bool = False,
    images: Sequence[np.ndarray] | None = None,
) -> float:
    """Largest |log-prob difference| between PyTorch and ONNX Runtime over several widths and batch
    sizes (or over ``images``), with padding; raises ``ExportError`` above ``tolerance`` (fp32), below
    ``INT8_MIN_AGREEMENT`` of steps where int8's best class is PyTorch's, or within ``INT8_TIE_MARGIN`` of
    it (int8), or if any length differs."""
    engine = OnnxEngine(model_bytes, threads=1)
    worst = 0.0
    agreeing = steps = 0
    for images_batch, widths in _parity_batches(bundle, images):
        batch, width = images_batch.shape[0], images_batch.shape[-1]
        images_batch = images_batch.astype(np.float32)
        widths = widths.astype(np.int64)
        with torch.no_grad():
            expected = bundle.model(torch.from_numpy(images_batch), torch.from_numpy(widths)).numpy()
            expected_lengths = bundle.model.output_lengths(torch.from_numpy(widths)).numpy()
        got, lengths = engine.run(images_batch, widths)
        if got.shape != expected.shape or not np.array_equal(lengths, expected_lengths):
            raise ExportError(f"ONNX output shape or lengths differ at width {width}, batch {batch}")
        for row, length in enumerate(lengths):
            worst = max(worst, float(np.abs(got[row, :length] - expected[row, :length]).max()))
            agreeing += int8_agreeing_steps(expected[row, :length], got[row, :length])
            steps += int(length)
    if int8:
        if agreeing < INT8_MIN_AGREEMENT * steps:
            raise ExportError(
                f"the int8 model picks a class PyTorch ruled out at {steps - agreeing} of {steps} steps; rejected"
            )
        return worst
    if worst > tolerance:
        raise ExportError(f"ONNX Runtime and PyTorch differ by {worst:.2e} (limit {tolerance:.0e}); export rejected")
    return worst


def quantize_static_int8(model_bytes: bytes, calibration: Sequence[np.ndarray]) -> bytes:
    """Static int8 (QDQ) of ``STATIC_INT8_OPS``: activation ranges from ``calibration`` (preprocessed
    images), weights per channel. 8-bit weights: on x86 CPUs without VNNI the runtime asks ONNX Runtime for
    exact kernels (``runtime/onnx_engine.py``), which 7-bit weights would make unnecessary at a cost of 0.4
    IIIT5K points (docs/benchmarks.md, "int8 on every CPU")."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = [collate(list(calibration[start : start + 32])) for start in range(0, len(calibration), 32)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            return {"images": batch[0].astype(np.float32), "widths": batch[1].astype(np.int64)}

    with tempfile.TemporaryDirectory() as folder:
        source, prepared, target = (Path(folder) / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        source.write_bytes(model_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                prepared, target, Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=list(STATIC_INT8_OPS),
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            )  # fmt: skip
        return target.read_bytes()


def calibration_images(
    bundle: ModelBundle, source: str | Path | None = None, count: int = CALIBRATION_COUNT, seed: int = 0
) -> list[np.ndarray]:
    """``count`` preprocessed images for calibrating int8: from a dataset (any source ``crnn eval``
    reads; evenly spaced), or by default rendered by the synthetic generator with the model's charset
    (so no evaluation set is ever used to tune the graph)."""
    from .preprocess import preprocess

    if count < 16:  # 8 are held out for the check
        raise ExportError(f"calibration needs at least 16 images, got {count}")
    if source is None:
        from .synth import FontWarning, SynthGenerator, preset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FontWarning)  # fonts that cannot draw the charset: not news here
            generator = SynthGenerator.create(
                preset("default").with_changes(height=bundle.preprocess.height), bundle.charset, seed=seed
            )
        return [preprocess(generator.sample(index)[0], bundle.preprocess) for index in range(count)]
    from .data.readers import open_source

    dataset = open_source(Path(source))
    if len(dataset) == 0:
        raise ExportError(f"{source}: no images to calibrate with")
    step = max(1, len(dataset) // count)
    images = []
    for index in range(0, len(dataset), step)[:count]:
        image, _ = dataset[index]
        try:
            images.append(preprocess(image, bundle.preprocess, name=f"{source}[{index}]"))
        except ImageError:
            continue  # a damaged sample is no reason to stop calibrating
    if len(images) < 16:
        raise ExportError(f"{source}: fewer than 16 readable images to calibrate with (8 are held out for the check)")
    return images


def export_onnx(
    bundle: ModelBundle,
    out: str | Path,
    opset: int = DEFAULT_OPSET,
    int8: bool | str = False,
    calibration: str | Path | None = None,
    calibration_count: int = CALIBRATION_COUNT,
) -> tuple[Path, float]:
    """Write ``out`` atomically after a passing parity check; return the path and the worst difference.

    Args:
        bundle: the model file loaded with its network (``bundle.load_bundle``).
        out: the ``.onnx`` file to write; its metadata records the model file's SHA-256, so a graph
            written beside the model as ``NAME.onnx`` / ``NAME.int8.onnx`` is used by ``auto``.
        opset: the ONNX opset.
        int8: False, ``"static"`` (calibrated on ``calibration`` or on synthetic images; True means
            static) or ``"dynamic"``. The static graph is checked on calibration-like images it was
            not calibrated on, since random inputs lie outside the ranges it was calibrated for.
        calibration: a labelled source of images for static calibration (default: synthetic).
        calibration_count: images used to calibrate.

    Returns:
        The path written and the largest difference from PyTorch's log-probabilities in the check.

    Example::

        from crnn_ctc.bundle import BUNDLED_MODEL, load_bundle
        from crnn_ctc.export import export_onnx

        path, worst = export_onnx(load_bundle(BUNDLED_MODEL), "model.onnx")
    """
    method = "static" if int8 is True else (int8 or None)
    if method not in (None, *INT8_METHODS):
        raise ExportError(f"unknown int8 method {method!r}; known: {', '.join(INT8_METHODS)}")
    out = check_writable(out)  # before the export's seconds of work, not after
    if bundle.path is not None:
        refuse_same_file(out, [bundle.path], "--out")
    bundle.model.eval()
    data = onnx_bytes(bundle, opset)
    check_images = None
    if method == "dynamic":
        data = quantize_int8(data)
    elif method == "static":
        images = calibration_images(bundle, calibration, calibration_count)
        held_out = max(8, len(images) // 4)
        data = quantize_static_int8(data, images[:-held_out])
        check_images = images[-held_out:]
    worst = parity_check(bundle, data, int8=method is not None, images=check_images)
    data = _with_provenance(data, bundle, method or "fp32")
    try:
        with atomic_file(out) as file:
            file.write(data)
    except OSError as error:  # a full disk, or a folder made there meanwhile
        raise OutputError(f"{out}: cannot write: {error.strerror or error}") from None
    return out, worst


def _with_provenance(model_bytes: bytes, bundle: ModelBundle, quantization: str) -> bytes:
    """Record the source model file's SHA-256 and the quantisation in the graph's metadata."""
    import onnx

    if bundle.path is None or not bundle.path.is_file():
        return model_bytes
    graph = onnx.load_from_string(model_bytes)
    for key, value in ((SOURCE_KEY, file_sha256(bundle.path)), (QUANTIZATION_KEY, quantization)):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    return graph.SerializeToString()
