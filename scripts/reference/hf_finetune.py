#!/usr/bin/env python3
"""Reference fine-tuning of a BERT-family encoder for sequence classification, with PyTorch +
transformers, for accuracy and speed comparisons with `retune`'s training engine.

    python3 scripts/reference/hf_finetune.py --model models/all-MiniLM-L6-v2 \
        --train data/sentiment_rt_polarity/train.tsv --eval data/sentiment_rt_polarity/validation.tsv \
        --test data/sentiment_rt_polarity/test.tsv --recipe trainer --seed 42 --threads 2 --out run.json
    # smoke run:  ... --limit-train 64 --epochs 1   (--limit-* take a random subset, Random(0))

Data: TSV with a header `text<TAB>label`, split on TAB, no quoting. Labels may be integers or
strings; the label set is the union over the full train/eval/test files, sorted (numerically when all labels are
integers), and mapped to ids 0..K-1 in that order.

Recipes (flags given explicitly override the recipe's defaults):
  trainer  HF Trainer: DataCollatorWithPadding (dynamic padding), truncation to --max-length (128),
           length-grouped sampling (group_by_length), batch 32, AdamW lr 5e-5, weight decay 0.01
           (not on biases/LayerNorm weights, as Trainer groups them), linear schedule with warmup
           ceil(0.06 * total steps), 3 epochs, eval every epoch, load_best_model_at_end on eval
           accuracy, then test accuracy of that best model.
  seed     "the seed's recipe", a plain PyTorch loop: every text padded/truncated to 256 tokens,
           batch 32, shuffled (torch.Generator seeded), torch.optim.AdamW(model.parameters(),
           lr=2e-5) (torch's default weight decay 0.01 on every parameter), linear schedule with no
           warmup, 3 epochs, no length grouping; eval every epoch; test accuracy of the final model.

Writes (and prints) a JSON with test accuracy, eval accuracy per epoch, wall time (total and per
epoch: training only, eval separately), training examples/s, and peak RSS (getrusage, MiB).
"""
import argparse, inspect, json, math, os, platform, random, resource, shutil, sys, tempfile, time

import numpy as np
import torch
import transformers
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          Trainer, TrainerCallback, TrainingArguments, get_linear_schedule_with_warmup,
                          set_seed)

RECIPES = {
    "trainer": dict(epochs=3, lr=5e-5, batch_size=32, max_length=128, warmup_ratio=0.06, weight_decay=0.01),
    "seed": dict(epochs=3, lr=2e-5, batch_size=32, max_length=256, warmup_ratio=0.0, weight_decay=0.01),
}


def read_tsv(path, limit=None):
    lines = open(path, encoding="utf-8").read().split("\n")
    header = lines[0].rstrip("\r").split("\t")
    ti, li = header.index("text"), header.index("label")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        line = line.rstrip("\r")
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) != len(header):
            sys.exit(f"{path}:{n}: expected {len(header)} TAB-separated columns, got {len(cols)}")
        rows.append((cols[ti], cols[li]))
    if limit and limit < len(rows):  # a seeded random subset (files may be sorted by label), in file order
        keep = sorted(random.Random(0).sample(range(len(rows)), limit))
        rows = [rows[i] for i in keep]
    return rows


def label_map(*sets):
    labels = sorted({l for rows in sets for _, l in rows})
    try:
        labels = sorted(labels, key=int)
    except ValueError:
        pass
    return {l: i for i, l in enumerate(labels)}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def encode(tok, rows, lab, max_length, pad_to_max):
    enc = tok([t for t, _ in rows], truncation=True, max_length=max_length,
              padding="max_length" if pad_to_max else False)
    return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
             **({"token_type_ids": enc["token_type_ids"][i]} if "token_type_ids" in enc else {}),
             "labels": lab[rows[i][1]]} for i in range(len(rows))]


class EpochTimer(TrainerCallback):
    def __init__(self):
        self.epoch_s, self._t = [], None

    def on_epoch_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kw):
        self.epoch_s.append(time.perf_counter() - self._t)


def accuracy(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def run_trainer(a, model, tok, train, evl, test, res):
    outdir = tempfile.mkdtemp(prefix="hf_finetune_")
    params = inspect.signature(TrainingArguments.__init__).parameters
    kw = dict(output_dir=outdir, num_train_epochs=a.epochs, learning_rate=a.lr,
              per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.batch_size,
              weight_decay=a.weight_decay, lr_scheduler_type="linear", eval_strategy="epoch",
              save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
              metric_for_best_model="accuracy", greater_is_better=True, seed=a.seed, report_to=[],
              use_cpu=True, dataloader_pin_memory=False, dataloader_num_workers=0,
              logging_strategy="epoch", disable_tqdm=True, save_only_model=True)
    if "warmup_ratio" in params:  # transformers 4.x
        kw["warmup_ratio"] = a.warmup_ratio
    else:  # transformers 5.x: warmup_steps < 1 is a ratio of the total steps
        kw["warmup_steps"] = a.warmup_ratio
    if "group_by_length" in params:
        kw["group_by_length"] = True
    else:
        kw["train_sampling_strategy"] = "group_by_length"
    args = TrainingArguments(**kw)
    timer = EpochTimer()
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evl,
                      data_collator=DataCollatorWithPadding(tok), processing_class=tok,
                      compute_metrics=accuracy, callbacks=[timer])
    t0 = time.perf_counter()
    out = trainer.train()
    res["train_and_eval_s"] = time.perf_counter() - t0
    res["epoch_train_s"] = timer.epoch_s
    evals = [h for h in trainer.state.log_history if "eval_accuracy" in h]
    res["eval_accuracy_per_epoch"] = [h["eval_accuracy"] for h in evals]
    res["eval_s_per_epoch"] = [h.get("eval_runtime") for h in evals]
    res["train_loss"] = out.training_loss
    res["best_checkpoint_eval_accuracy"] = trainer.state.best_metric
    res["optimizer_steps"] = trainer.state.global_step
    t1 = time.perf_counter()
    pred = trainer.predict(test)
    res["test_s"] = time.perf_counter() - t1
    res["test_accuracy"] = float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())
    shutil.rmtree(outdir, ignore_errors=True)


def batches(data, bs, order):
    for i in range(0, len(order), bs):
        items = [data[j] for j in order[i:i + bs]]
        yield {k: torch.tensor([it[k] for it in items]) for k in items[0]}


@torch.inference_mode()
def evaluate(model, data, bs):
    model.eval()
    correct = 0
    for b in batches(data, bs, list(range(len(data)))):
        labels = b.pop("labels")
        correct += int((model(**b).logits.argmax(-1) == labels).sum())
    model.train()
    return correct / len(data)


def run_seed(a, model, tok, train, evl, test, res):
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    steps_per_epoch = math.ceil(len(train) / a.batch_size)
    total = steps_per_epoch * a.epochs
    sched = get_linear_schedule_with_warmup(opt, math.ceil(total * a.warmup_ratio), total)
    gen = torch.Generator().manual_seed(a.seed)
    res.update(epoch_train_s=[], eval_accuracy_per_epoch=[], eval_s_per_epoch=[], train_loss_per_epoch=[])
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        te = time.perf_counter()
        order = torch.randperm(len(train), generator=gen).tolist()
        tot, n = 0.0, 0
        for b in batches(train, a.batch_size, order):
            loss = model(**b).loss
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            tot, n = tot + float(loss.detach()), n + 1
        res["epoch_train_s"].append(time.perf_counter() - te)
        res["train_loss_per_epoch"].append(tot / n)
        tv = time.perf_counter()
        res["eval_accuracy_per_epoch"].append(evaluate(model, evl, a.batch_size))
        res["eval_s_per_epoch"].append(time.perf_counter() - tv)
    res["train_and_eval_s"] = time.perf_counter() - t0
    res["optimizer_steps"] = total
    t1 = time.perf_counter()
    res["test_accuracy"] = evaluate(model, test, a.batch_size)
    res["test_s"] = time.perf_counter() - t1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/all-MiniLM-L6-v2")
    p.add_argument("--train", default="data/sentiment_rt_polarity/train.tsv")
    p.add_argument("--eval", default="data/sentiment_rt_polarity/validation.tsv")
    p.add_argument("--test", default="data/sentiment_rt_polarity/test.tsv")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="trainer")
    p.add_argument("--seed", type=int, default=42)
    for name, typ in (("epochs", int), ("lr", float), ("batch-size", int), ("max-length", int),
                      ("warmup-ratio", float), ("weight-decay", float)):
        p.add_argument(f"--{name}", type=typ, default=None,
                       help="default: trainer %s, seed %s" % (RECIPES["trainer"][name.replace("-", "_")],
                                                              RECIPES["seed"][name.replace("-", "_")]))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-eval", type=int, default=None)
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    for k, v in RECIPES[a.recipe].items():
        if getattr(a, k) is None:
            setattr(a, k, v)

    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    lab = label_map(read_tsv(a.train), read_tsv(a.eval), read_tsv(a.test))  # label set of the full files
    train_rows = read_tsv(a.train, a.limit_train)
    eval_rows, test_rows = read_tsv(a.eval, a.limit_eval), read_tsv(a.test, a.limit_test)
    tok = AutoTokenizer.from_pretrained(a.model)
    set_seed(a.seed)
    model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=len(lab))
    pad_to_max = a.recipe == "seed"
    train, evl, test = (encode(tok, r, lab, a.max_length, pad_to_max) for r in (train_rows, eval_rows, test_rows))
    res = {"recipe": a.recipe, "config": {k: getattr(a, k) for k in
                                          ("model", "train", "eval", "test", "seed", "epochs", "lr", "batch_size",
                                           "max_length", "warmup_ratio", "weight_decay", "threads",
                                           "limit_train", "limit_eval", "limit_test")},
           "padding": "max_length" if pad_to_max else "dynamic (DataCollatorWithPadding), group_by_length",
           "labels": list(lab), "n_train": len(train), "n_eval": len(evl), "n_test": len(test),
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "python": platform.python_version()},
           "setup_s": time.perf_counter() - t_start}
    (run_trainer if a.recipe == "trainer" else run_seed)(a, model, tok, train, evl, test, res)
    train_s = sum(res["epoch_train_s"])
    res["train_s"] = train_s
    res["train_examples_per_s"] = len(train) * a.epochs / train_s if train_s > 0 else None
    res["wall_s"] = time.perf_counter() - t_start
    res["peak_rss_mib"] = peak_rss_mib()
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return res


if __name__ == "__main__":
    main()
