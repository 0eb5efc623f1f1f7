#!/usr/bin/env python3
"""Benchmark: `retune predict` against PyTorch + transformers on the same sentences, batches and
lengths, in one run: sentences/s and peak resident memory of each process, and the ratios.

    bash scripts/fetch_minilm.sh                       # the real MiniLM (22M parameters)
    pip install torch transformers                     # the reference (any Python env)
    python3 scripts/bench_predict.py [--python /path/to/python-with-torch] [--rows 1058] [--batch-size 32] [--threads 2] [--data TSV] [--repeat 3]

Both sides classify the Rotten Tomatoes test sentences (data/sentiment_rt_polarity/test.tsv; --data
for another file, e.g. the kitchen reviews of data/sentiment_amazon_multidomain/, 5x longer) with
all-MiniLM-L6-v2 plus a classification head, in eval mode, rows sorted by length and padded per
batch (dynamic padding), on --threads CPU threads. Each side runs in its own process; memory is
the process's peak RSS (getrusage), model loading included.
"""
import argparse, json, os, subprocess, sys, tempfile, time

from peak_rss import run_with_peak_rss

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_SIDE = r'''
import json, resource, sys, time, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model_dir, input_path, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
texts = [l.split("\t")[0] for l in open(input_path, encoding="utf-8").read().splitlines()[1:]]
t0 = time.perf_counter()
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2).eval()
t1 = time.perf_counter()
lengths = [len(tok(t)["input_ids"]) for t in texts]
order = sorted(range(len(texts)), key=lambda i: lengths[i])
with torch.inference_mode():
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        enc = tok([texts[i] for i in idx], padding=True, truncation=True, return_tensors="pt")
        model(**enc).logits.softmax(-1)
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "predict_s": t2 - t1, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="a Python with torch and transformers")
    ap.add_argument("--model", default=os.path.join(ROOT, "models/all-MiniLM-L6-v2"))
    ap.add_argument("--rows", type=int, default=1058)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of both sides (the median round is reported)")
    ap.add_argument("--data", default="data/sentiment_rt_polarity/test.tsv",
                    help="a .tsv with a text column first (e.g. data/sentiment_amazon_multidomain/"
                         "kitchen_test.tsv: full-length reviews)")
    a = ap.parse_args()
    src = os.path.join(ROOT, a.data)
    lines = open(src, encoding="utf-8").read().splitlines()
    tmp = tempfile.mkdtemp(prefix="retune-bench-predict-")
    inp = os.path.join(tmp, "rows.tsv")
    open(inp, "w", encoding="utf-8").write("\n".join(lines[: a.rows + 1]) + "\n")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target/release/retune")
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    # retune: time the whole command (loading included) and, separately, loading alone (0 rows).
    empty = os.path.join(tmp, "empty.tsv")
    open(empty, "w").write("text\n")
    def run_retune(path):
        t = time.perf_counter()
        info = run_with_peak_rss([exe, "predict", "--model", a.model, "--input", path, "--batch-size",
                                  str(a.batch_size)], env=env)
        return time.perf_counter() - t, info
    n = min(a.rows, len(lines) - 1)
    # Rounds of both sides, one after the other: the 2-core VMs' speed drifts by ±20% within
    # minutes, so each round's ratio compares neighbours and the median round is reported.
    rounds = []
    for _ in range(a.repeat):
        load_s, _ = run_retune(empty)
        total_s, info = run_retune(inp)
        assert info["rc"] == 0, "retune predict failed"
        rust_predict = max(total_s - load_s, 1e-9)
        torch_out = subprocess.run([a.python, "-c", TORCH_SIDE, a.model, inp, str(a.batch_size), str(a.threads)],
                                   capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        t = json.loads(torch_out)
        r = {"pytorch_rate": n / t["predict_s"], "retune_rate": n / rust_predict, "pytorch_rss_mb": t["peak_rss_mb"],
             "retune_rss_mb": info["peak_rss_mb"]}
        r["ratio"] = r["retune_rate"] / r["pytorch_rate"]
        print(json.dumps({k: round(v, 3) for k, v in r.items()}), flush=True)
        rounds.append(r)
    mid = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    print(f"{n} rows ({a.data}), {os.path.basename(a.model)} + head, batch {a.batch_size}, {a.threads} threads, "
          f"sorted by length; median of {len(rounds)} rounds (ratios {', '.join('%.2fx' % r['ratio'] for r in rounds)})")
    print(f"{'':26} {'sentences/s':>12} {'peak RSS MB':>12}")
    print(f"{'PyTorch + transformers':26} {mid['pytorch_rate']:12.1f} {mid['pytorch_rss_mb']:12.0f}")
    print(f"{'retune predict':26} {mid['retune_rate']:12.1f} {mid['retune_rss_mb']:12.0f}")
    print(f"ratio retune/PyTorch: throughput {mid['ratio']:.2f}x, memory {mid['retune_rss_mb'] / mid['pytorch_rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
