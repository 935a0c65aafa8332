#!/usr/bin/env bash
# Continues training the bundled model (docs/model_card.md, "Continuing"): the `small` architecture,
# charset printable+space, from the committed model (--init-from), on images rendered on the fly by
# `crnn synth`'s generator only: scene words 0.55 (30% of them with context at the crop's edges:
# the scene-words preset), printed lines 0.37 (a third of them in monospace fonts, half of them
# justified: scripts/synth_settings/document-justified.json), scene lines 0.08 (the v8 recipe),
# without the held-out font families, at a peak learning rate of 5e-5 (LR=...: a continuation from
# a trained model; v2's restart at 5e-4 cost 3 points for its first 500 steps, v3's at 2e-4 cost 2.5). ../shared/data/iiit5k_train (real words) picks the checkpoint and is never
# trained on. Then the run's best step is averaged with the model it started from in equal shares
# (crnn average: how v16 was made; docs/training_recipes.md), and scripts/ship_model.sh calibrates the
# average, exports int8, scores and ships it if it is better (SOUP=0: the run's best step alone).
# Usage: scripts/train_pretrained.sh [MAX_STEPS] [THREADS]   (make pretrained; RESUME=1 continues a run)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-6000}
THREADS=${2:-1}  # what the v2 run used, while other work shared the 2 cores
START=--overwrite  # without RESUME, a run starts over in runs/pretrained (crnn train asks for one or the other)
if [ -n "${RESUME:-}" ]; then START=--resume; fi
VAL=${VAL:-../shared/data/iiit5k_train}
BASE=${BASE:-src/crnn_ctc/assets/crnn-ctc-default.safetensors}
mkdir -p runs
# The run starts from a copy: the bundled file changes when the result ships.
[ -n "${RESUME:-}" ] || cp "$BASE" runs/pretrained-base.safetensors
OMP_NUM_THREADS=$THREADS .venv/bin/crnn train \
    --train "synth:preset=scene-words,split=train@0.55" \
        "synth:config=scripts/synth_settings/document-justified.json,split=train@0.37" \
        "synth:preset=scene-lines,split=train@0.08" \
    --val "$VAL" --model_dir runs/pretrained --arch small --charset printable+space \
    --init-from runs/pretrained-base.safetensors --batch_size 64 --max-steps "$STEPS" --lr "${LR:-5e-5}" --warmup-steps 50 \
    --val-every 500 --save-every 100 --log-every 25 --workers 1 --seed "${SEED:-3}" --epoch-size 448000 \
    "$START"
CANDIDATE=runs/pretrained/model.safetensors
if [ "${SOUP:-1}" != 0 ]; then
    .venv/bin/crnn average runs/pretrained-base.safetensors "$CANDIDATE" --out runs/pretrained-soup.safetensors
    CANDIDATE=runs/pretrained-soup.safetensors
fi
scripts/ship_model.sh "$CANDIDATE"
