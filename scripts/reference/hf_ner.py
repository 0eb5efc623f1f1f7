#!/usr/bin/env python3
"""Reference NER fine-tuning with PyTorch + transformers (the Trainer), for accuracy and speed
comparisons with `retune finetune --task ner`, same recipe:

    python3 scripts/reference/hf_ner.py --model models/all-MiniLM-L6-v2 --train data/ner_wnut17/train.jsonl \
        --eval data/ner_wnut17/validation.jsonl --test data/ner_wnut17/test.jsonl --epochs 3 --lr 3e-4 \
        --seed 42 --threads 2 --out run.json

Data: JSONL with `tokens` and `ner_tags` (string tags). Labels: the sorted union of the train and
eval tags (as retune and transformers' run_ner.py order string tags). Alignment: the tag on the
first sub-word of each word (`word_ids()`), -100 elsewhere; truncation at --max-length (128).
Trainer: DataCollatorForTokenClassification (dynamic padding), group_by_length, batch 32, AdamW
(weight decay 0.01, not on biases/LayerNorm), linear schedule with warmup 0.06 of the steps,
eval every epoch, best checkpoint by entity micro-F1 (seqeval, default mode), test entity F1 of
that model (seqeval on word-level tags from the first sub-words, as run_ner.py computes them; words
cut off by truncation or with no sub-word are left out).
Writes a JSON: test/eval F1, training seconds per epoch (eval excluded), examples/s.
"""
import argparse, inspect, json, tempfile

import numpy as np
import torch
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

from hf_finetune import EpochTimer  # same folder: the classification reference's Trainer epoch timer
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                          Trainer, TrainingArguments, set_seed)


def read(path):
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    return [(r["tokens"], r["ner_tags"]) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    set_seed(a.seed)
    train, evl, test = read(a.train), read(a.eval), read(a.test)
    labels = sorted({t for _, tags in train + evl for t in tags})
    lid = {l: i for i, l in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(a.model)

    def encode(rows):
        out = []
        for words, tags in rows:
            enc = tok(words, is_split_into_words=True, truncation=True, max_length=a.max_length)
            lab, prev = [], None
            for w in enc.word_ids():
                lab.append(-100 if w is None or w == prev else lid.get(tags[w], lid.get("O", 0)))
                prev = w
            enc["labels"] = lab
            out.append(dict(enc))
        return out

    tr, ev, te = encode(train), encode(evl), encode(test)
    model = AutoModelForTokenClassification.from_pretrained(
        a.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=lid,
        ignore_mismatched_sizes=True)  # a checkpoint with another task's head gets a new one

    def tags_of(pred, label_ids):
        """Word-level gold and predicted tags from the first sub-words (label != -100), as
        transformers' run_ner.py computes them (order-independent)."""
        y_true, y_pred = [], []
        for p, l in zip(pred, label_ids):
            keep = [(labels[int(li)], labels[int(pi)]) for pi, li in zip(p, l) if li != -100]
            y_true.append([t for t, _ in keep])
            y_pred.append([q for _, q in keep])
        return y_true, y_pred

    def metrics(eval_pred):
        logits, label_ids = eval_pred
        y_true, y_pred = tags_of(np.argmax(logits, axis=-1), label_ids)
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="micro")
        return {"f1": float(f), "precision": float(p), "recall": float(r)}

    params = inspect.signature(TrainingArguments.__init__).parameters
    kw = dict(output_dir=tempfile.mkdtemp(prefix="hf_ner_"), num_train_epochs=a.epochs, learning_rate=a.lr,
              per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=64, weight_decay=0.01,
              lr_scheduler_type="linear", eval_strategy="epoch", save_strategy="epoch", save_total_limit=1,
              load_best_model_at_end=True, metric_for_best_model="f1", greater_is_better=True, seed=a.seed,
              report_to=[], use_cpu=True, dataloader_pin_memory=False, dataloader_num_workers=0,
              logging_strategy="epoch", disable_tqdm=True, save_only_model=True)
    if "warmup_ratio" in params:
        kw["warmup_ratio"] = 0.06
    else:
        kw["warmup_steps"] = 0.06
    if "group_by_length" in params:
        kw["group_by_length"] = True
    else:
        kw["train_sampling_strategy"] = "group_by_length"
    timer = EpochTimer()
    trainer = Trainer(model=model, args=TrainingArguments(**kw), train_dataset=tr, eval_dataset=ev,
                      data_collator=DataCollatorForTokenClassification(tok), processing_class=tok,
                      compute_metrics=metrics, callbacks=[timer])
    trainer.train()
    evals = [h["eval_f1"] for h in trainer.state.log_history if "eval_f1" in h]
    out = trainer.predict(te)
    y_true, y_pred = tags_of(np.argmax(out.predictions, axis=-1), out.label_ids)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="micro")
    res = {"impl": "hf trainer", "seed": a.seed, "labels": labels, "eval_f1_per_epoch": evals,
           "test_f1": float(f), "test_precision": float(p), "test_recall": float(r),
           "epoch_train_s": timer.epoch_s, "train_s": sum(timer.epoch_s),
           "train_sentences_per_s": len(train) * a.epochs / sum(timer.epoch_s),
           "torch": torch.__version__}
    json.dump(res, open(a.out, "w"), indent=1)
    print(json.dumps(res))


main()
