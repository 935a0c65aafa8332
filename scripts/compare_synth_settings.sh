#!/usr/bin/env bash
# Compares generator settings by what a `small` model trained only on their images reads on the
# 2,000 real IIIT5K words (docs/synthetic_data.md, "Generator settings"), at an equal budget.
#
# Phase 1, shared: STEPS steps on the default preset from scratch (the warm start). From scratch, CTC
# spends its first ~1,000 steps on a plateau where every setting scores near zero (4.4% after 1,000
# steps here), so settings are compared in phase 2: STEPS more steps from the warm start with each
# setting's images only, same seed, schedule and budget.
#
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
[ -f "$OUT/results.tsv" ] || printf 'setting\tphase\tsteps\tsource\tword_acc_lower_alnum\tcer\tminutes\n' > "$OUT/results.tsv"

# train NAME SOURCE [crnn train options...]: one run into $OUT/NAME, scored on $VAL, a line in results.tsv
train() {
    local name=$1 source=$2 run=$OUT/$1 start minutes acc cer
    shift 2
    start=$(date +%s)
    OMP_NUM_THREADS=$THREADS .venv/bin/crnn train --train "$source" --val "$VAL" --model_dir "$run" \
        --arch small --charset lower-alnum --batch_size 64 --max-steps "$STEPS" --lr 1e-3 \
        --val-every "$STEPS" --save-every 250 --log-every 50 --workers 1 --seed 1 --no-progress --overwrite "$@"
    minutes=$(( ($(date +%s) - start) / 60 ))
    OMP_NUM_THREADS=$THREADS .venv/bin/crnn eval --decoder greedy --model "$run/model.safetensors" --data "$VAL" \
        --protocol lower-alnum --backend torch | tee "$run/eval.txt"
    # the dataset's row: name samples excluded word-acc CER 1-NED alnum raw
    read -r acc cer <<< "$(awk 'NR == 3 {print $4, $5}' "$run/eval.txt")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${PHASE:-2}" "$STEPS" "$source" "$acc" "$cer" "$minutes" \
        >> "$OUT/results.tsv"
}

WARM=$OUT/warm-start
if [ ! -f "$WARM/model.safetensors" ]; then
    PHASE=1 train warm-start "synth:preset=default" --warmup-steps 200
fi

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
    train "$setting" "$source" --init-from "$WARM/model.safetensors" --warmup-steps 100
done
cat "$OUT/results.tsv"
