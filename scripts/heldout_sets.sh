#!/usr/bin/env bash
# The held-out synthetic sets (docs/model_card.md): text in fonts whose families the bundled model's
# recipe never trains on (`--font-split heldout`, about one family in ten), with seeds no training
# run uses. They measure what the kept-out real sets measure: text not seen, in looks not seen.
# Usage: scripts/heldout_sets.sh [OUT_DIR]   (default: runs/heldout; made once, then reused)
# Then:  crnn eval --model M --protocol raw --data runs/heldout/lines-document runs/heldout/lines-scene \
#            runs/heldout/words runs/heldout/words-context
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/heldout}
CRNN=${CRNN:-.venv/bin/crnn}
make_set() {  # NAME PRESET|CONFIG.json COUNT SEED
    if [ -f "$OUT/$1/data.mdb" ]; then echo "$OUT/$1: exists"; return; fi
    local settings=(--preset "$2")
    [[ "$2" == *.json ]] && settings=(--config "$2")
    "$CRNN" synth "${settings[@]}" --font-split heldout --charset printable+space --count "$3" --seed "$4" \
        --workers "${WORKERS:-1}" --out "$OUT/$1" 2> >(grep -v "fonts skipped" >&2)
}
make_set lines-document document 500 90001
make_set lines-scene scene-lines 300 90002
make_set words default 1000 90003
# Words with other text at the crop's edges (a neighbour cut through a glyph, the line above or below), as real crops show it.
make_set words-context scripts/synth_settings/context-all.json 500 90004
