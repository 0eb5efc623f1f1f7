#!/usr/bin/env python3
"""Golden values for retune-data's confident learning (crates/retune-data/src/audit/confident.rs),
computed by the real cleanlab (tested with cleanlab 2.9.0, numpy 2.4, scikit-learn 1.9).

Set-up: python3 -m venv /tmp/clenv && /tmp/clenv/bin/pip install cleanlab
Run from the repository root: /tmp/clenv/bin/python scripts/golden/make_cleanlab_golden.py
Writes crates/retune-data/tests/data/audit/cleanlab_golden.json.

Each case: a seeded numpy random "out-of-fold" probability matrix (softmax of noisy logits that
favour the true class), given labels with a seeded fraction flipped to another class. The
probabilities are rounded to float32 (what a model produces) and written as their shortest
float32 decimal; cleanlab gets the same values as float64, exactly what the Rust side computes on.
"""
import json
import os

import cleanlab
import numpy as np
from cleanlab.count import (
    calibrate_confident_joint,
    compute_confident_joint,
    estimate_joint,
    get_confident_thresholds,
    num_label_issues,
)
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

OUT = "crates/retune-data/tests/data/audit/cleanlab_golden.json"

# (name, seed, rows, classes, flip rate, signal strength, classes absent from the given labels)
CASES = [
    ("binary_200", 11, 200, 2, 0.15, 2.0, []),
    ("four_class_400", 22, 400, 4, 0.20, 2.5, []),
    ("six_class_600_missing", 33, 600, 6, 0.10, 3.0, [5]),
]


def make_case(seed, n, k, flip, signal, missing):
    rng = np.random.default_rng(seed)
    # Skewed class prior so that thresholds and calibration differ per class.
    prior = rng.dirichlet(np.full(k, 3.0))
    true = rng.choice(k, size=n, p=prior)
    logits = rng.normal(0.0, 1.0, size=(n, k))
    logits[np.arange(n), true] += signal
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs32 = probs.astype(np.float32)
    labels = true.copy()
    flips = rng.random(n) < flip
    offset = rng.integers(1, k, size=n)
    labels[flips] = (true[flips] + offset[flips]) % k
    for m in missing:  # relabel so that class m never occurs as a given label
        labels[labels == m] = (m + 1) % k
    return probs32, labels


def f32_text(x):
    # Use numpy's shortest float32 representation; check that parsing it as f64 and then
    # rounding to f32 (what the Rust test does) gives back the same float32.
    s = np.format_float_positional(np.float32(x), unique=True, trim="-")
    assert np.float32(float(s)) == np.float32(x), (x, s)
    return float(s)


def main():
    cases = []
    for name, seed, n, k, flip, signal, missing in CASES:
        probs32, labels = make_case(seed, n, k, flip, signal, missing)
        p = probs32.astype(np.float64)
        thresholds = get_confident_thresholds(labels, p)
        cj_raw, offdiag = compute_confident_joint(
            labels, p, calibrate=False, return_indices_of_off_diagonals=True
        )
        cj = compute_confident_joint(labels, p, calibrate=True)
        assert (calibrate_confident_joint(cj_raw, labels) == cj).all()
        joint = estimate_joint(labels, p, confident_joint=cj)
        mask = find_label_issues(labels, p, n_jobs=1)
        ranked_sc = find_label_issues(labels, p, return_indices_ranked_by="self_confidence", n_jobs=1)
        ranked_nm = find_label_issues(labels, p, return_indices_ranked_by="normalized_margin", n_jobs=1)
        sc = get_label_quality_scores(labels, p, method="self_confidence")
        nm = get_label_quality_scores(labels, p, method="normalized_margin")
        # Ties in the ranking score would make the order depend on numpy's sort kind: refuse them.
        assert len(set(sc[mask].tolist())) == int(mask.sum()), "tie in self_confidence"
        assert len(set(nm[mask].tolist())) == int(mask.sum()), "tie in normalized_margin"
        cases.append(
            {
                "name": name,
                "seed": seed,
                "num_classes": k,
                "labels": labels.tolist(),
                "pred_probs": [[f32_text(x) for x in row] for row in probs32],
                "confident_thresholds": thresholds.tolist(),
                "confident_joint_uncalibrated": cj_raw.tolist(),
                "off_diagonal_indices": sorted(int(i) for i in offdiag),
                "confident_joint": cj.tolist(),
                "estimated_joint": joint.tolist(),
                "noise_rate": float(1.0 - np.trace(joint)),
                "num_label_issues_off_diagonal": int(num_label_issues(labels, p)),
                "num_label_issues_off_diagonal_calibrated": int(
                    num_label_issues(labels, p, estimation_method="off_diagonal_calibrated")
                ),
                "issue_indices": [int(i) for i in np.flatnonzero(mask)],
                "ranked_self_confidence": [int(i) for i in ranked_sc],
                "ranked_normalized_margin": [int(i) for i in ranked_nm],
            }
        )
        print(f"{name}: {int(mask.sum())} issues, noise rate {1.0 - np.trace(joint):.4f}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(
            {
                "generator": "scripts/golden/make_cleanlab_golden.py",
                "cleanlab_version": cleanlab.__version__,
                "numpy_version": np.__version__,
                "cases": cases,
            },
            f,
            separators=(",", ":"),
        )
        f.write("\n")


if __name__ == "__main__":
    main()
