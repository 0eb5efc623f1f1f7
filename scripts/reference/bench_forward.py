#!/usr/bin/env python3
"""PyTorch side of `cargo run --release -p retune-models --example bench_forward`: the same
synthetic batch (ids 1000 + (i * 7919 % 20000), no padding) through the bare encoder in
inference mode with every layer's hidden states, seconds per batch and sentences/s.

    python scripts/reference/bench_forward.py MODEL_DIR [BATCH] [LEN] [ITERS] [THREADS]
"""
import sys
import time

import torch
from transformers import AutoModel

model_dir = sys.argv[1]
b, l, iters = (int(sys.argv[i]) if len(sys.argv) > i else d for i, d in ((2, 64), (3, 89), (4, 5)))
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
m = AutoModel.from_pretrained(model_dir).eval()
ids = torch.tensor([[1000 + (i * 7919 % 20000) for i in range(r * l, (r + 1) * l)] for r in range(b)])
am = torch.ones(b, l, dtype=torch.long)
with torch.inference_mode():
    m(input_ids=ids, attention_mask=am)
    t = time.perf_counter()
    for _ in range(iters):
        m(input_ids=ids, attention_mask=am, output_hidden_states=True)
    s = (time.perf_counter() - t) / iters
print(f"torch: batch {b} x {l}: {s:.3f} s per batch, {b / s:.1f} sentences/s")
