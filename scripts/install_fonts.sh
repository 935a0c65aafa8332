#!/usr/bin/env bash
# Installs the fonts that synthetic training data is rendered with, then lists them in
# .fonts/manifest.tsv (see docs/synthetic_data.md). Sources: Debian font packages
# (scripts/fonts/debian-packages.txt) and npm Fontsource packages pinned by
# scripts/fonts/package-lock.json, installed into .fonts/npm. Idempotent: a second run only
# checks (about a second). Needs root or passwordless sudo for the Debian part; without them,
# or without apt-get or npm, that part is skipped with a warning and the rest still installs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
FONTS_DIR=.fonts
LIST=scripts/fonts/debian-packages.txt
warn() { echo "install_fonts: warning: $*" >&2; }

# -- Debian packages ------------------------------------------------------------------------------
packages=$(sed -e 's/#.*//' "$LIST" | awk 'NF == 2 {print $1}')
# Not a font: Pillow lays text out with HarfBuzz (kerning, ligatures) only where it finds libfribidi,
# so without it the same seed draws other images (synth/fonts.py, text_layout).
packages="$packages libfribidi0"
if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
    # shellcheck disable=SC2086
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null | awk '/ installed$/ {print $1}' || true)
    missing=$(comm -23 <(echo "$packages" | tr ' ' '\n' | sort -u) <(echo "$installed" | sort -u) | tr '\n' ' ')
    if [ -n "${missing// /}" ]; then
        sudo=""
        if [ "$(id -u)" != 0 ]; then
            if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
        fi
        if [ "$sudo" = none ]; then
            warn "not root and no passwordless sudo: cannot install Debian packages: $missing"
        else
            echo "install_fonts: installing $(echo "$missing" | wc -w) Debian font packages"
            $sudo apt-get update -qq
            available=""
            for package in $missing; do
                if apt-cache show "$package" >/dev/null 2>&1; then available="$available $package"
                else warn "Debian package $package is not available here; skipped"; fi
            done
            # shellcheck disable=SC2086
            [ -z "$available" ] || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $available >/dev/null
        fi
    fi
else
    warn "no apt-get/dpkg: Debian font packages skipped (only npm fonts will be used)"
fi

# -- npm (Fontsource) -----------------------------------------------------------------------------
npm_dir=$FONTS_DIR/npm
if command -v npm >/dev/null; then
    lock_hash=$(sha256sum scripts/fonts/package-lock.json | cut -d' ' -f1)
    if [ "$(cat "$npm_dir/.lock-sha256" 2>/dev/null)" != "$lock_hash" ] || [ ! -d "$npm_dir/node_modules/@fontsource" ]; then
        echo "install_fonts: installing npm font packages into $npm_dir"
        rm -rf "$npm_dir" && mkdir -p "$npm_dir"
        cp scripts/fonts/package.json scripts/fonts/package-lock.json "$npm_dir/"
        (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
        # Keep the latin subset in WOFF 1.0 (FreeType and fontTools read it without Brotli): a tenth of the size.
        find "$npm_dir/node_modules/@fontsource" -path '*/files/*' -type f \
            ! -regex '.*-latin-[0-9]+-\(normal\|italic\)\.woff' -delete
        echo "$lock_hash" > "$npm_dir/.lock-sha256"
    fi
else
    warn "no npm: npm font packages skipped (only Debian fonts will be used)"
fi

# -- manifest -------------------------------------------------------------------------------------
"$PYTHON" scripts/font_manifest.py --out "$FONTS_DIR/manifest.tsv"
