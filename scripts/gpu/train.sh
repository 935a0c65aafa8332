#!/usr/bin/env bash
# One-command training on a GPU machine from a bundle of scripts/gpu/make_bundle.py (docs/gpu_training.md):
# installs what the machine lacks from the bundle, renders shards with every core, measures the training
# rate, then trains for what fits the time budget (9 minutes in all by default). Writes model.safetensors,
# config.json, log.csv, curves.png, summary.json and run.log (this output) into OUT.
# Usage: scripts/gpu/train.sh BUNDLE OUT [--budget SECONDS] [--init-from MODEL|bundled] [--device cpu --dry-run]
#        [--no-wheels] [... see --help] [-- more crnn train flags]
# PYTHON picks the interpreter (default: python3, the one that has torch).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ] || [[ $1 == -* ]] || [[ $2 == -* ]]; then
    exec "${PYTHON:-python3}" "$here/gpu_train.py" "$@"   # --help, or its usage error
fi
mkdir -p "$2"
PYTHONUNBUFFERED=1 "${PYTHON:-python3}" "$here/gpu_train.py" "$@" 2>&1 | tee "$2/run.log"
