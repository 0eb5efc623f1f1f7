#!/usr/bin/env python3
"""Causal-LM speed, retune against PyTorch + transformers, in one run on one machine.

Perplexity (default): both score the same XSum documents with the Hugging Face guide's sliding
windows (each document on its own, batch 1 for PyTorch as the guide does) on the same converted
folder; prints tokens/s, peak RSS and the ratio, with the CPU model.

Training (--train lora|full): both train the same blocks of XSum text (documents packed with EOS,
--block tokens, batch --batch) for --steps optimizer steps (AdamW; LoRA r 8 on q/k/v/o and the
MLP projections, PEFT on the PyTorch side); prints seconds per step after the first, tokens/s and
peak RSS.

    python3 scripts/bench_lm.py --python /work/pyref/bin/python --model models/smollm2-hf \\
        [--docs 10] [--max-length 512] [--stride 256] [--threads 2] [--train lora --steps 4]
Needs: a release or debug build of retune (target/*/retune), torch, transformers (and peft for
--train lora) for --python.
"""
import argparse, json, os, platform, resource, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--python", default=sys.executable)
ap.add_argument("--model", required=True)
ap.add_argument("--docs", type=int, default=10)
ap.add_argument("--max-length", type=int, default=512)
ap.add_argument("--stride", type=int, default=256)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--retune", default=None)
ap.add_argument("--train", choices=["lora", "full"], default=None)
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--block", type=int, default=256)
ap.add_argument("--batch", type=int, default=8)
a = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The newest build of retune (release or debug), unless --retune names one.
exe = a.retune or max((p for p in (f"{root}/target/release/retune", f"{root}/target/debug/retune") if os.path.exists(p)),
                      key=os.path.getmtime)
data = f"{root}/data/xsum/test.jsonl"

PT = r'''
import json, math, sys, time, resource, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model, data, n, L, S, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
t = AutoTokenizer.from_pretrained(model)
docs = [json.loads(l)["document"] for l in open(data)][:n]
t0 = time.time(); nll = 0.0; cnt = 0
with torch.no_grad():
    for doc in docs:
        seq = torch.tensor([t(doc)["input_ids"]]); N = seq.size(1); prev = 0
        for b in range(0, N, S):
            e = min(b + L, N); x = seq[:, b:e]; lab = x.clone(); lab[:, :-(e - prev)] = -100
            k = int((lab[:, 1:] != -100).sum())
            if k:
                nll += m(x, labels=lab).loss.item() * k; cnt += k
            prev = e
            if e == N: break
dt = time.time() - t0
print(json.dumps({"perplexity": math.exp(nll / cnt), "tokens": cnt, "seconds": dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()

env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))

PT_TRAIN = r'''
import json, sys, time, resource, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model, data, strategy, steps, block, batch, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
torch.set_num_threads(threads); torch.manual_seed(0)
m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
t = AutoTokenizer.from_pretrained(model)
if strategy == "lora":
    from peft import LoraConfig, get_peft_model
    m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM"))
m.train()
stream = []
for l in open(data):
    stream += t(json.loads(l)["document"])["input_ids"] + [t.eos_token_id]
    if len(stream) >= block * batch * (steps + 1): break
blocks = [stream[i:i + block] for i in range(0, block * batch * (steps + 1), block)]
opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=2e-4 if strategy == "lora" else 5e-5)
times = []
for s in range(steps + 1):
    x = torch.tensor(blocks[s * batch:(s + 1) * batch])
    t0 = time.time()
    loss = m(x, labels=x).loss
    loss.backward(); opt.step(); opt.zero_grad()
    times.append(time.time() - t0)
print(json.dumps({"step_s": sorted(times[1:])[len(times[1:]) // 2], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

if a.train:
    import tempfile
    out = tempfile.mkdtemp(prefix="retune-bench-lm-")
    n_docs = 400
    r = subprocess.run([exe, "finetune", "--task", "lm", "--model", a.model, "--train", f"{data}[:{n_docs}]",
                        "--eval", f"{data}[990:]", "--text-column", "document", "--out", out,
                        "--strategy", "lora:8" if a.train == "lora" else "full", "--block-size", str(a.block),
                        "--batch-size", str(a.batch), "--max-steps", str(a.steps + 1), "--json"],
                       capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(r.stderr)
    summ = json.loads(r.stdout)
    rt_step = summ["run"]["train_seconds"] / max(1, summ["run"]["steps"])
    rt_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    p = subprocess.run([a.python, "-c", PT_TRAIN, a.model, data, a.train, str(a.steps), str(a.block), str(a.batch), str(a.threads)],
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(p.stderr)
    pt = json.loads(p.stdout.strip().splitlines()[-1])
    tok = a.block * a.batch
    print(f"CPU: {cpu()}, {a.threads} threads; {a.train} step, batch {a.batch} x {a.block} tokens; {exe}")
    print(f"retune : {rt_step:.2f} s/step (mean of {summ['run']['steps']}), {tok / rt_step:.0f} tokens/s, peak RSS {rt_rss:.0f} MB")
    print(f"PyTorch: {pt['step_s']:.2f} s/step (median after the first), {tok / pt['step_s']:.0f} tokens/s, peak RSS {pt['peak_rss_mb']:.0f} MB")
    print(f"ratio  : {pt['step_s'] / rt_step:.2f}x PyTorch's speed, {rt_rss / pt['peak_rss_mb']:.2f}x its memory")
    sys.exit(0)
spec = f"{data}[:{a.docs}]"
r = subprocess.run([exe, "eval", "perplexity", "--model", a.model, "--input", spec, "--column", "document",
                    "--max-length", str(a.max_length), "--stride", str(a.stride), "--json"],
                   capture_output=True, text=True, env=env)
if r.returncode:
    sys.exit(r.stderr)
rt = json.loads(r.stdout)
rt_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
p = subprocess.run([a.python, "-c", PT, a.model, data, str(a.docs), str(a.max_length), str(a.stride), str(a.threads)],
                   capture_output=True, text=True)
if p.returncode:
    sys.exit(p.stderr)
pt = json.loads(p.stdout.strip().splitlines()[-1])
rt_tps = rt["tokens"] / rt["seconds"]
pt_tps = pt["tokens"] / pt["seconds"]
blas = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
print(f"CPU: {cpu()}, {a.threads} threads; {a.docs} XSum documents, window {a.max_length}, stride {a.stride}; {exe}")
print(f"retune : perplexity {rt['perplexity']:.4f}, {rt['tokens']} tokens in {rt['seconds']:.1f}s = {rt_tps:.0f} tokens/s, peak RSS {rt_rss:.0f} MB")
print(f"PyTorch: perplexity {pt['perplexity']:.4f}, {pt['tokens']} tokens in {pt['seconds']:.1f}s = {pt_tps:.0f} tokens/s, peak RSS {pt['peak_rss_mb']:.0f} MB")
print(f"ratio  : {rt_tps / pt_tps:.2f}x PyTorch's tokens/s, {rt_rss / pt['peak_rss_mb']:.2f}x its memory")
