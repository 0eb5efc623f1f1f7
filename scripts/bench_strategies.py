#!/usr/bin/env python3
"""What each fine-tuning strategy costs: `retune finetune` on Rotten Tomatoes (MiniLM), measured
in one run, optionally against another retune binary (e.g. a build of an older commit).

    python3 scripts/bench_strategies.py [--baseline PATH_TO_OLD_RETUNE] [--steps 60]

For `full`, `lora:8` and `top:2`: training rows/s over --steps optimizer steps (batch 32, length
grouped; the log's rows/s excludes evaluation), and an epoch over all 8,514 training sentences
extrapolated from it. For `head`: a whole epoch, wall-clock time including model loading and the
frozen encoder's pass (it runs once per text). Prints one JSON line per run and a summary with
each strategy's epoch time as a fraction of `full`'s (issue goals: lora ≤ 0.6, head ≤ 0.15).
"""
import argparse, json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/all-MiniLM-L6-v2")
RT = os.path.join(ROOT, "data/sentiment_rt_polarity")
TRAIN_ROWS = 8514


def run(binary, strategy, steps, out):
    cmd = [binary, "finetune", "--model", MODEL, "--train", f"{RT}/train.tsv", "--eval", f"{RT}/validation.tsv",
           "--strategy", strategy, "--epochs", "1", "--out", out, "--json"]
    if strategy != "head":
        cmd += ["--max-steps", str(steps)]
    t0 = time.time()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    if res.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    s = json.load(open(os.path.join(out, "summary.json")))
    r = s["run"]
    epoch = wall if strategy == "head" else TRAIN_ROWS / r["rows_per_s"]
    return {"strategy": strategy, "rows_per_s": round(r["rows_per_s"], 2), "train_s": round(r["train_seconds"], 2),
            "wall_s": round(wall, 2), "epoch_s": round(epoch, 1), "eval_accuracy": s["evals"][-1]["accuracy"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", help="another retune binary to measure the same way")
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune"], cwd=ROOT, check=True)
    bins = [("retune", os.path.join(ROOT, "target/release/retune"))]
    if a.baseline:
        bins.append(("baseline", os.path.abspath(a.baseline)))
    summary = {"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t")}
    for name, b in bins:
        res = {}
        for strategy in ["full", "lora:8", "top:2", "head"]:
            r = run(b, strategy, a.steps, os.path.join(ROOT, f"runs/bench-strategies-{name}-{strategy.replace(':', '')}"))
            r["binary"] = name
            print(json.dumps(r), flush=True)
            res[strategy] = r
        full = res["full"]["epoch_s"]
        summary[name] = {s: {"epoch_s": v["epoch_s"], "fraction_of_full": round(v["epoch_s"] / full, 3)} for s, v in res.items()}
    if a.baseline:
        summary["speedup_over_baseline"] = {s: round(summary["baseline"][s]["epoch_s"] / summary["retune"][s]["epoch_s"], 2)
                                            for s in summary["retune"]}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
