#!/usr/bin/env python3
"""How transformers encodes pre-split words with a byte-level BPE (RoBERTa) tokenizer, as its
token-classification recipe does (`is_split_into_words=True`, which needs
`add_prefix_space=True`: every word is encoded as if a space preceded it): input ids and word
ids for the first 40 WNUT 2017 training sentences, with the tiny RoBERTa fixture's tokenizer
(crates/retune-models/tests/fixtures/roberta-tiny-token).

    python3 scripts/golden/make_roberta_words_golden.py   # a Python with transformers

Writes crates/retune-train/tests/golden/roberta_words.json."""
import json
from transformers import AutoTokenizer

tok = AutoTokenizer.from_pretrained("crates/retune-models/tests/fixtures/roberta-tiny-token", add_prefix_space=True)
rows = [json.loads(l) for l in open("data/ner_wnut17/train.jsonl", encoding="utf-8")][:40]
out = []
for r in rows:
    enc = tok(r["tokens"], is_split_into_words=True)
    out.append({"tokens": r["tokens"], "input_ids": enc["input_ids"], "word_ids": enc.word_ids()})
json.dump({"sentences": out}, open("crates/retune-train/tests/golden/roberta_words.json", "w"), ensure_ascii=False)
print(len(out), "sentences")
