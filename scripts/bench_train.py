#!/usr/bin/env python3
"""Training benchmark: retune against PyTorch + transformers, measured in the same run.

    python3 scripts/bench_train.py --python /path/to/python-with-torch [--steps 10] [--finetune]

1. Step time: MiniLM + 2-label head, batch 32 x 64 random tokens, forward + cross-entropy +
   backward + AdamW, dropout on, median of --steps after 3 warm-up steps, at 1 and 2 threads
   (retune: `cargo run --release -p retune-train --example bench_train_step`; PyTorch:
   scripts/reference/bench_train_step.py).
2. With --finetune: the whole fine-tune on data/sentiment_rt_polarity, --epochs (default 1):
   `retune finetune` (dynamic padding, length-grouped batches; run just before and just after each
   of --rounds Trainer runs, each ratio against the mean of its two neighbours, the median
   ratio reported) against HF's Trainer with the same
   recipe (scripts/reference/hf_finetune.py --recipe trainer), and the seed's recipe (every text
   padded to 256) timed on --seed-steps steps and extrapolated to the same number of epochs;
   the peak RSS of the retune and Trainer processes (getrusage, model loading and evaluation
   included).
Prints one JSON object per measurement and a summary with the ratios.
"""
import argparse, json, os, statistics, subprocess, sys, time

from peak_rss import run_with_peak_rss

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/all-MiniLM-L6-v2")
RT = os.path.join(ROOT, "data/sentiment_rt_polarity")


def run_json(cmd, env=None):
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    lines = [l for l in out.stdout.splitlines() if l.strip().startswith("{")]
    return [json.loads(l) for l in lines]


def run_measured(cmd):
    """Runs cmd; returns its peak RSS in MB (exits on failure)."""
    info = run_with_peak_rss(cmd, cwd=ROOT)
    if info["rc"] != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{info['stderr']}")
    return info["peak_rss_mb"]


def run_file(cmd, out):
    """Runs a reference script with `--out FILE`; returns the JSON it wrote and its peak RSS (MB)."""
    rss = run_measured(cmd + ["--out", out])
    return json.load(open(out)), rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="a Python with torch and transformers")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--finetune", action="store_true")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed-steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1, help="Trainer runs, each between two retune runs")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune-train", "--example", "bench_train_step",
                    "-p", "retune"], cwd=ROOT, check=True)
    summary = {}
    for threads in (1, 2):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        r = run_json([os.path.join(ROOT, "target/release/examples/bench_train_step"), MODEL, str(a.steps), "3"], env)[0]
        p = run_json([a.python, "scripts/reference/bench_train_step.py", "--threads", str(threads), "--input", "random",
                      "--steps", str(a.steps), "--warmup", "3"])[0]
        print(json.dumps(r)); print(json.dumps(p))
        summary[f"step_{threads}t"] = {"retune_s": r["median_step_s"], "pytorch_s": p["median_step_s"],
                                      "retune_time_over_pytorch": r["median_step_s"] / p["median_step_s"]}
    if a.finetune:
        os.makedirs(os.path.join(ROOT, "runs"), exist_ok=True)

        def retune_epoch(tag):
            out = os.path.join(ROOT, f"runs/bench-finetune-{tag}")
            t0 = time.time()
            rss = run_measured([os.path.join(ROOT, "target/release/retune"), "finetune", "--model", MODEL,
                                "--train", f"{RT}/train.tsv", "--eval", f"{RT}/validation.tsv", "--test", f"{RT}/test.tsv",
                                "--epochs", str(a.epochs), "--out", out, "--json"])
            wall = time.time() - t0
            rs = json.loads(open(os.path.join(out, "summary.json")).read())
            r = {"train_s": rs["run"]["train_seconds"], "wall_s": wall, "test_accuracy": rs["test"]["accuracy"],
                 "examples_per_s": rs["run"]["rows_per_s"], "peak_rss_mb": rss}
            print(json.dumps({"impl": f"retune finetune ({tag})", **r}), flush=True)
            return r

        # retune runs just before and just after each Trainer run and each ratio takes the mean
        # of its two neighbours: the 2-core VMs' speed drifts by ±20% within minutes, so both
        # sides see the same machine. With --rounds N the Trainer runs N times between N + 1
        # retune runs, and the summary gives each round's ratio and their median.
        runs = [retune_epoch("r0")]
        hfs, ratios = [], []
        for i in range(a.rounds):
            hf, hf_rss = run_file([a.python, "scripts/reference/hf_finetune.py", "--recipe", "trainer", "--epochs",
                                   str(a.epochs), "--threads", "2"], os.path.join(ROOT, f"runs/bench-hf-{i}.json"))
            print(json.dumps({"impl": f"hf trainer (round {i + 1})", "peak_rss_mb": hf_rss,
                              **{k: hf.get(k) for k in ("train_s", "test_accuracy", "train_examples_per_s")}}),
                  flush=True)
            hfs.append((hf, hf_rss))
            runs.append(retune_epoch(f"r{i + 1}"))
            ratios.append(hf["train_s"] / ((runs[-2]["train_s"] + runs[-1]["train_s"]) / 2))
        hf, hf_rss = hfs[0][0], max(r for _, r in hfs)
        retune = {"train_s": sum(r["train_s"] for r in runs) / len(runs), "test_accuracy": runs[-1]["test_accuracy"]}
        rss = max(r["peak_rss_mb"] for r in runs)
        seed, _ = run_file([a.python, "scripts/reference/hf_finetune.py", "--recipe", "seed", "--epochs", "1",
                         "--limit-train", str(32 * a.seed_steps), "--limit-eval", "32", "--limit-test", "32",
                         "--threads", "2"], os.path.join(ROOT, "runs/bench-seed.json"))
        per_example = seed["train_s"] / (32 * a.seed_steps)
        seed_total = per_example * 8514 * a.epochs
        print(json.dumps({"impl": "seed recipe (extrapolated)", "per_example_s": per_example, "train_s": seed_total}))
        summary["finetune"] = {"epochs": a.epochs, "rounds": a.rounds, "retune_train_s": retune["train_s"],
                               "retune_train_s_each": [r["train_s"] for r in runs],
                               "hf_trainer_train_s": statistics.median(h["train_s"] for h, _ in hfs),
                               "hf_trainer_train_s_each": [h["train_s"] for h, _ in hfs],
                               "speedup_vs_hf_trainer_each_round": ratios,
                               "seed_recipe_train_s_extrapolated": seed_total,
                               "speedup_vs_hf_trainer": statistics.median(ratios),
                               "speedup_vs_seed_recipe": seed_total / retune["train_s"],
                               "retune_test_accuracy": retune["test_accuracy"], "hf_test_accuracy": hf.get("test_accuracy"),
                               "retune_peak_rss_mb": rss, "hf_trainer_peak_rss_mb": hf_rss,
                               "peak_rss_retune_over_hf": rss / hf_rss}
    print(json.dumps({"summary": summary}, indent=1))


if __name__ == "__main__":
    main()
