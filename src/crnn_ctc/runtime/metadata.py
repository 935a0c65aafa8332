"""The metadata keys a ``crnn export`` graph carries beside the model's JSON config (``bundle.METADATA_KEY``):
the source model file's SHA-256 (``bundle.file_sha256``) and the quantisation. ``export.py`` writes them;
the runtime (``int8_companion``: does this int8 graph belong to this model file?), ``crnn info`` and the
service read them; and the default opset, which ``crnn export --help`` shows without importing PyTorch.
Neutral ground: it imports nothing, so writers and readers share it without a cycle."""

from __future__ import annotations

SOURCE_KEY = "crnn_ctc_source_sha256"
QUANTIZATION_KEY = "crnn_ctc_quantization"
DEFAULT_OPSET = 17
