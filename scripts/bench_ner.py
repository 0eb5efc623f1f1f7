#!/usr/bin/env python3
"""NER fine-tuning: retune against PyTorch + transformers' Trainer, same recipe, same run.

    python3 scripts/bench_ner.py --python PY [--seeds 42,43,44] [--epochs 3] [--lr 3e-4] [--model DIR]

MiniLM (models/all-MiniLM-L6-v2; or --model, e.g. models/quire-distilbert) on WNUT 2017 (data/ner_wnut17): `retune finetune --task ner`
and scripts/reference/hf_ner.py (a Python with torch, transformers and seqeval 1.2.2), one after
the other for each seed; prints one JSON line per run and a summary: mean test entity F1 of each
side, the difference, and the training time per epoch (evaluation excluded) with its ratio.
"""
import argparse, json, os, subprocess, sys, statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/all-MiniLM-L6-v2")
D = os.path.join(ROOT, "data/ner_wnut17")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--seeds", default="42,43,44")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--model", default=MODEL)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune"], cwd=ROOT, check=True)
    rows = {"retune": [], "hf": []}
    for seed in [int(s) for s in a.seeds.split(",")]:
        out = os.path.join(ROOT, f"runs/bench-ner-{os.path.basename(a.model.rstrip('/'))}-{seed}")
        r = subprocess.run([os.path.join(ROOT, "target/release/retune"), "finetune", "--task", "ner", "--model", a.model,
                            "--train", f"{D}/train.jsonl", "--eval", f"{D}/validation.jsonl", "--test", f"{D}/test.jsonl",
                            "--epochs", str(a.epochs), "--lr", str(a.lr), "--seed", str(seed), "--out", out, "--json",
                            "--new-head"],
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr[-2000:])
        s = json.load(open(os.path.join(out, "summary.json")))
        ret = {"impl": "retune", "seed": seed, "test_f1": s["test"]["report"]["micro"]["f1"],
               "train_s": s["run"]["train_seconds"], "epochs": a.epochs}
        print(json.dumps(ret), flush=True)
        rows["retune"].append(ret)
        hf_out = os.path.join(out, "hf.json")
        h = subprocess.run([a.python, "scripts/reference/hf_ner.py", "--model", a.model, "--train", f"{D}/train.jsonl",
                            "--eval", f"{D}/validation.jsonl", "--test", f"{D}/test.jsonl", "--epochs", str(a.epochs),
                            "--lr", str(a.lr), "--seed", str(seed), "--out", hf_out], cwd=ROOT, capture_output=True,
                           text=True)
        if h.returncode != 0:
            sys.exit(h.stderr[-2000:])
        hf = json.load(open(hf_out))
        hf_row = {"impl": "hf trainer", "seed": seed, "test_f1": hf["test_f1"], "train_s": hf["train_s"]}
        print(json.dumps(hf_row), flush=True)
        rows["hf"].append(hf_row)
    f = {k: statistics.mean(r["test_f1"] for r in v) for k, v in rows.items()}
    t = {k: statistics.mean(r["train_s"] for r in v) / a.epochs for k, v in rows.items()}
    print(json.dumps({"summary": {"test_f1_mean": f, "f1_difference_points": 100 * (f["retune"] - f["hf"]),
                                  "epoch_train_s": t, "retune_speed_over_hf": t["hf"] / t["retune"],
                                  "seeds": a.seeds, "model": a.model}}, indent=1))


main()
