#!/usr/bin/env python3
"""Benchmark one training step of MiniLM + a classification head in PyTorch, the reference for
`retune`'s training engine: forward + cross-entropy + backward + AdamW step, dropout on
(model.train()), fixed batch, on --threads CPU threads.

    python3 scripts/reference/bench_train_step.py --model models/all-MiniLM-L6-v2 --threads 1 2 --steps 20
    python3 scripts/reference/bench_train_step.py --input rt --threads 2      # real sentences
    # smoke run: --steps 3

Inputs (--input):
  random  batch 32 x 64 tokens: torch.manual_seed(seed); ids = randint(1000, vocab_size, (32, 64));
          ids[:, 0] = [CLS]; ids[:, -1] = [SEP]; attention mask all ones, token types 0.
  rt      32 sentences of data/sentiment_rt_polarity/train.tsv (random.Random(seed).sample),
          tokenized with truncation at --max-length (128) and padded to the batch max.
Labels: randint(0, 2, (32,)). Optimizer: torch.optim.AdamW(lr=5e-5, weight_decay=0.01) on every
parameter. Each timed step runs zero_grad(set_to_none=True), forward, F.cross_entropy, backward,
opt.step(). --warmup (3) untimed steps first, then the median (and p10/p90) of --steps (20).
One JSON object per line per (input, threads):
  {input, threads, batch, seq_len, steps, median_step_s, p10, p90, examples_per_s,
   phases_median_s: {forward, backward, optimizer}, torch, transformers}
Importable: bench(model_dir, threads, ...) returns that dict.
"""
import argparse, json, random, statistics, time

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def make_batch(tok, vocab_size, kind, batch, seq_len, max_length, seed, data):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (batch,), generator=g)
    if kind == "random":
        ids = torch.randint(1000, vocab_size, (batch, seq_len), generator=g)
        ids[:, 0] = tok.cls_token_id
        ids[:, -1] = tok.sep_token_id
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                "token_type_ids": torch.zeros_like(ids)}, labels
    rows = open(data, encoding="utf-8").read().split("\n")[1:]
    texts = [r.split("\t")[0] for r in rows if r]
    texts = random.Random(seed).sample(texts, batch)
    enc = tok(texts, truncation=True, max_length=max_length, padding="longest", return_tensors="pt")
    return dict(enc), labels


def bench(model_dir, threads=2, steps=20, warmup=3, batch=32, seq_len=64, kind="random", seed=0,
          max_length=128, data="data/sentiment_rt_polarity/train.tsv", lr=5e-5):
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    model.train()
    inputs, labels = make_batch(tok, model.config.vocab_size, kind, batch, seq_len, max_length, seed, data)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    times, phases = [], {"forward": [], "backward": [], "optimizer": []}
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(**inputs).logits, labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= warmup:
            times.append(t3 - t0)
            phases["forward"].append(t1 - t0)
            phases["backward"].append(t2 - t1)
            phases["optimizer"].append(t3 - t2)
    med = statistics.median(times)
    return {"input": kind, "threads": threads, "batch": batch, "seq_len": int(inputs["input_ids"].shape[1]),
            "steps": steps, "median_step_s": med, "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90)), "examples_per_s": batch / med,
            "phases_median_s": {k: statistics.median(v) for k, v in phases.items()},
            "last_loss": float(loss.detach()), "torch": torch.__version__, "transformers": transformers.__version__}


def main(argv=None):
    p = argparse.ArgumentParser(description="time a MiniLM training step in PyTorch")
    p.add_argument("--model", default="models/all-MiniLM-L6-v2")
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--input", choices=["random", "rt", "both"], default="random")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--data", default="data/sentiment_rt_polarity/train.tsv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the results (a JSON list) here")
    a = p.parse_args(argv)
    results = []
    for kind in (["random", "rt"] if a.input == "both" else [a.input]):
        for th in a.threads:
            r = bench(a.model, th, a.steps, a.warmup, a.batch_size, a.seq_len, kind, a.seed, a.max_length, a.data)
            print(json.dumps(r), flush=True)
            results.append(r)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
    return results


if __name__ == "__main__":
    main()
