#!/usr/bin/env bash
# Installs the system packages retune's tests and METEOR need (Debian/Ubuntu):
# WordNet 3.0 from Debian's `wordnet-base` into /usr/share/wordnet, and Chromium (headless) for
# the test that renders the HTML report of `retune assess`.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=""
[ -f /usr/share/wordnet/data.noun ] || PKGS="$PKGS wordnet-base"
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || PKGS="$PKGS chromium"
if [ -n "$PKGS" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends $PKGS \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y --no-install-recommends $PKGS; }
fi
test -f /usr/share/wordnet/data.noun || { echo "setup: WordNet is missing after install" >&2; exit 1; }
echo "setup: WordNet 3.0 at /usr/share/wordnet, $(chromium --version 2>/dev/null || chromium-browser --version)"
