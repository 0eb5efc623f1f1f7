#!/usr/bin/env python3
"""Benchmark: every metric in retune against its Python reference on the same pairs, in one run.

    pip install sacrebleu==2.6.0 rouge-score==0.1.2 nltk==3.10.4
    python3 scripts/bench_metrics.py [--pairs 100000] [--metrics bleu chrf ter rouge meteor]

Python references that are slow on these long WMT sentences (sacrebleu's TER manages ~40
pairs/s here) score the pairs in chunks until --python-seconds have passed: their pairs/s come
from the first K pairs (printed), retune's from all of them.

The pairs are the WMT22 zh->en system outputs bundled in data/wmt22 against reference A
(4 systems x 1875 segments); to reach --pairs distinct pairs, copy k of the set has the words of
each hypothesis rotated by k positions (same vocabulary and lengths, different n-grams), so no
cache on either side sees a pair twice. Python runs single-process (as the references do);
retune runs on all cores and on one thread, once just before and once just after each Python
reference (its times averaged, so both sides see the machine at the same speed). Prints pairs/s
and the ratios.

--whole-process M [M ...] (bleu, chrf, ter) then times whole commands, as a user runs them: the
`retune eval M` process against the `sacrebleu` command line (`python -m sacrebleu REF -i HYP -m M`,
its import and file reading included) on all the pairs, retune again just before and just after.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_pairs(n):
    d = os.path.join(ROOT, "data/wmt22/zh-en")
    ref = open(f"{d}/generaltest2022.zh-en.ref.A.en", encoding="utf-8").read().split("\n")[:1875]
    base = []
    for hyp_file in sorted(glob.glob(f"{d}/generaltest2022.zh-en.hyp.*.en")):
        hyps = open(hyp_file, encoding="utf-8").read().split("\n")[:1875]
        base += list(zip(hyps, ref))
    pairs, k = [], 0
    while len(pairs) < n:
        for h, r in base:
            w = h.split()
            if k and w:
                s = k % len(w)
                w = w[s:] + w[:s]
            pairs.append((" ".join(w), r))
            if len(pairs) == n:
                break
        k += 1
    return pairs


def python_reference(metric):
    """A function scoring a chunk of pairs (hyps, refs) with the Python reference."""
    if metric == "bleu":
        from sacrebleu.metrics import BLEU
        return lambda hyps, refs: BLEU().corpus_score(hyps, [refs]).score
    if metric == "chrf":
        from sacrebleu.metrics import CHRF
        return lambda hyps, refs: CHRF().corpus_score(hyps, [refs]).score
    if metric == "ter":
        from sacrebleu.metrics import TER
        return lambda hyps, refs: TER().corpus_score(hyps, [refs]).score
    if metric == "rouge":
        from rouge_score import rouge_scorer
        sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
        return lambda hyps, refs: 100 * sum(sc.score(r, h)["rouge1"].fmeasure for h, r in zip(hyps, refs)) / len(hyps)
    if metric == "meteor":
        from pathlib import Path
        from nltk.translate.meteor_score import meteor_score
        sys.path.insert(0, os.path.join(ROOT, "scripts/golden"))
        from meteor import load_wordnet  # the golden script's Debian-WordNet loader
        wn = load_wordnet(Path(tempfile.mkdtemp(prefix="retune-wn-")))
        return lambda hyps, refs: 100 * sum(meteor_score([r.split()], h.split(), wordnet=wn) for h, r in zip(hyps, refs)) / len(hyps)
    raise ValueError(metric)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--metrics", nargs="+", default=["bleu", "chrf", "ter", "rouge", "meteor"])
    ap.add_argument("--python-seconds", type=float, default=60.0,
                    help="stop a Python reference after the chunk that passes this many seconds")
    ap.add_argument("--whole-process", nargs="*", default=[], choices=["bleu", "chrf", "ter"],
                    help="also time `retune eval M` against the sacrebleu command, whole processes")
    args = ap.parse_args()
    pairs = make_pairs(args.pairs)
    hyps, refs = [p[0] for p in pairs], [p[1] for p in pairs]
    tmp = tempfile.mkdtemp(prefix="retune-bench-")
    hp, rp = os.path.join(tmp, "hyp.txt"), os.path.join(tmp, "ref.txt")
    open(hp, "w", encoding="utf-8").write("\n".join(hyps) + "\n")
    open(rp, "w", encoding="utf-8").write("\n".join(refs) + "\n")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune-metrics", "--example", "bench_metrics"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target/release/examples/bench_metrics")

    def rust_run(m):
        out = subprocess.run([exe, hp, rp, m], check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    print(f"{len(pairs)} pairs (WMT22 zh-en outputs vs reference A), {os.cpu_count()} cores; correctness is checked by the golden tests")
    print(f"{'metric':8} {'python pairs/s':>15} {'(pairs)':>8} {'retune 1 thread':>16} {'retune all cores':>17} {'cold run':>10} {'ratio (all cores)':>18}")
    for m in args.metrics:
        # retune runs just before and just after the reference and its times are averaged: the
        # 2-core VMs' speed drifts by ±20% within minutes, so both sides see the same machine.
        before = rust_run(m)
        f = python_reference(m)
        chunk = 1000 if m == "ter" else 10000
        done, py_s = 0, 0.0
        while done < len(pairs) and py_s < args.python_seconds:
            t = time.perf_counter()
            f(hyps[done:done + chunk], refs[done:done + chunk])
            py_s += time.perf_counter() - t
            done = min(done + chunk, len(pairs))
        after = rust_run(m)
        r = {k: (before[k] + after[k]) / 2 for k in ("seconds_one_thread", "seconds_all_cores", "seconds_cold")}
        n = len(pairs)
        py_rate, one, allc, cold = done / py_s, n / r["seconds_one_thread"], n / r["seconds_all_cores"], n / r["seconds_cold"]
        print(f"{m:8} {py_rate:15,.0f} {done:8} {one:16,.0f} {allc:17,.0f} {cold:10,.0f} {allc / py_rate:17.1f}x", flush=True)
    if args.whole_process:
        whole_process(args.whole_process, hp, rp, len(pairs))


def whole_process(metrics, hp, rp, n):
    """`retune eval M` against `python -m sacrebleu`, whole commands, retune bracketing sacrebleu."""
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "retune"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target/release/retune")

    def timed(cmd):
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return time.perf_counter() - t, out.strip().splitlines()[0]
    print(f"\nwhole processes on {n} pairs (retune: mean of the runs just before and just after)")
    print(f"{'metric':8} {'sacrebleu s':>12} {'retune s':>9} {'ratio':>7}  scores")
    for m in metrics:
        rt = [exe, "eval", m, "-i", hp, "-r", rp]
        before, rs = timed(rt)
        py, ps = timed([sys.executable, "-m", "sacrebleu", rp, "-i", hp, "-m", m, "-b"])
        after, _ = timed(rt)
        r = (before + after) / 2
        print(f"{m:8} {py:12.2f} {r:9.3f} {py / r:6.1f}x  {ps} / {rs}", flush=True)


if __name__ == "__main__":
    main()
