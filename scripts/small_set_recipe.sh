#!/usr/bin/env bash
# What `crnn train` learns from scratch on a small set with its defaults, and with variants of them
# (docs/training_recipes.md): 4,000 `crnn synth` words (seed 11), 1,500 steps of 32, scored on 400
# fresh words of another seed (12) at the end. One thread; about 8 minutes a variant on a quiet core.
# Usage: scripts/small_set_recipe.sh NAME [crnn train options ...]
#   e.g. scripts/small_set_recipe.sh defaults; scripts/small_set_recipe.sh no-augment --no-augment
# Results: runs/small-set/NAME/ (model, log.csv) and a line in runs/small-set/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/small_set_recipe.sh NAME [crnn train options ...]}
shift
OUT=${OUT:-runs/small-set}
CRNN=${CRNN:-.venv/bin/crnn}
export OMP_NUM_THREADS=${THREADS:-1}
mkdir -p "$OUT"
[ -d "$OUT/train" ] || "$CRNN" synth --count 4000 --out "$OUT/train" --seed 11 --workers 1 --no-progress
[ -d "$OUT/test" ] || "$CRNN" synth --count 400 --out "$OUT/test" --seed 12 --workers 1 --no-progress
[ -f "$OUT/results.tsv" ] || printf 'variant\toptions\tword_acc_lower_alnum\tcer\tseconds\n' > "$OUT/results.tsv"
start=$(date +%s)
"$CRNN" train --train "$OUT/train" --model_dir "$OUT/$NAME" --batch-size 32 --max-steps 1500 --no-progress \
    --overwrite "$@"
seconds=$(( $(date +%s) - start ))
"$CRNN" eval --decoder greedy --model "$OUT/$NAME/model.safetensors" --data "$OUT/test" --backend torch | tee "$OUT/$NAME/eval.txt"
# the dataset's row: name samples excluded word-acc CER 1-NED ...
read -r acc cer <<< "$(awk 'NR == 3 {print $4, $5}' "$OUT/$NAME/eval.txt")"
printf '%s\t%s\t%s\t%s\t%s\n' "$NAME" "$*" "$acc" "$cer" "$seconds" >> "$OUT/results.tsv"
