#!/usr/bin/env bash
# Scores model files side by side, as the averaging table of docs/training_recipes.md shows them (with
# IIIT5K's CER as well): greedy fp32 (PyTorch), IIIT5K word accuracy and CER (lower-alnum), then the CER
# (raw) of each held-out set (scripts/heldout_sets.sh renders them once). Every row comes from the same
# renders, so rows compare; figures from another day's renders may not (the renderer's draws change with it).
# Usage: scripts/score_models.sh MODEL.safetensors ...   (THREADS=2 by default)
# Prints one Markdown row per model (a model that cannot be scored gets a row saying so, its error on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
CRNN=${CRNN:-.venv/bin/crnn}
VAL=${VAL:-../shared/data/iiit5k_train}
THREADS=${THREADS:-2}
scripts/heldout_sets.sh runs/heldout > /dev/null
echo "| model | IIIT5K | IIIT5K CER | printed lines CER | scene lines CER | words CER | words with context CER |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
first_row() {  # the first table row of `crnn eval`'s output: the one dataset it was given
    awk '$1 != "model:" && $1 != "dataset" && NF >= 5 {print $4, $5; exit}'
}
for model in "$@"; do
    if ! real=$("$CRNN" eval --decoder greedy --backend torch --threads "$THREADS" --model "$model" --data "$VAL" \
        | first_row) || ! heldout=$("$CRNN" eval --decoder greedy --backend torch --threads "$THREADS" \
        --model "$model" --protocol raw --data runs/heldout/lines-document runs/heldout/lines-scene runs/heldout/words \
        runs/heldout/words-context | awk '$1 ~ /heldout\// {printf " | %s", $5}'); then
        echo "| $model | could not be scored (see the error above) | | | | | |"
        continue
    fi
    read -r accuracy cer <<< "$real"
    echo "| $model | $accuracy | $cer$heldout |"
done
