#!/usr/bin/env bash
# Installs the system packages retune's tests and METEOR need (Debian/Ubuntu):
# WordNet 3.0 from Debian's `wordnet-base` into /usr/share/wordnet, Chromium (headless) for
# the test that renders the HTML report of `retune assess`, and the single-threaded OpenBLAS
# (`libopenblas0-serial`) that retune loads at run time for its matrix products (without it they
# run in the pure-Rust `gemm` crate, about 3.8 times slower on a 2-core Xeon).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=""
[ -f /usr/share/wordnet/data.noun ] || PKGS="$PKGS wordnet-base"
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || PKGS="$PKGS chromium"
[ -f /usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0 ] || [ "$(uname -m)" != "x86_64" ] || PKGS="$PKGS libopenblas0-serial"
if [ -n "$PKGS" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends $PKGS \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y --no-install-recommends $PKGS; }
fi
test -f /usr/share/wordnet/data.noun || { echo "setup: WordNet is missing after install" >&2; exit 1; }
echo "setup: WordNet 3.0 at /usr/share/wordnet, $(chromium --version 2>/dev/null || chromium-browser --version), $(ls /usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0 2>/dev/null || echo 'no serial OpenBLAS')"
