#!/usr/bin/env bash
# The built-in default job: score real WMT22 system outputs (bundled in data/wmt22) the way
# sacrebleu / rouge-score / nltk would, with bootstrap intervals and a paired significance test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p retune
R=target/release/retune
EZ=data/wmt22/en-zh/generaltest2022.en-zh
ZE=data/wmt22/zh-en/generaltest2022.zh-en

echo "== WMT22 en->zh, Online-B against reference A (zh tokenizer) =="
$R eval bleu --hyp $EZ.hyp.Online-B.zh --ref $EZ.ref.A.zh --tokenize zh --ci
$R eval chrf --hyp $EZ.hyp.Online-B.zh --ref $EZ.ref.A.zh --ci
awk -F'\t' '$1=="en-zh" && $2=="Online-B" && ($5=="bleu-A" || $5=="chrf-A") {printf "official WMT22 score (sacreBLEU 2.0.0): %s = %.2f\n", $5, $6}' data/wmt22/official_scores.tsv
echo
echo "== WMT22 zh->en, Online-W against references A and B =="
$R eval bleu --hyp $ZE.hyp.Online-W.en --ref $ZE.ref.A.en --ref $ZE.ref.B.en
$R eval chrf --hyp $ZE.hyp.Online-W.en --ref $ZE.ref.A.en --ref $ZE.ref.B.en --word-order 2
$R eval ter --hyp $ZE.hyp.Online-W.en --ref $ZE.ref.A.en
$R eval rouge --hyp $ZE.hyp.Online-W.en --ref $ZE.ref.A.en --stem
$R eval meteor --hyp $ZE.hyp.Online-W.en --ref $ZE.ref.A.en
echo
echo "== Which zh->en system is better? Paired bootstrap against Online-W =="
$R eval compare --metric bleu --baseline $ZE.hyp.Online-W.en \
  --system $ZE.hyp.Online-B.en --system $ZE.hyp.NiuTrans.en --system $ZE.hyp.JDExploreAcademy.en \
  --ref $ZE.ref.A.en
