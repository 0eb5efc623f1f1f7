#!/usr/bin/env python3
"""Expected seqeval 1.2.2 scores on real NER tags with seeded corruptions.

    python3 scripts/golden/make_seqeval_golden.py   # a Python with seqeval==1.2.2 (and numpy)

Gold: the first 300 test sentences of WNUT 2017 (English, 6 types) and the first 300 test
sentences of Universal NER zh_gsdsimp (Chinese, PER/ORG/LOC), both IOB2 (see data/README.md,
sections 7 and 8 of the shared data README). Predictions corrupt a seeded share of the gold
entities — dropped, boundaries shifted, type changed, split in two, `B-` turned into `I-` — and
add spurious ones; the IOBES cases convert both sides to IOBES first. Every case is scored in
default mode and, where the tags fit a scheme, in strict mode, with `average=None`, micro,
macro and weighted, and token accuracy. Writes crates/retune-metrics/tests/golden/seqeval.json.
"""
import json, random
import importlib.metadata

from seqeval.metrics import accuracy_score
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support as prf_default
from seqeval.metrics.v1 import precision_recall_fscore_support as prf_strict
from seqeval.scheme import IOB2, IOBES, IOB1

OUT = "crates/retune-metrics/tests/golden/seqeval.json"
DATA = "/work/shared/data"
assert importlib.metadata.version("seqeval") == "1.2.2"


def gold(name, n=300):
    rows = [json.loads(l) for l in open(f"{DATA}/{name}/test.jsonl", encoding="utf-8")][:n]
    return [r["ner_tags"] for r in rows]


def spans(tags):
    """IOB2 entities as (start, end_exclusive, type)."""
    out, i = [], 0
    while i < len(tags):
        if tags[i].startswith("B-"):
            t, j = tags[i][2:], i + 1
            while j < len(tags) and tags[j] == "I-" + t:
                j += 1
            out.append((i, j, t))
            i = j
        else:
            i += 1
    return out


def corrupt(sents, types, rate, seed, kinds):
    rng = random.Random(seed)
    pred = []
    for tags in sents:
        p = list(tags)
        for (s, e, t) in spans(tags):
            if rng.random() >= rate:
                continue
            k = rng.choice(kinds)
            if k == "drop":
                for i in range(s, e):
                    p[i] = "O"
            elif k == "type":
                nt = rng.choice([x for x in types if x != t] or [t])
                for i in range(s, e):
                    p[i] = ("B-" if i == s else "I-") + nt
            elif k == "shift" and e < len(p) and p[e] == "O":
                p[e] = "I-" + t
            elif k == "shrink" and e - s > 1:
                p[e - 1] = "O"
            elif k == "split" and e - s > 1:
                p[s + 1] = "B-" + t
            elif k == "i_start":
                p[s] = "I-" + t
        # spurious entities on O tokens
        for i in range(len(p)):
            if p[i] == "O" and tags[i] == "O" and rng.random() < rate / 20:
                p[i] = "B-" + rng.choice(types)
        pred.append(p)
    return pred


def to_iobes(tags):
    out = []
    for i, t in enumerate(tags):
        nxt = tags[i + 1] if i + 1 < len(tags) else "O"
        if t == "O":
            out.append(t)
        elif t.startswith("B-"):
            out.append(("B-" if nxt == "I-" + t[2:] else "S-") + t[2:])
        else:  # I-
            out.append(("I-" if nxt == "I-" + t[2:] else "E-") + t[2:])
    return out


def to_iob1(tags):
    out = []
    for i, t in enumerate(tags):
        prev = tags[i - 1] if i > 0 else "O"
        if t.startswith("B-") and not (prev != "O" and prev[2:] == t[2:]):
            out.append("I-" + t[2:])
        else:
            out.append(t)
    return out


def scores(y_true, y_pred, mode, scheme):
    res = {}
    for avg in [None, "micro", "macro", "weighted"]:
        if mode == "default":
            p, r, f, s = prf_default(y_true, y_pred, average=avg)
        else:
            p, r, f, s = prf_strict(y_true, y_pred, average=avg, scheme=scheme)
        key = avg or "per_type"
        if avg is None:
            res[key] = {"precision": [float(x) for x in p], "recall": [float(x) for x in r],
                        "f1": [float(x) for x in f], "support": [int(x) for x in s]}
        else:
            res[key] = {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
    return res


def types_of(y_true, y_pred, mode, scheme):
    if mode == "default":
        from seqeval.metrics.sequence_labeling import get_entities
        return sorted({e[0] for e in get_entities(y_true)} | {e[0] for e in get_entities(y_pred)})
    from seqeval.scheme import Entities
    return sorted(Entities(y_true, scheme).unique_tags | Entities(y_pred, scheme).unique_tags)


def main():
    cases = []
    sets = {"wnut17": gold("ner_wnut17"), "uner_zh": gold("ner_uner_zh_gsdsimp")}
    all_kinds = ["drop", "type", "shift", "shrink", "split", "i_start"]
    for name, g in sets.items():
        types = sorted({t[2:] for s in g for t in s if t != "O"})
        variants = [
            ("mixed", corrupt(g, types, 0.3, 1, all_kinds)),
            ("boundaries", corrupt(g, types, 0.5, 2, ["shift", "shrink", "split"])),
            ("i_starts", corrupt(g, types, 0.5, 3, ["i_start", "type"])),
            ("perfect", [list(s) for s in g]),
        ]
        for vname, p in variants:
            cases.append((f"{name}-{vname}-iob2", g, p, [("default", None), ("strict", "IOB2")]))
            cases.append((f"{name}-{vname}-iobes", [to_iobes(s) for s in g],
                          [to_iobes(s) for s in p],
                          [("default", None), ("strict", "IOBES")]))
        cases.append((f"{name}-mixed-iob1", [to_iob1(s) for s in g], [to_iob1(s) for s in variants[0][1]],
                      [("default", None), ("strict", "IOB1")]))
    out = []
    for cname, y_true, y_pred, modes in cases:
        for mode, sname in modes:
            scheme = {"IOB2": IOB2, "IOBES": IOBES, "IOB1": IOB1, None: None}[sname]
            out.append({
                "name": cname, "mode": mode, "scheme": sname,
                "gold": [" ".join(s) for s in y_true], "pred": [" ".join(s) for s in y_pred],
                "types": types_of(y_true, y_pred, mode, scheme),
                "accuracy": float(accuracy_score(y_true, y_pred)),
                **scores(y_true, y_pred, mode, scheme),
            })
    # Store each distinct tag list once.
    table, index = [], {}
    def ref(lines):
        key = "\n".join(lines)
        if key not in index:
            index[key] = len(table)
            table.append(lines)
        return index[key]
    for c in out:
        c["gold"] = ref(c["gold"])
        c["pred"] = ref(c["pred"])
    json.dump({"seqeval": "1.2.2", "sequences": table, "cases": out}, open(OUT, "w"), ensure_ascii=False)
    print(f"{len(out)} cases, {len(table)} tag lists -> {OUT}")


main()
