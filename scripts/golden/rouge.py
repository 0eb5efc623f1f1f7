#!/usr/bin/env python3
"""Golden data for the Rust ROUGE and Porter-stemmer ports.

Writes
  crates/retune-metrics/tests/golden/rouge.json   (rouge-score 0.1.2 scores)
  crates/retune-metrics/tests/golden/porter.tsv   (nltk 3.10.4 Porter stems)

Inputs are the XSum sample (data/xsum/test.jsonl) and the WMT22 zh-en English
files (data/wmt22/zh-en/); the JSON holds only the scores plus the recipe to
rebuild each input from those files (see "xsum" and "wmt" below), so the Rust
test reads the same data files. Hand-written edge cases carry their texts.

Scores are rounded to 12 decimals to keep the file small (the Rust test
compares with a 1e-9 tolerance).

Usage (from the repository root):
  python scripts/golden/rouge.py
"""

import json
import os
import re
import sys

import nltk
import rouge_score
from nltk.stem import porter
from rouge_score import rouge_scorer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "retune-metrics", "tests", "golden")
XSUM = os.path.join(ROOT, "data", "xsum", "test.jsonl")
WMT = os.path.join(ROOT, "data", "wmt22", "zh-en")
WMT_SYSTEMS = ["JDExploreAcademy", "NiuTrans", "Online-B", "Online-W"]
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
DIGITS = 12


def rnd(x):
    x = round(float(x), DIGITS)
    return int(x) if x == int(x) else x


def flat(scores, types):
    out = []
    for t in types:
        s = scores[t]
        out.extend([rnd(s.precision), rnd(s.recall), rnd(s.fmeasure)])
    return out


def read_lines(path):
    # Same convention as the Rust test: split on "\n" only, drop the final
    # empty piece after a trailing newline.
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def xsum_section():
    rows = []
    with open(XSUM, encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
    sec = {
        "recipe": (
            "row i (0-based) of data/xsum/test.jsonl; summary_vs_lead: target = "
            "summary, prediction = '\\n'.join(document.split('\\n')[:1 + i % 3]); "
            "document_vs_summary (rows with i % 10 == 0): target = document, "
            "prediction = summary"
        ),
        "types": TYPES,
        "rows": len(rows),
    }
    for use_stemmer in (False, True):
        scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=use_stemmer)
        key = "stem" if use_stemmer else "nostem"
        lead = []
        docsum = []
        for i, r in enumerate(rows):
            pred = "\n".join(r["document"].split("\n")[: 1 + i % 3])
            lead.append(flat(scorer.score(r["summary"], pred), TYPES))
            if i % 10 == 0:
                docsum.append(flat(scorer.score(r["document"], r["summary"]), TYPES))
        sec["summary_vs_lead_" + key] = lead
        sec["document_vs_summary_" + key] = docsum
    return sec


def wmt_section():
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    ref_a = read_lines(os.path.join(WMT, "generaltest2022.zh-en.ref.A.en"))
    ref_b = read_lines(os.path.join(WMT, "generaltest2022.zh-en.ref.B.en"))
    configs = [
        # (system, refs, use_stemmer)
        ("JDExploreAcademy", ["A"], True),
        ("Online-W", ["A"], False),
        ("NiuTrans", ["A", "B"], True),
        ("Online-B", ["A", "B"], False),
    ]
    out = []
    for system, refs, use_stemmer in configs:
        hyp = read_lines(os.path.join(WMT, f"generaltest2022.zh-en.hyp.{system}.en"))
        assert len(hyp) == len(ref_a) == len(ref_b), system
        scorer = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
        scores = []
        for i, h in enumerate(hyp):
            targets = [{"A": ref_a, "B": ref_b}[r][i] for r in refs]
            if len(targets) == 1:
                s = scorer.score(targets[0], h)
            else:
                s = scorer.score_multi(targets, h)
            scores.append(flat(s, types))
        out.append(
            {
                "hyp": f"data/wmt22/zh-en/generaltest2022.zh-en.hyp.{system}.en",
                "refs": [f"data/wmt22/zh-en/generaltest2022.zh-en.ref.{r}.en" for r in refs],
                "use_stemmer": use_stemmer,
                "types": types,
                "scores": scores,
            }
        )
    return out


EDGE = [
    ("", ""),
    ("", "the cat"),
    ("the cat", ""),
    ("!!! ... ???", "the cat"),
    ("...", "---"),
    ("The cat sat on the mat.", "The cat sat on the mat."),
    ("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."),
    ("café au lait", "cafe au lait"),
    ("naïve résumé", "naive resume"),
    ("北京 is the capital", "北京是首都 is the capital"),
    ("中文文本", "中文文本"),
    ("ÀÉÎÕÜ ß straße", "strasse"),
    ("\u212aelvin temperature", "kelvin temperatures"),
    ("\u0130stanbul city", "i stanbul city"),
    ("\u0130stanbul city", "istanbul city"),
    ("ΣΟΦΙΑ σοφία", "sofia"),
    ("The year 2023 and 1999s", "the year 2023 and the 1999s"),
    ("abc123def 45.67 8,901", "abc123def 45 67 8 901"),
    ("the the the the cat", "the the cat cat"),
    ("a a a a a a", "a a"),
    ("cat dog cat dog cat dog", "dog cat dog cat"),
    ("running runs ran runner", "run running runs"),
    ("cats dogs bats", "cat dog bat"),
    ("was has is his its", "wa ha i hi it"),
    ("skies dying lying tying news innings", "sky die lie tie news inning"),
    ("generalization relational conditional", "generalize relate condition"),
    ("one two three\nfour five six", "one two\nthree four\nfive six"),
    ("one two three\n\nfour five six\n", "four five six\none two three"),
    ("a b c d\ne f g h", "a e b f c g d h"),
    ("a b c d e f", "a b\nc d\ne f\na b"),
    ("\n\n\n", "a b c"),
    ("a b c", "\n \n"),
    ("police killed the gunman\nthe gunman was shot", "the gunman kill police\npolice killed the gunman"),
    ("line one\r\nline two", "line one\nline two"),
    ("tab\tseparated\ttext", "tab separated text"),
    ("it's don't won't", "it s don t won t"),
    ("e-mail co-operate U.S.A.", "email cooperate usa"),
    ("Hello, World!", "hello world"),
    ("HELLO WORLD", "hello world"),
    ("x", "x"),
    ("x y", "y x"),
    ("1 2 3 4 5 6 7 8 9 10", "1 2 3 4 5 6 7 8 9 10"),
    ("émoji 😀 test 👍🏽 ok", "emoji test ok"),
    ("\u00a0non\u00a0breaking\u2003space", "non breaking space"),
    ("ﬁnance oﬃce", "finance office"),
    ("Ⅻ ①②③ ² ³", "xii 1 2 3"),
    ("ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "fullwidth abc"),
    ("flying flies flied", "fly flies fly"),
    ("happy happiness happily", "happi happy"),
    ("controlling controller controlled", "control control"),
]

EDGE_MULTI = [
    (["the cat sat", "a dog ran"], "the dog sat"),
    (["", "a dog ran"], "a dog ran"),
    (["a b c", "a b c"], "a b"),
    (["x y z", "z y x", "x z"], "x z y"),
    (["one\ntwo three", "one two\nthree"], "two three\none"),
    (["", ""], ""),
]


def edge_section():
    types = ["rouge1", "rouge2", "rouge3", "rouge9", "rougeL", "rougeLsum"]
    out = []
    for use_stemmer in (False, True):
        scorer = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
        for target, prediction in EDGE:
            out.append(
                {
                    "targets": [target],
                    "prediction": prediction,
                    "use_stemmer": use_stemmer,
                    "multi": False,
                    "scores": flat(scorer.score(target, prediction), types),
                }
            )
        for targets, prediction in EDGE_MULTI:
            out.append(
                {
                    "targets": targets,
                    "prediction": prediction,
                    "use_stemmer": use_stemmer,
                    "multi": True,
                    "scores": flat(scorer.score_multi(targets, prediction), types),
                }
            )
    # Only-rougeLsum scorer takes a different code path in rouge-score.
    lsum = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=True)
    for target, prediction in EDGE:
        out.append(
            {
                "targets": [target],
                "prediction": prediction,
                "use_stemmer": True,
                "multi": False,
                "types": ["rougeLsum"],
                "scores": flat(lsum.score(target, prediction), ["rougeLsum"]),
            }
        )
    return {"types": types, "cases": out}


def porter_words():
    texts = []
    with open(XSUM, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts += [r["document"], r["summary"]]
    for name in sorted(os.listdir(WMT)):
        if name.endswith(".en"):
            with open(os.path.join(WMT, name), encoding="utf-8") as f:
                texts.append(f.read())
    words = set()
    for t in texts:
        low = t.lower()
        # rouge-score tokens
        words.update(w for w in re.sub(r"[^a-z0-9]+", " ", low).split())
        # Unicode word tokens (what METEOR-style tokenisers produce)
        words.update(re.findall(r"\w+", low))
        # A few mixed-case forms to exercise the lowercasing.
    extra = [
        "Running", "SKIES", "Dying", "CATS", "Ties", "HOPPING", "İstanbul",
        "\u212aelvin", "ΣΟΦΙΑΣ", "Straße", "yyyy", "y", "ys", "yes", "syzygy",
        "ied", "ies", "eed", "ing", "ed", "s", "sses", "ying", "tied",
        "cried", "lies", "agreed", "feed", "bleed", "analogously", "logi",
        "apologi", "biologi", "radicalli", "fulli", "hopefulli", "controll",
        "roll", "caress", "hissing", "fizzed", "failing", "filing", "café",
        "cafés", "naïveté", "ÉTUDES", "zürich", "ñandúes", "ʼs", "1990s",
    ]
    words.update(extra)
    stemmer = porter.PorterStemmer()
    return sorted(words), stemmer


def main():
    assert rouge_score is not None
    print("nltk", nltk.__version__, file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    golden = {
        "generator": "scripts/golden/rouge.py (rouge-score 0.1.2, nltk %s)" % nltk.__version__,
        "score_layout": "per segment: [p, r, f] for each type in 'types', flattened",
        "decimals": DIGITS,
        "edge": edge_section(),
        "xsum": xsum_section(),
        "wmt": wmt_section(),
    }
    path = os.path.join(OUT, "rouge.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
    print(path, os.path.getsize(path), file=sys.stderr)

    words, stemmer = porter_words()
    path = os.path.join(OUT, "porter.tsv")
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("# word<TAB>nltk PorterStemmer().stem(word); a lone word means the stem equals the word\n")
        for w in words:
            assert "\t" not in w and "\n" not in w
            s = stemmer.stem(w)
            f.write(w + "\n" if s == w else w + "\t" + s + "\n")
            n += 1
    print(path, n, os.path.getsize(path), file=sys.stderr)


if __name__ == "__main__":
    main()
