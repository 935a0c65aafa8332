#!/usr/bin/env bash
# Trains the bundled model (docs/model_card.md): the `small` architecture on images rendered on the
# fly by `crnn synth`'s generator only; ../shared/data/iiit5k_train (real words) is used for picking
# the checkpoint, never for training. Then writes an fp32 copy into the package's assets.
# Usage: scripts/train_pretrained.sh [MAX_STEPS] [THREADS]   (make pretrained)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2800}
THREADS=${2:-2}
VAL=${VAL:-../shared/data/iiit5k_train}
START=--overwrite  # without RESUME, a run starts over in runs/pretrained (crnn train asks for one or the other)
if [ -n "${RESUME:-}" ]; then START=--resume; fi
OMP_NUM_THREADS=$THREADS .venv/bin/crnn train --train synth: --val "$VAL" --model_dir runs/pretrained \
    --arch small --charset printable --batch_size 64 --max-steps "$STEPS" --lr 1e-3 --warmup-steps 300 \
    --val-every 500 --save-every 250 --log-every 50 --workers 1 --seed 1 "$START"
cp runs/pretrained/model.safetensors src/crnn_ctc/assets/crnn-ctc-default.safetensors
echo "bundled: src/crnn_ctc/assets/crnn-ctc-default.safetensors"
# The int8 graph `--backend auto` uses on CPUs (docs/benchmarks.md), calibrated on synthetic images.
.venv/bin/crnn export --model src/crnn_ctc/assets/crnn-ctc-default.safetensors \
    --out src/crnn_ctc/assets/crnn-ctc-default.int8.onnx --int8
