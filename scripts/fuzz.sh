#!/usr/bin/env bash
# Longer runs of the readers' property tests (crates/retune-data/tests/readers_fuzz.rs and
# crates/retune-models/tests/readers_fuzz.rs): arbitrary and mutated bytes into every reader
# (delimited, JSONL, Parquet, text, token/tag files in every scheme, config.json, safetensors,
# SentencePiece models, tokenizer.json); each must end in a value or one error, never a panic.
#
#   ./scripts/fuzz.sh [cases per property, default 200000]
#
# Prints the time each test binary took.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-200000}"
cargo test --release --no-run -q -p retune-data -p retune-models --test readers_fuzz
for crate in retune-data retune-models; do
  start=$(date +%s)
  PROPTEST_CASES="$cases" cargo test --release -q -p "$crate" --test readers_fuzz
  echo "$crate: $cases cases per property in $(( $(date +%s) - start )) s"
done
