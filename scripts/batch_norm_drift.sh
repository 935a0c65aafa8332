#!/usr/bin/env bash
# What learning batch norm's statistics anew costs the bundled model (docs/training_recipes.md,
# "Fine-tuning the bundled model: batch norm's statistics"): the model continued on its own recipe's
# mix at a learning rate of 1e-9, so no weight moves while the running averages do (--freeze-bn off),
# validated on IIIT5K after 75 and 150 steps. Compare with `crnn eval --decoder greedy --backend torch
# --data ../shared/data/iiit5k_train` of the model itself.
# Usage: scripts/batch_norm_drift.sh [OUT]   (default: runs/diag-bn)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/diag-bn}
BASE=${BASE:-src/crnn_ctc/assets/crnn-ctc-default.safetensors}
exec .venv/bin/crnn train --train "synth:preset=scene-words,split=train@0.55" \
    "synth:config=scripts/synth_settings/document-hyphen.json,split=train@0.37" "synth:preset=scene-lines,split=train@0.08" \
    --val ../shared/data/iiit5k_train --model_dir "$OUT" --arch small --charset printable+space --init-from "$BASE" \
    --batch_size 64 --max-steps 150 --lr 1e-9 --warmup-steps 1 --val-every 75 --save-every 75 --log-every 25 \
    --workers 2 --epoch-size 448000 --seed 16 --freeze-bn off --no-progress --overwrite
