#!/usr/bin/env bash
# Installs the system packages retune's tests and METEOR need (Debian/Ubuntu):
# WordNet 3.0 from Debian's `wordnet-base` into /usr/share/wordnet.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -f /usr/share/wordnet/data.noun ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends wordnet-base \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y --no-install-recommends wordnet-base; }
fi
test -f /usr/share/wordnet/data.noun || { echo "setup: WordNet is missing after install" >&2; exit 1; }
echo "setup: WordNet 3.0 at /usr/share/wordnet"
