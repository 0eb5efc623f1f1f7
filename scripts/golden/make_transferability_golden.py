#!/usr/bin/env python3
"""Golden numbers for retune's transferability estimates (LogME, H-score with shrinkage),
computed here from the papers' formulas with NumPy, on real MiniLM features and on degenerate
cases. Writes crates/retune-assess/tests/golden/transferability.json.

LogME (You, Liu, Wang, Long, ICML 2021, Algorithm 1): for each class c, targets y = [label == c];
F (n x d, float64), F^T F = V diag(s) V^T, z = V^T F^T y. Starting at alpha = beta = 1, repeat
(at most 100 times): gamma = sum(beta s / (alpha + beta s)); m = V (beta z / (alpha + beta s));
alpha' = gamma / max(m.m, 1e-12); beta' = (n - gamma) / max(|F m - y|^2, 1e-12); stop when
alpha'/beta' moves by less than 1e-3 relative to alpha/beta. With the final alpha, beta (m and
the residual recomputed) the evidence per row is
  [d/2 ln alpha + n/2 ln beta - 1/2 sum ln(alpha + beta s) - beta/2 |F m - y|^2 - alpha/2 m.m
   - n/2 ln 2 pi] / n,
and LogME is its mean over the classes.

H-score (Bao et al. 2019; with the shrinkage of Ibrahim, Ponomareva, Mazumder 2022): features
centred; Sigma_f the Ledoit-Wolf covariance (sklearn's LedoitWolf, 1/n); Sigma_g the (1/n)
covariance of the rows replaced by their class means; H = tr(Sigma_f^{-1} Sigma_g).

    /work/pyref/bin/python scripts/golden/make_transferability_golden.py
"""
import json
import os

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from transformers import AutoModel, AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "retune-assess", "tests", "golden", "transferability.json")


def logme(f, y):
    f = np.asarray(f, np.float64)
    n, d = f.shape
    s, v = np.linalg.eigh(f.T @ f)
    s = np.clip(s, 0.0, None)
    out = []
    for c in sorted(set(y)):
        t = (np.asarray(y) == c).astype(np.float64)
        z = v.T @ (f.T @ t)
        alpha, beta = 1.0, 1.0
        for _ in range(100):
            gamma = np.sum(beta * s / (alpha + beta * s))
            m = v @ (beta * z / (alpha + beta * s))
            mm = max(m @ m, 1e-12)
            res = max(np.sum((f @ m - t) ** 2), 1e-12)
            a2, b2 = gamma / mm, (n - gamma) / res
            done = abs(a2 / b2 - alpha / beta) / (alpha / beta) < 1e-3
            alpha, beta = a2, b2
            if done:
                break
        m = v @ (beta * z / (alpha + beta * s))
        mm = m @ m
        res = np.sum((f @ m - t) ** 2)
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.sum(np.log(alpha + beta * s))
              - beta / 2 * res - alpha / 2 * mm - n / 2 * np.log(2 * np.pi))
        out.append(ev / n)
    return float(np.mean(out))


def hscore(f, y):
    f = np.asarray(f, np.float64)
    f = f - f.mean(0)
    n, d = f.shape
    sf = LedoitWolf(assume_centered=True).fit(f).covariance_
    y = np.asarray(y)
    g = np.zeros_like(f)
    for c in set(y.tolist()):
        g[y == c] = f[y == c].mean(0)
    sg = g.T @ g / n
    return float(np.trace(np.linalg.pinv(sf, hermitian=True) @ sg))


def minilm_features():
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(ROOT, "data", "trec_question_classification",
                                                                    "train.tsv"), encoding="utf-8")][1:]
    rows = rows[::40][:120]
    texts, labels = [r[0] for r in rows], [r[1] for r in rows]
    path = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        enc = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1)
    names = sorted(set(labels))
    return pooled[:, :48].double().numpy().round(6), [names.index(l) for l in labels]


def minilm_layers():
    """Every layer's mean-pooled features (first 8 dims) of three questions: transformers'
    hidden_states[1:], for retune's layer_states."""
    texts = ["What is the capital of Peru ?", "Who wrote Hamlet ?", "How many feet are in a mile ?"]
    path = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        enc = tok(texts, padding=True, return_tensors="pt")
        hs = model(**enc, output_hidden_states=True).hidden_states[1:]
        m = enc["attention_mask"].unsqueeze(-1).float()
        layers = [((h * m).sum(1) / m.sum(1))[:, :8].tolist() for h in hs]
    return {"texts": texts, "layers": layers}


def main():
    cases = []
    f, y = minilm_features()
    cases.append(("minilm_trec_120x48", f, y))
    rng = np.random.default_rng(0)
    cases.append(("one_class", f[:40], [0] * 40))
    dup = np.concatenate([f[:80, :20], f[:80, :20]], axis=1)
    cases.append(("duplicated_features", dup, y[:80]))
    cases.append(("more_dims_than_rows", f[:12], y[:12]))
    g = rng.normal(size=(60, 8)).round(6)
    lab = (g[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int).tolist()
    cases.append(("gaussian_binary_60x8", g, lab))
    out = {"doc": __doc__.split("\n\n")[0], "cases": [], "minilm_layers": minilm_layers()}
    for name, f, y in cases:
        f = np.asarray(f, np.float64)
        out["cases"].append({"name": name, "n": f.shape[0], "d": f.shape[1], "features": f.ravel().tolist(),
                             "labels": [int(v) for v in y], "logme": logme(f, y), "hscore": hscore(f, y)})
        print(name, f.shape, out["cases"][-1]["logme"], out["cases"][-1]["hscore"])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(out, fh)


main()
