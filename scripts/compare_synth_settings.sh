#!/usr/bin/env bash
# Trains one `small` model per generator setting at an equal budget, only on synthetic images,
# and scores each on the 2,000 real IIIT5K words (docs/synthetic_data.md, "Generator settings").
# Usage: scripts/compare_synth_settings.sh [STEPS] [SETTING ...]
#   settings: default clean heavy few-fonts plain-backgrounds (default: all five)
# Results: runs/synth-compare/<setting>/ (model, log.csv, eval.txt) and runs/synth-compare/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1000}
shift || true
SETTINGS=("${@:-default clean heavy few-fonts plain-backgrounds}")
read -r -a SETTINGS <<< "${SETTINGS[*]}"
VAL=${VAL:-../shared/data/iiit5k_train}
THREADS=${THREADS:-1}
OUT=${OUT:-runs/synth-compare}
mkdir -p "$OUT"
[ -f "$OUT/results.tsv" ] || printf 'setting\tsteps\tsource\tword_acc_lower_alnum\tcer\tminutes\n' > "$OUT/results.tsv"

for setting in "${SETTINGS[@]}"; do
    case $setting in
        default|clean|heavy) source="synth:preset=$setting" ;;
        plain-backgrounds) source="synth:config=scripts/synth_settings/plain-backgrounds.json" ;;
        few-fonts)
            fonts=$OUT/few-fonts-dir
            rm -rf "$fonts" && mkdir -p "$fonts"
            grep -v '^#' scripts/synth_settings/few-fonts.txt | while read -r family; do
                awk -F'\t' -v f="$family" '$2 == f {print $1}' .fonts/manifest.tsv
            done | while read -r path; do ln -s "$path" "$fonts/"; done
            source="synth:fonts=$fonts" ;;
        *) echo "unknown setting: $setting" >&2; exit 2 ;;
    esac
    run=$OUT/$setting
    start=$(date +%s)
    OMP_NUM_THREADS=$THREADS .venv/bin/crnn train --train "$source" --val "$VAL" --model_dir "$run" \
        --arch small --charset lower-alnum --batch_size 64 --max-steps "$STEPS" --lr 1e-3 \
        --warmup-steps 200 --val-every "$STEPS" --save-every 250 --log-every 50 --workers 1 --seed 1 \
        --no-progress ${RESUME:+--resume}
    minutes=$(( ($(date +%s) - start) / 60 ))
    OMP_NUM_THREADS=$THREADS .venv/bin/crnn eval --model "$run/model.safetensors" --data "$VAL" \
        --protocol lower-alnum --backend torch | tee "$run/eval.txt"
    # the dataset's row: samples excluded word-acc CER 1-NED alnum raw
    read -r acc cer <<< "$(awk 'NR == 3 {print $4, $5}' "$run/eval.txt")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$setting" "$STEPS" "$source" "$acc" "$cer" "$minutes" >> "$OUT/results.tsv"
done
cat "$OUT/results.tsv"
