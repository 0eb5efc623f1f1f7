#!/usr/bin/env python3
"""Reference numbers for retune's Llama code on the real SmolLM2-135M-Instruct GGUF.

Independent of retune: transformers reads the GGUF itself (`from_pretrained(gguf_file=...)`:
its own dequantisation, rotary un-permutation and tokenizer conversion), in float32. Writes
crates/retune-models/tests/golden/smollm2.json with, for a few real texts (XSum documents,
tricky strings): token ids; per position the log-sum-exp and argmax of the logits, and the
logits at every 1009th vocabulary id at the first, middle and last positions; perplexity as the
Hugging Face guide computes it (exact token counts) truncated and in sliding windows; greedy
continuations (plain and with the chat template).

With --converted DIR (a folder written by `retune convert gguf`), also checks that
transformers loads retune's folder and gives the same logits and tokens as from the GGUF.

    /work/pyref/bin/python scripts/golden/make_llama_golden.py \
        --gguf models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf [--converted /tmp/smol-hf]
Needs: torch, transformers (5.x), gguf.
"""
import argparse, json, math, os, sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--gguf", required=True)
ap.add_argument("--converted")
ap.add_argument("--xsum", default="data/xsum/test.jsonl")
ap.add_argument("--out", default="crates/retune-models/tests/golden/smollm2.json")
a = ap.parse_args()

torch.manual_seed(0)
d, f = os.path.split(os.path.abspath(a.gguf))
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)

docs = []
with open(a.xsum) as fh:
    for line in fh:
        docs.append(json.loads(line)["document"])
        if len(docs) == 3:
            break
# Keep the model-side test quick: the first ~600 characters of each document, cut at a space.
short = [x[: x.rfind(" ", 0, 600)] if len(x) > 600 else x for x in docs]
tricky = [
    "Numbers: 12345 and 3.14159, dates 2024-06-01.",
    "  leading spaces,\ttabs,\nnew lines\n\nand   runs   of spaces  ",
    "Unicode: naïve café, Straße, 東京, emoji 🙂👍🏽, ¿qué?",
    "<|im_start|>user\nhello<|im_end|>",
]
texts = short + tricky
STRIDE_IDS = list(range(0, model.config.vocab_size, 1009))

out = {"source": "transformers %s from %s" % (__import__("transformers").__version__, f),
       "vocab_sample_ids": STRIDE_IDS, "texts": []}
with torch.no_grad():
    for t in texts:
        ids = tok(t)["input_ids"]
        logits = model(torch.tensor([ids])).logits[0].float()
        lse = torch.logsumexp(logits, -1)
        n = len(ids)
        picks = sorted({0, n // 2, n - 1})
        out["texts"].append({
            "text": t,
            "ids": ids,
            "lse": lse.tolist(),
            "argmax": logits.argmax(-1).tolist(),
            "sample_positions": picks,
            "sample_logits": [logits[p, STRIDE_IDS].tolist() for p in picks],
        })

    def perplexity(doc_ids, max_length, stride):
        """The HF guide's loop with exact counts of predicted tokens."""
        nll, count = 0.0, 0
        for ids in doc_ids:
            seq = torch.tensor([ids])
            n = seq.size(1)
            if stride is None:
                seq = seq[:, :max_length]
                lab = seq.clone()
                loss = model(seq, labels=lab).loss
                k = seq.size(1) - 1
                nll += loss.item() * k
                count += k
                continue
            prev_end = 0
            for begin in range(0, n, stride):
                end = min(begin + max_length, n)
                trg = end - prev_end
                x = seq[:, begin:end]
                lab = x.clone()
                lab[:, :-trg] = -100
                k = int((lab[:, 1:] != -100).sum())
                if k > 0:
                    loss = model(x, labels=lab).loss
                    nll += loss.item() * k
                    count += k
                prev_end = end
                if end == n:
                    break
        return {"nll": nll, "tokens": count, "perplexity": math.exp(nll / count)}

    doc_ids = [tok(x)["input_ids"] for x in docs]
    out["perplexity"] = {
        "documents": docs,
        "full": perplexity(doc_ids, 8192, None),
        "truncated_64": perplexity(doc_ids, 64, None),
        "stride_64_32": perplexity(doc_ids, 64, 32),
        "stride_48_48": perplexity(doc_ids, 48, 48),
    }

    prompts = ["The capital of France is", "Once upon a time,", "def fibonacci(n):", short[0][:200]]
    gens = []
    for p in prompts:
        ids = tok(p, return_tensors="pt")["input_ids"]
        g = model.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id)
        gens.append({"prompt": p, "chat": False, "new_ids": g[0, ids.size(1):].tolist()})
    chat_user = "What is the boiling point of water in Celsius?"
    rendered = tok.apply_chat_template([{"role": "user", "content": chat_user}], tokenize=False, add_generation_prompt=True)
    ids = tok(rendered, return_tensors="pt")["input_ids"]
    g = model.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id)
    gens.append({"prompt": chat_user, "chat": True, "rendered": rendered, "new_ids": g[0, ids.size(1):].tolist()})
    out["generation"] = {"max_new_tokens": 24, "eos_token_id": model.generation_config.eos_token_id, "runs": gens}

    if a.converted:
        conv = AutoModelForCausalLM.from_pretrained(a.converted, dtype=torch.float32).eval()
        ctok = AutoTokenizer.from_pretrained(a.converted)
        worst = 0.0
        for t in texts + docs:
            i1, i2 = tok(t)["input_ids"], ctok(t)["input_ids"]
            assert i1 == i2, ("tokens differ", t, i1[:20], i2[:20])
            l1 = model(torch.tensor([i1])).logits
            l2 = conv(torch.tensor([i2])).logits
            worst = max(worst, (l1 - l2).abs().max().item())
        r1 = tok.apply_chat_template([{"role": "user", "content": chat_user}], tokenize=False, add_generation_prompt=True)
        r2 = ctok.apply_chat_template([{"role": "user", "content": chat_user}], tokenize=False, add_generation_prompt=True)
        assert r1 == r2, ("chat template differs", r1, r2)
        print(f"transformers on retune's converted folder: same tokens and chat prompt, max |logit diff| {worst:.2e}")
        assert worst < 1e-4

os.makedirs(os.path.dirname(a.out), exist_ok=True)
with open(a.out, "w") as fh:
    json.dump(out, fh)
print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")
