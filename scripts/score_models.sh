#!/usr/bin/env bash
# Scores model files side by side, as the tables of docs/training_recipes.md and docs/model_card.md show
# them: greedy fp32 (PyTorch), IIIT5K word accuracy and CER (lower-alnum), then the CER (raw) of each
# held-out set (scripts/heldout_sets.sh renders them once). Every row comes from the same renders, so
# rows compare; figures from another day's renders may not (the renderer's draws change with it).
# Usage: scripts/score_models.sh MODEL.safetensors ...   (THREADS=2 by default)
# Prints one Markdown row per model: | model | IIIT5K acc | IIIT5K CER | printed lines | scene lines | words | words with context |
set -euo pipefail
cd "$(dirname "$0")/.."
CRNN=${CRNN:-.venv/bin/crnn}
VAL=${VAL:-../shared/data/iiit5k_train}
THREADS=${THREADS:-2}
scripts/heldout_sets.sh runs/heldout > /dev/null
echo "| model | IIIT5K | IIIT5K CER | printed lines CER | scene lines CER | words CER | words with context CER |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for model in "$@"; do
    real=$("$CRNN" eval --decoder greedy --backend torch --threads "$THREADS" --model "$model" --data "$VAL" 2>/dev/null \
        | awk -v val="$VAL" '$1 == val {print $4, $5}')
    heldout=$("$CRNN" eval --decoder greedy --backend torch --threads "$THREADS" --model "$model" --protocol raw \
        --data runs/heldout/lines-document runs/heldout/lines-scene runs/heldout/words runs/heldout/words-context 2>/dev/null \
        | awk '$1 ~ /^runs\/heldout\// {printf " | %s", $5}')
    read -r accuracy cer <<< "$real"
    echo "| $model | $accuracy | $cer$heldout |"
done
