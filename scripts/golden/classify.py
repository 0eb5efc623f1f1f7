#!/usr/bin/env python3
"""Expected classification metrics from scikit-learn on real labels: the gold coarse labels of
the TREC question-classification test set (Li & Roth 2002; see data/README.md) and predictions
that corrupt a seeded 30% of them (biased toward a few confusions), plus binary and degenerate
cases. Writes crates/retune-metrics/tests/golden/classify/*.txt and classify.json."""
import json, random
from sklearn.metrics import (accuracy_score, confusion_matrix, matthews_corrcoef,
                             precision_recall_fscore_support)

OUT = "crates/retune-metrics/tests/golden/classify"


def trec_gold():
    rows = open("/work/shared/data/trec_question_classification/test.tsv", encoding="utf-8").read().splitlines()[1:]
    return [r.split("\t")[1] for r in rows]


def corrupt(gold, labels, rate, seed):
    rng = random.Random(seed)
    pred = []
    for g in gold:
        if rng.random() < rate:
            pred.append(rng.choice(labels[:3]) if rng.random() < 0.7 else rng.choice(labels))
        else:
            pred.append(g)
    return pred


def report(pred, gold):
    labels = sorted(set(pred) | set(gold))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    out = {"labels": labels, "accuracy": accuracy_score(gold, pred),
           "mcc": matthews_corrcoef(gold, pred),
           "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
           "per_class": [{"precision": a, "recall": b, "f1": c, "support": int(d)} for a, b, c, d in zip(p, r, f, s)]}
    for avg in ("macro", "weighted", "micro"):
        a, b, c, _ = precision_recall_fscore_support(gold, pred, labels=labels, average=avg, zero_division=0)
        out[avg] = {"precision": a, "recall": b, "f1": c}
    return {k: (float(v) if hasattr(v, "item") else v) for k, v in out.items()}


def main():
    gold = trec_gold()
    labels = sorted(set(gold))
    cases = {
        "trec6": (corrupt(gold, labels, 0.3, 1), gold),
        "binary": (["1" if (i * 7) % 10 < 6 else "0" for i in range(200)], ["1" if (i * 3) % 10 < 5 else "0" for i in range(200)]),
        "missing_class": (["a", "a", "b", "b", "a"], ["a", "c", "b", "c", "a"]),
        "constant_pred": (["x"] * 10, ["x"] * 6 + ["y"] * 4),
    }
    result = {}
    for name, (pred, g) in cases.items():
        open(f"{OUT}/{name}.pred.txt", "w").write("\n".join(pred) + "\n")
        open(f"{OUT}/{name}.gold.txt", "w").write("\n".join(g) + "\n")
        result[name] = report(pred, g)
    json.dump(result, open(f"{OUT}/classify.json", "w"), indent=1)


if __name__ == "__main__":
    main()
