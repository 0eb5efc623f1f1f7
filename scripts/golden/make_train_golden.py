#!/usr/bin/env python3
"""Golden values for crates/retune-train from PyTorch + transformers.

Generated with torch 2.15.0 (CPU build of the +cu132 wheel), transformers 5.24.0, numpy 2.4.6;
the versions actually used are stored in the JSON under "versions".

    python3 scripts/golden/make_train_golden.py   # writes crates/retune-train/tests/data/train_golden.json

Every input is drawn in float32 (torch.manual_seed(0) first, then one fixed order of draws), so
it is exactly representable in f32 and f64; each computation is run twice, in float64 ("f64")
and in float32 ("f32"), both results are written. Tensors are {"shape": [...], "data": [...]}
with data flattened row-major (C order); numbers are the exact double value of each element.

Cases:
  adamw      torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
             HF-Trainer-style groups: [W] decay 0.01, [b, g] decay 0.0; 5 steps with per-step lr
             set on every group before step(); params after every step, state after step 5.
  schedules  transformers get_{linear,cosine,constant}_schedule_with_warmup multipliers for
             steps 0..=100, and the lr the k-th optimizer step used (LambdaLR ordering).
  clip       torch.nn.utils.clip_grad_norm_(max_norm=1.0), one case above and one below 1.
  losses     F.cross_entropy (ignore_index=-100, label smoothing 0.1 and 0.0, mean/sum, grads),
             a seq2seq-shaped case, BCEWithLogits (mean), MSE (mean).
  e2e        12 steps of: MSE loss on a tiny least-squares problem, backward, clip 1.0,
             AdamW step, linear warmup/decay scheduler step.
"""
import json, math, os, sys

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates/retune-train/tests/data/train_golden.json")
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def T(x):
    """Tensor -> {"shape", "data"} with exact double values."""
    x = x.detach()
    if x.is_floating_point():
        data = [float(v) for v in x.to(torch.float64).reshape(-1).tolist()]
    else:
        data = [int(v) for v in x.reshape(-1).tolist()]
    return {"shape": list(x.shape), "data": data}


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).to(torch.float32)


# ---------------------------------------------------------------- a. AdamW
ADAM_HP = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
ADAM_LRS = [1e-3, 8e-4, 6e-4, 4e-4, 2e-4]


def adamw_case():
    init = {"W": randn(3, 4), "b": randn(4), "g": 1.0 + randn(4, scale=0.1)}
    grads = [{"W": randn(3, 4), "b": randn(4), "g": randn(4)} for _ in ADAM_LRS]
    case = {
        "description": "torch.optim.AdamW(lr=1e-3, betas=(0.9,0.999), eps=1e-8, weight_decay=0.01, "
                       "amsgrad=False, maximize=False); param_groups: [{params:[W], weight_decay:0.01}, "
                       "{params:[b,g], weight_decay:0.0}]; before step k (1-based) every group's lr = lrs[k-1]; "
                       "p.grad = grads[k-1][name]; opt.step().",
        "formula": "step t (1-based): p *= 1 - lr*wd; m = b1*m + (1-b1)*g (torch: m.lerp_(g, 1-b1)); "
                   "v = b2*v + (1-b2)*g*g; bc1 = 1-b1^t; bc2 = 1-b2^t; "
                   "p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)",
        "hyper": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False, "maximize": False},
        "groups": [{"params": ["W"], "weight_decay": 0.01}, {"params": ["b", "g"], "weight_decay": 0.0}],
        "lrs": ADAM_LRS,
        "init": {k: T(v) for k, v in init.items()},
        "grads": [{k: T(v) for k, v in g.items()} for g in grads],
    }
    for name, dt in DTYPES.items():
        p = {k: torch.nn.Parameter(v.to(dt).clone()) for k, v in init.items()}
        opt = torch.optim.AdamW([{"params": [p["W"]], "weight_decay": 0.01},
                                 {"params": [p["b"], p["g"]], "weight_decay": 0.0}], **ADAM_HP)
        after = []
        for lr, g in zip(ADAM_LRS, grads):
            for group in opt.param_groups:
                group["lr"] = lr
            for k in p:
                p[k].grad = g[k].to(dt).clone()
            opt.step()
            after.append({k: T(v) for k, v in p.items()})
        state = {k: {"step": int(opt.state[v]["step"]), "exp_avg": T(opt.state[v]["exp_avg"]),
                     "exp_avg_sq": T(opt.state[v]["exp_avg_sq"])} for k, v in p.items()}
        case[name] = {"params_after_step": after, "state_after_last_step": state}
    return case


# ---------------------------------------------------------------- b. schedules
def schedules_case():
    makers = {
        "linear": ("get_linear_schedule_with_warmup(opt, num_warmup_steps=10, num_training_steps=100)",
                   lambda o: get_linear_schedule_with_warmup(o, num_warmup_steps=10, num_training_steps=100)),
        "cosine": ("get_cosine_schedule_with_warmup(opt, num_warmup_steps=10, num_training_steps=100) (num_cycles=0.5)",
                   lambda o: get_cosine_schedule_with_warmup(o, num_warmup_steps=10, num_training_steps=100)),
        "constant": ("get_constant_schedule_with_warmup(opt, num_warmup_steps=10)",
                     lambda o: get_constant_schedule_with_warmup(o, num_warmup_steps=10)),
    }
    out = {"description": "multipliers[s] = scheduler.lr_lambdas[0](s) for s in 0..=100 (base lr 1.0). "
                          "lr_used_by_step[base][k] = the lr of optimizer step k+1 (k = 0..11) in the loop "
                          "`for k: record group['lr']; opt.step(); sched.step()`; i.e. optimizer step k+1 "
                          "uses base*multiplier(k) (step 1 uses multiplier(0) = 0 under warmup).",
           "num_warmup_steps": 10, "num_training_steps": 100}
    for key, (desc, make) in makers.items():
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = torch.optim.AdamW([p], lr=1.0)
        sched = make(opt)
        mult = [float(sched.lr_lambdas[0](s)) for s in range(101)]
        used = {}
        for base in (1.0, 5e-5):
            p2 = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
            opt2 = torch.optim.AdamW([p2], lr=base)
            sched2 = make(opt2)
            lrs = []
            for _ in range(12):
                lrs.append(float(opt2.param_groups[0]["lr"]))
                p2.grad = torch.ones_like(p2)
                opt2.step()
                sched2.step()
            used[repr(base)] = lrs
        out[key] = {"call": desc, "multipliers": mult, "lr_used_by_step": used}
    return out


# ---------------------------------------------------------------- c. clipping
def clip_case():
    shapes = [(3, 4), (5,), (2, 3)]
    raw = [randn(*s) for s in shapes]
    n = math.sqrt(sum(float((r.double() ** 2).sum()) for r in raw))
    big = [(r * (3.7 / n)).to(torch.float32) for r in raw]
    small = [(r * (0.6 / n)).to(torch.float32) for r in raw]
    out = {"description": "torch.nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=2.0): "
                          "total_norm = ||[||g_i||_2 for each tensor]||_2; clip_coef = max_norm / (total_norm + 1e-6); "
                          "clip_coef_clamped = min(clip_coef, 1.0); every g_i *= clip_coef_clamped (always multiplied; "
                          "a no-op when the coef is 1.0). Returns total_norm (before clipping).",
           "max_norm": 1.0, "cases": []}
    for label, grads in (("above", big), ("below", small)):
        c = {"name": label, "grads": [T(g) for g in grads]}
        for name, dt in DTYPES.items():
            ps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=dt)) for g in grads]
            for p, g in zip(ps, grads):
                p.grad = g.to(dt).clone()
            tn = torch.nn.utils.clip_grad_norm_(ps, max_norm=1.0)
            tnf = float(tn)
            c[name] = {"total_norm": tnf, "clip_coef": 1.0 / (tnf + 1e-6),
                       "clipped_grads": [T(p.grad) for p in ps]}
        out["cases"].append(c)
    return out


# ---------------------------------------------------------------- d. losses
def ce_eval(logits, targets, dt, smoothing, flatten):
    res = {}
    for red in ("mean", "sum"):
        x = logits.to(dt).clone().requires_grad_(True)
        xi = x.reshape(-1, x.shape[-1]) if flatten else x
        ti = targets.reshape(-1) if flatten else targets
        loss = F.cross_entropy(xi, ti, ignore_index=-100, label_smoothing=smoothing, reduction=red)
        loss.backward()
        res[red] = {"loss": float(loss.detach()), "grad_logits": T(x.grad)}
    return res


def losses_case():
    out = {}
    logits = randn(6, 5, scale=2.0)
    targets = torch.tensor([1, -100, 4, 0, -100, 2])
    out["cross_entropy"] = {
        "description": "F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=s, reduction=r). "
                       "Per non-ignored row: (1-s)*(-log p[t]) + s*mean_c(-log p[c]); mean divides by the number "
                       "of non-ignored rows; ignored rows get zero gradient. grad_logits is d(loss)/d(logits) for that reduction.",
        "logits": T(logits), "targets": T(targets), "cases": []}
    for s in (0.1, 0.0):
        c = {"label_smoothing": s}
        for name, dt in DTYPES.items():
            c[name] = ce_eval(logits, targets, dt, s, False)
        out["cross_entropy"]["cases"].append(c)

    logits3 = randn(2, 4, 7, scale=2.0)
    targets3 = torch.tensor([[3, 6, 0, -100], [5, 1, -100, -100]])
    out["cross_entropy_seq2seq"] = {
        "description": "HF seq2seq loss: F.cross_entropy(logits.view(-1, 7), labels.view(-1), ignore_index=-100, "
                       "label_smoothing=s, reduction=r); logits [batch=2, len=4, vocab=7], labels [2, 4] with -100 padding. "
                       "grad_logits has the [2,4,7] shape.",
        "logits": T(logits3), "targets": T(targets3), "cases": []}
    for s in (0.1, 0.0):
        c = {"label_smoothing": s}
        for name, dt in DTYPES.items():
            c[name] = ce_eval(logits3, targets3, dt, s, True)
        out["cross_entropy_seq2seq"]["cases"].append(c)

    bl = randn(4, 3, scale=2.0)
    bt = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=torch.float32)
    out["bce_with_logits"] = {
        "description": "F.binary_cross_entropy_with_logits(logits, targets, reduction='mean') (mean over all 12 "
                       "elements): l = max(x,0) - x*y + log(1+exp(-|x|)); multi-label targets.",
        "logits": T(bl), "targets": T(bt)}
    for name, dt in DTYPES.items():
        x = bl.to(dt).clone().requires_grad_(True)
        loss = F.binary_cross_entropy_with_logits(x, bt.to(dt), reduction="mean")
        loss.backward()
        out["bce_with_logits"][name] = {"loss": float(loss.detach()), "grad_logits": T(x.grad)}

    mp, mt = randn(5, 2), randn(5, 2)
    out["mse"] = {"description": "F.mse_loss(pred, target, reduction='mean') over all 10 elements.",
                  "pred": T(mp), "target": T(mt)}
    for name, dt in DTYPES.items():
        x = mp.to(dt).clone().requires_grad_(True)
        loss = F.mse_loss(x, mt.to(dt), reduction="mean")
        loss.backward()
        out["mse"][name] = {"loss": float(loss.detach()), "grad_pred": T(x.grad)}
    return out


# ---------------------------------------------------------------- e. end to end
def e2e_case():
    x = randn(8, 3)
    w_true = torch.tensor([[2.0], [-3.0], [0.5]])
    y = (x @ w_true + randn(8, 1, scale=0.1)).to(torch.float32)
    w0 = randn(3, 1, scale=0.5)
    steps, warmup, base_lr = 12, 3, 0.1
    out = {"description": "W = Parameter(w0) [3,1]; opt = AdamW([{params:[W], weight_decay:0.01}], lr=0.1, betas=(0.9,0.999), "
                          "eps=1e-8); sched = get_linear_schedule_with_warmup(opt, 3, 12); for k in 0..12: "
                          "loss = mse_loss(x @ W, y) (mean); loss.backward(); norm = clip_grad_norm_([W], 1.0); "
                          "opt.step(); sched.step(); opt.zero_grad(). Records loss[k] (before step k+1's update), "
                          "grad_norm[k] (pre-clip), lr[k] (the lr step k+1 used; lr[0] = 0), W after every step.",
           "steps": steps, "num_warmup_steps": warmup, "lr": base_lr, "weight_decay": 0.01, "max_grad_norm": 1.0,
           "x": T(x), "y": T(y), "w0": T(w0)}
    for name, dt in DTYPES.items():
        W = torch.nn.Parameter(w0.to(dt).clone())
        opt = torch.optim.AdamW([{"params": [W], "weight_decay": 0.01}], lr=base_lr, betas=(0.9, 0.999), eps=1e-8)
        sched = get_linear_schedule_with_warmup(opt, warmup, steps)
        losses, norms, lrs, ws = [], [], [], []
        for _ in range(steps):
            loss = F.mse_loss(x.to(dt) @ W, y.to(dt))
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_([W], 1.0)))
            lrs.append(float(opt.param_groups[0]["lr"]))
            losses.append(float(loss.detach()))
            opt.step()
            sched.step()
            opt.zero_grad()
            ws.append(T(W))
        with torch.no_grad():
            final = float(F.mse_loss(x.to(dt) @ W, y.to(dt)))
        out[name] = {"loss": losses, "grad_norm": norms, "lr": lrs, "W_after_step": ws, "final_loss": final}
    return out


def main():
    torch.manual_seed(0)
    gold = {
        "generator": "scripts/golden/make_train_golden.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "tensor_format": "{shape: [..], data: [row-major flat]}; f64/f32 = results computed in float64/float32 "
                         "from the same f32-exact inputs",
    }
    gold["adamw"] = adamw_case()
    gold["schedules"] = schedules_case()
    gold["clip"] = clip_case()
    gold["losses"] = losses_case()
    gold["e2e"] = e2e_case()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(gold, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")
    print("e2e f64 loss:", gold["e2e"]["f64"]["loss"])
    print("clip:", [(c["name"], c["f64"]["total_norm"]) for c in gold["clip"]["cases"]])


if __name__ == "__main__":
    main()
