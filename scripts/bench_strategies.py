#!/usr/bin/env python3
"""What each fine-tuning strategy costs: `retune finetune` on Rotten Tomatoes (MiniLM), measured
in one run, optionally against another retune binary (e.g. a build of an older commit).

    python3 scripts/bench_strategies.py [--baseline PATH_TO_OLD_RETUNE] [--steps 60] [--repeat 3]

For `full`, `lora:8` and `top:2`: training rows/s over --steps optimizer steps (batch 32, length
grouped; the log's rows/s excludes evaluation), and an epoch over all 8,514 training sentences
extrapolated from it. For `head`: whole runs of 1 and of 3 epochs, wall-clock time including
model loading, evaluation and the frozen encoder's pass over every train and eval text (it runs
once per text, whatever the epochs), against 1 and 3 extrapolated `full` epochs. Prints one JSON
line per run and a summary with each strategy's time as a fraction of `full`'s (issue goals:
lora ≤ 0.6, head ≤ 0.15).
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/all-MiniLM-L6-v2")
RT = os.path.join(ROOT, "data/sentiment_rt_polarity")
TRAIN_ROWS = 8514


def run(binary, strategy, steps, out, epochs=1):
    cmd = [binary, "finetune", "--model", MODEL, "--train", f"{RT}/train.tsv", "--eval", f"{RT}/validation.tsv",
           "--strategy", strategy, "--epochs", str(epochs), "--out", out, "--json"]
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
    return {"strategy": strategy if epochs == 1 else f"{strategy} x{epochs}", "rows_per_s": round(r["rows_per_s"], 2),
            "train_s": round(r["train_seconds"], 2), "wall_s": round(wall, 2), "epoch_s": round(epoch, 1),
            "eval_accuracy": s["evals"][-1]["accuracy"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", help="another retune binary to measure the same way")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of all strategies (medians are reported)")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune"], cwd=ROOT, check=True)
    bins = [("retune", os.path.join(ROOT, "target/release/retune"))]
    if a.baseline:
        bins.append(("baseline", os.path.abspath(a.baseline)))
    summary = {"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t")}
    runs = [("full", 1), ("lora:8", 1), ("top:2", 1), ("head", 1), ("head", 3)]
    for name, b in bins:
        # Every round runs each strategy once, so a drift of the machine's speed (±20% within
        # minutes on the 2-core VMs) falls on all of them alike; each strategy's median counts.
        got = {}
        for _ in range(a.repeat):
            for strategy, epochs in runs:
                tag = f"{strategy.replace(':', '')}{'' if epochs == 1 else epochs}"
                r = run(b, strategy, a.steps, os.path.join(ROOT, f"runs/bench-strategies-{name}-{tag}"), epochs=epochs)
                r["binary"] = name
                print(json.dumps(r), flush=True)
                got.setdefault(r["strategy"], []).append(r["epoch_s"])
        med = {k: statistics.median(v) for k, v in got.items()}
        full = med["full"]
        summary[name] = {k: {"epoch_s": v, "fraction_of_full": round(v / full, 3)} for k, v in med.items()}
        # 3 epochs of head against 3 of full.
        summary[name]["head x3"]["fraction_of_full"] = round(med["head x3"] / (3 * full), 3)
    if a.baseline:
        summary["speedup_over_baseline"] = {s: round(summary["baseline"][s]["epoch_s"] / summary["retune"][s]["epoch_s"], 2)
                                            for s in summary["retune"]}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
