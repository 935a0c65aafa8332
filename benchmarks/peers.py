"""crnn-ctc against other OCR engines on the same real word crops, in one run: speed and accuracy.

Why: users choose an engine on speed and accuracy together, and a speed figure means something only
beside the others' measured on the same images, the same machine and at the same moment.

The peers (Tesseract 5 via tesserocr, EasyOCR, RapidOCR) are run by ``../shared/tools/peers/peers.py``
with their own Python environment (``bash ../shared/tools/peers/setup.sh``, as root, makes
``.venv-peers``); each engine runs in its own process with the thread caps below. Our variants run
the same way here: a worker process per variant, images decoded before timing, a warm-up pass, then
the timed pass over every image through ``Recognizer.recognize`` (preprocessing, network, its
decoding). Accuracy is scored by peers.py's own ``score_rows`` (lowercase alphanumerics, the CRNN
paper's protocol), so every row is scored identically.

Our variants (``--ours``): ``auto`` (what ``crnn predict`` uses: the bundled model's int8 graph on
ONNX Runtime), ``onnx`` (fp32 ONNX Runtime) and ``torch`` (PyTorch eager), each at ``bNN`` (batch
size), decoded as ``crnn predict`` does by default (the ``auto`` decoder: greedy, and beam search with the
English word prior where the model is unsure); ``+greedy`` decodes greedily only (``auto+greedy@b64``),
``+words`` with beam search and the word prior for every image (``auto+words@b64``, docs/word_prior.md),
``+narrow`` with ``auto`` but without its wider second reading of unsure images (``auto+narrow@b64``).
Our variants are timed before and after the peers, and the mean of the two passes is reported, since a
shared machine's load drifts.

Usage:
  python benchmarks/peers.py [LABELS.tsv] [--peers-python .venv-peers/bin/python]
      [--engines tess_psm8,rapidocr,easyocr] [--ours auto@b64,auto@b1,onnx@b64,torch@b64]
      [--threads 2] [--limit N] [--out peers_results]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PEERS_TOOL = ROOT.parent / "shared" / "tools" / "peers" / "peers.py"
DEFAULT_LABELS = ROOT.parent / "shared" / "data" / "iiit5k_train" / "labels.tsv"


def peers_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peers_tool", PEERS_TOOL)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{PEERS_TOOL}: not found (the peers tool lives in ../shared/tools/peers)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_ours(args: argparse.Namespace) -> None:
    """Worker: time one of our variants the way peers.py times an engine; write its summary JSON."""
    from PIL import Image

    from crnn_ctc import Recognizer
    from crnn_ctc.decode import DecoderOptions

    peers = peers_module()
    backend, _, batch = args.worker.partition("@")
    backend, _, prior = backend.partition("+")
    batch_size = int(batch.lstrip("b") or 64)
    tsv = Path(args.labels)
    items = peers.read_labels(tsv, args.limit)
    images = []
    for path, _ in items:
        with Image.open(tsv.parent / path) as image:
            images.append(image.convert("RGB"))
    start = time.perf_counter()
    words = DecoderOptions(word_prior="wordfreq")
    decoders = {
        "": ("auto", None), "greedy": ("greedy", None), "words": ("beam", words),
        "narrow": ("auto", DecoderOptions(wider=None)),
    }  # fmt: skip
    if prior not in decoders:
        raise SystemExit(f"--ours {args.worker}: the suffixes are +greedy, +words (the word prior) and +narrow")
    decoder, options = decoders[prior]
    recognizer = Recognizer.load(None, backend=backend, threads=args.threads, decoder=decoder, decoder_options=options)
    load_s = time.perf_counter() - start
    recognizer.recognize(images[: args.warmup], batch_size=batch_size)
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    predictions = recognizer.recognize(images, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    rows = [{"path": p, "gt": g, "pred": pred.text} for (p, g), pred in zip(items, predictions, strict=True)]
    summary = peers.score_rows(rows)
    graph = type(recognizer.engine).__name__
    if hasattr(recognizer.engine, "session"):
        metadata = recognizer.engine.session.get_modelmeta().custom_metadata_map
        graph += f" ({metadata.get('crnn_ctc_quantization', 'fp32')})"
    summary.update(
        engine=f"crnn-ctc {args.worker}", version=f"bundled small model, {graph}", load_s=load_s,
        img_per_s=len(items) / elapsed, time_s=elapsed, cpu_ms_per_img=1000 * cpu / len(items),
        peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, threads=args.threads,
    )  # fmt: skip
    Path(args.json_out).write_text(json.dumps(summary, indent=1))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_ours(args: argparse.Namespace, variant: str, out: Path, peers: ModuleType) -> dict:
    json_out = out / f"summary_ours_{variant.replace('@', '_')}.json"
    command = [sys.executable, __file__, str(args.labels), "--worker", variant, "--threads", str(args.threads),
               "--warmup", str(args.warmup), "--json-out", str(json_out)]  # fmt: skip
    if args.limit:
        command += ["--limit", str(args.limit)]
    env = peers.thread_env(args.threads, "PASSIVE")
    subprocess.run(command, env=env, check=True)
    return json.loads(json_out.read_text())


def time_peers(args: argparse.Namespace, out: Path) -> list[dict]:
    command = [args.peers_python, str(PEERS_TOOL), str(args.labels), "--engines", args.engines,
               "--threads", str(args.threads), "--warmup", str(args.warmup), "--out", str(out / "peers")]  # fmt: skip
    if args.limit:
        command += ["--limit", str(args.limit)]
    subprocess.run(command, check=True)
    folder = out / "peers" / Path(args.labels).parent.name
    return [json.loads((folder / f"summary_{engine}.json").read_text()) for engine in args.engines.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", nargs="?", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--peers-python", default=os.environ.get("PEERS_PYTHON", ".venv-peers/bin/python"))
    parser.add_argument("--engines", default="tess_psm8,rapidocr,easyocr")
    parser.add_argument("--ours", default="auto@b64,auto@b1,onnx@b64,torch@b64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, default=Path("peers_results"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_ours(args)
    if not Path(args.peers_python).is_file():
        raise SystemExit(f"{args.peers_python}: no peers environment; run `bash {PEERS_TOOL.parent}/setup.sh` first")
    peers = peers_module()
    args.out.mkdir(parents=True, exist_ok=True)
    variants = args.ours.split(",")
    started = time.strftime("%Y-%m-%d %H:%M")
    load_start = os.getloadavg()[0]
    first = {variant: time_ours(args, variant, args.out, peers) for variant in variants}
    others = time_peers(args, args.out)
    second = {variant: time_ours(args, variant, args.out, peers) for variant in variants}
    ours = []
    for variant in variants:
        row = dict(first[variant])
        for key in ("img_per_s", "cpu_ms_per_img"):
            row[key] = statistics.mean([first[variant][key], second[variant][key]])
        row["spread"] = abs(first[variant]["img_per_s"] - second[variant]["img_per_s"]) / row["img_per_s"]
        ours.append(row)
    fastest = max(others, key=lambda row: row["img_per_s"])
    print(f"\n{Path(args.labels).parent.name}, {ours[0]['n']} images, {args.threads} threads per engine, "
          f"{started}, load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end\n")  # fmt: skip
    print("| engine | accuracy | case-sensitive | 1-NED | images/s | CPU ms/image | × fastest peer (images/s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in ours + others:
        print(f"| {row['engine']} | {100 * row['acc']:.2f}% | {100 * row['acc_cs']:.2f}% | {row['one_minus_ned']:.3f} "
              f"| {row['img_per_s']:,.0f} | {row['cpu_ms_per_img']:.2f} | "
              f"{row['img_per_s'] / fastest['img_per_s']:.2f} |")  # fmt: skip
    print()
    for row in ours:
        print(f"{row['engine']}: {row['version']}; the two passes differ by {100 * row['spread']:.0f}%")
    for row in others:
        print(f"{row['engine']}: {row['version']}")


if __name__ == "__main__":
    main()
