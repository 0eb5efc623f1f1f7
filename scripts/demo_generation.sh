#!/usr/bin/env bash
# Generation demos of `retune assess` (issue 14): is BLEU / chrF / ROUGE good enough, or retrain?
#  1. Translation: no pretrained Marian can be downloaded here, so retune trains one from scratch
#     on the bundled Tatoeba en->zh pairs (the general domain; 6 epochs, ~20 min on 2 cores,
#     kept in runs/tatoeba-marian), then assesses it on WMT22 en->zh news (the new domain:
#     1,500 source/reference pairs to learn from, the other 537 to judge on).
#  2. Summarization: the real SmolLM2-135M-Instruct (scripts/fetch_smollm2.sh, converted to a
#     Hugging Face folder) prompted to summarize XSum articles, assessed against the references.
# Each writes runs/assess-*/report.html (+ report.md, assessment.json, the outputs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p retune
R=target/release/retune
mkdir -p runs
T=data/translation_en_zh_tatoeba

echo "== 1/2  Marian en->zh: trained on Tatoeba, assessed on WMT22 news =="
if [ ! -f runs/tatoeba-marian/best/model.safetensors ]; then
  $R finetune --task translate --model crates/retune-train/tests/fixtures/marian-tatoeba --strategy scratch \
    --train $T/train-1-of-2.jsonl,$T/train-2-of-2.jsonl --eval "$T/validation.jsonl[:300]" \
    --target-column zh_hans --epochs 6 --batch-size 64 --lr 1e-3 --out runs/tatoeba-marian
fi
W=data/wmt22/en-zh/generaltest2022.en-zh
{ printf 'en\tzh\n'; paste $W.src.en $W.ref.A.zh; } > runs/wmt22-en-zh.tsv
$R assess --task translate --model runs/tatoeba-marian/best --train 'runs/wmt22-en-zh.tsv[:1500]' \
  --eval 'runs/wmt22-en-zh.tsv[1500:]' --budget 10m --out runs/assess-wmt22-news
echo
echo "== 2/2  SmolLM2-135M-Instruct summarizing XSum =="
[ -f models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf ] || bash scripts/fetch_smollm2.sh
[ -f models/smollm2-hf/model.safetensors ] || $R convert gguf models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --out models/smollm2-hf
$R assess --task summarize --model models/smollm2-hf --train 'data/xsum/test.jsonl[:500]' \
  --eval 'data/xsum/test.jsonl[900:]' --budget 5m --out runs/assess-xsum
echo
echo "reports: runs/assess-wmt22-news/report.html, runs/assess-xsum/report.html"
