#!/usr/bin/env python3
"""Labels of sub-words as transformers' token-classification recipe aligns them (the tag on the
first sub-word of each word, -100 elsewhere; and with label_all_tokens, B-X continuations as I-X)
for the first 60 WNUT 2017 training sentences and 40 Universal NER zh_gsdsimp sentences with the
MiniLM tokenizer (models/all-MiniLM-L6-v2, fetched by scripts/fetch_minilm.sh).

    python3 scripts/golden/make_ner_alignment_golden.py   # a Python with transformers

Writes crates/retune-train/tests/golden/ner_alignment.json."""
import json
from transformers import AutoTokenizer

tok = AutoTokenizer.from_pretrained("models/all-MiniLM-L6-v2")
rows = []
for name, n in [("ner_wnut17", 60), ("ner_uner_zh_gsdsimp", 40)]:
    rows += [json.loads(l) for l in open(f"/work/shared/data/{name}/train.jsonl", encoding="utf-8")][:n]
labels = sorted({t for r in rows for t in r["ner_tags"]})
out = []
for r in rows:
    enc = tok(r["tokens"], is_split_into_words=True)
    first, every, prev = [], [], None
    for w in enc.word_ids():
        if w is None:
            first.append(-100); every.append(-100)
        else:
            tag = r["ner_tags"][w]
            lid = labels.index(tag)
            if w != prev:
                first.append(lid); every.append(lid)
            else:
                first.append(-100)
                cont = "I-" + tag[2:] if tag.startswith("B-") else tag
                every.append(labels.index(cont) if cont in labels else lid)
        prev = w
    out.append({"tokens": r["tokens"], "ner_tags": r["ner_tags"], "input_ids": enc["input_ids"],
                "labels_first": first, "labels_all": every})
json.dump({"labels": labels, "sentences": out}, open("crates/retune-train/tests/golden/ner_alignment.json", "w"),
          ensure_ascii=False)
print(len(out), "sentences", len(labels), "labels")
