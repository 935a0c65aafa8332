#!/usr/bin/env bash
# The fine-tuning recipe of docs/fine_tuning.md, measured on real words: split the 2,000 IIIT5K
# training words 1,600/400, fine-tune the bundled model on the 1,600 (--init-from), and score the
# bundled and the fine-tuned model on the same 400. The bundled model itself never trains on them.
# No validation set: choosing the checkpoint on the 400 would flatter the "after" figure.
# Usage: scripts/fine_tune_iiit5k.sh [STEPS] [OUT]   (default: 600 steps, runs/fine-tune)
#   LR=1e-3 sets the learning rate (default: 2e-4); LR=default leaves it to crnn train. SEED=1: another seed.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-600}
OUT=${2:-runs/fine-tune}
DATA=${DATA:-../shared/data/iiit5k_train}
CRNN=${CRNN:-.venv/bin/crnn}
BASE=${BASE:-src/crnn_ctc/assets/crnn-ctc-default.safetensors}
LR=${LR:-2e-4}
LR_FLAG=()
[ "$LR" = default ] || LR_FLAG=(--lr "$LR")
mkdir -p "$OUT"
if [ ! -d "$OUT/data/validation" ]; then
    "$CRNN" dataset create --image_dir "$DATA" --anno_file "$DATA/labels.tsv" --data_dir "$OUT/data" \
        --validation_split_fraction 0.2 --charset printable+space --seed 0 --no-progress
fi
echo "== before: $BASE on the 400 held-out words"
"$CRNN" eval --decoder greedy --model "$BASE" --data "$OUT/data/validation"
start=$(date +%s)
# The model's own arch, charset and height; a low learning rate keeps what synthetic data taught it.
"$CRNN" train --train "$OUT/data/train" --model_dir "$OUT/model" \
    --init-from "$BASE" --arch small --charset printable+space --batch_size 32 --max-steps "$STEPS" \
    ${LR_FLAG[@]+"${LR_FLAG[@]}"} --warmup-steps 50 --save-every 100 --log-every 25 --workers 1 --no-progress \
    --seed "${SEED:-0}" ${OVERWRITE:+--overwrite}
echo "fine-tuning took $(( $(date +%s) - start )) s"
echo "== after: the fine-tuned model on the same 400 words"
"$CRNN" eval --decoder greedy --model "$OUT/model/model.safetensors" --data "$OUT/data/validation"
