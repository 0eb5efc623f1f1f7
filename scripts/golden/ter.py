#!/usr/bin/env python3
"""Golden values for crates/retune-metrics/src/ter.rs.

Records what sacrebleu 2.6.0's `TER` gives:

* per-segment statistics `[num_edits, avg_ref_length]` (from
  `TER._extract_corpus_statistics`, the path `corpus_score` takes) and corpus
  scores for the WMT22 data committed under data/wmt22, for several option
  sets (single and multiple references, en-zh with and without asian_support);
* a list of hand-written edge cases (empty sides, shifts, very long inputs,
  the 1000-candidate cap, Python-only whitespace, the normaliser's corners,
  Unicode lowercasing, CJK splitting) and small random word-salad cases, each
  with the tokenized hypothesis / references, statistics and sentence score.

Text files are read as UTF-8 and split on '\\n' only (a final empty line after
the trailing newline is dropped); the Rust test reads them the same way, so
only paths are stored here.

Usage: python scripts/golden/ter.py [--cases-only]  (writes
crates/retune-metrics/tests/golden/ter.json; about 15 minutes, --cases-only
keeps the WMT22 part of the existing file and redoes the rest)
"""
import json
import pathlib
import random
import sys

import sacrebleu
from sacrebleu.metrics import TER

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "retune-metrics" / "tests" / "golden" / "ter.json"

ZH_EN = "data/wmt22/zh-en/generaltest2022.zh-en"
EN_ZH = "data/wmt22/en-zh/generaltest2022.en-zh"
ZH_EN_SYS = ["JDExploreAcademy", "NiuTrans", "Online-B", "Online-W"]
EN_ZH_SYS = ["JDExploreAcademy", "LanguageX", "Online-B", "Online-W"]


def opts(normalized=False, no_punct=False, asian_support=False, case_sensitive=False):
    return {
        "normalized": normalized,
        "no_punct": no_punct,
        "asian_support": asian_support,
        "case_sensitive": case_sensitive,
    }


# (name, options, [(hypothesis path, number of leading lines or None = all)], reference paths)
# sacrebleu's TER runs at ~30-40 segments/s, so the costlier variants use a
# prefix of the test set.
CONFIGS = [
    ("zh-en.A.default", opts(), [(f"{ZH_EN}.hyp.{s}.en", None) for s in ZH_EN_SYS], [f"{ZH_EN}.ref.A.en"]),
    ("zh-en.AB.default", opts(), [(f"{ZH_EN}.hyp.{ZH_EN_SYS[0]}.en", None)],
     [f"{ZH_EN}.ref.A.en", f"{ZH_EN}.ref.B.en"]),
    ("zh-en.A.case_sensitive", opts(case_sensitive=True), [(f"{ZH_EN}.hyp.{ZH_EN_SYS[3]}.en", None)],
     [f"{ZH_EN}.ref.A.en"]),
    ("zh-en.A.normalized", opts(normalized=True), [(f"{ZH_EN}.hyp.{ZH_EN_SYS[1]}.en", None)],
     [f"{ZH_EN}.ref.A.en"]),
    ("zh-en.A.no_punct", opts(no_punct=True), [(f"{ZH_EN}.hyp.{ZH_EN_SYS[2]}.en", 600)],
     [f"{ZH_EN}.ref.A.en"]),
    ("zh-en.B.normalized.no_punct.case_sensitive",
     opts(normalized=True, no_punct=True, case_sensitive=True),
     [(f"{ZH_EN}.hyp.{ZH_EN_SYS[3]}.en", 600)], [f"{ZH_EN}.ref.B.en"]),
    ("en-zh.A.default", opts(), [(f"{EN_ZH}.hyp.{s}.zh", None) for s in EN_ZH_SYS], [f"{EN_ZH}.ref.A.zh"]),
    ("en-zh.A.normalized.asian", opts(normalized=True, asian_support=True),
     [(f"{EN_ZH}.hyp.{EN_ZH_SYS[0]}.zh", None), (f"{EN_ZH}.hyp.{EN_ZH_SYS[1]}.zh", 600)], [f"{EN_ZH}.ref.A.zh"]),
    ("en-zh.A.normalized", opts(normalized=True), [(f"{EN_ZH}.hyp.{s}.zh", None) for s in EN_ZH_SYS[2:]],
     [f"{EN_ZH}.ref.A.zh"]),
    ("en-zh.A.no_punct.asian", opts(no_punct=True, asian_support=True),
     [(f"{EN_ZH}.hyp.{s}.zh", None) for s in EN_ZH_SYS], [f"{EN_ZH}.ref.A.zh"]),
    ("en-zh.AB.normalized.no_punct.asian", opts(normalized=True, no_punct=True, asian_support=True),
     [(f"{EN_ZH}.hyp.{EN_ZH_SYS[2]}.zh", 600)], [f"{EN_ZH}.ref.A.zh", f"{EN_ZH}.ref.B.zh"]),
]

EDGE_OPTION_SETS = [
    opts(),
    opts(case_sensitive=True),
    opts(normalized=True),
    opts(normalized=True, asian_support=True),
    opts(no_punct=True, asian_support=True),
    opts(normalized=True, no_punct=True, asian_support=True, case_sensitive=True),
]


def read_lines(rel):
    text = (ROOT / rel).read_bytes().decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def num(x):
    """Ints stay ints in JSON; floats that are whole numbers too (smaller file)."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def edge_inputs():
    """(hypothesis, [references]) pairs."""
    cases = [
        ("", [""]),
        ("", ["a b c"]),
        ("a b c", [""]),
        ("a b c", ["a b c"]),
        ("   ", ["  a  "]),
        ("a b", ["", "a b c"]),
        ("a b c d", ["c d a b"]),
        ("the cat sat on the mat", ["on the mat the cat sat"]),
        ("a b c d e f g h i j k l", ["g h i j k l a b c d e f"]),
        ("x y z a b c", ["a b c x y z", "z y x c b a", "a b c"]),
        ("a a a a b b b b", ["b b b b a a a a"]),
        ("He said: \"Hello, world!\" (twice).", ["he said , \" hello world \" twice ."]),
        ("a.,5", ["a.,5"]),
        ("a..b,,c 3.5 1,000 -3 3-4 a-b 5.", ["a..b,,c 3.5 1,000 -3 3-4 a-b 5."]),
        ("&amp;amp; &quot;x&quot; &lt;tag&gt; &amp;lt;", ["&amp;amp; &quot;x&quot; &lt;tag&gt; &amp;lt;"]),
        ("John's dog's bone 's 'S JOHN'S", ["john 's dog 's bone 's 's john 's"]),
        ("line\n-break and\njoin\n", ["linebreak and join"]),
        ("{a}|b~c[d]\\e^f_g`h !#$%&*+/:;<=>?@", ["a b c d e f g h"]),
        ("a\x1cb\x1dc\x1ed\x1ff", ["a b c d f", "a\x1cb\x1dc\x1ed\x1ff"]),
        ("a\u00a0b\u3000c\u2028d\u0085e\u200bf", ["a b c d e\u200bf"]),
        ("trailing\x1f\u3000", ["trailing"]),
        ("\x1c\x1d\x1e\x1f", [""]),
        ("ΣΑΣ ΟΔΟΣ. ΑΣ", ["σας οδος. ας"]),
        ("İstanbul ǅemal Straße ẞ", ["i̇stanbul ǆemal straße ß"]),
        ("ABC abc AbC", ["abc ABC aBc"]),
        ("我爱北京天安门。", ["我 爱 北京 天安门 。"]),
        ("我爱北京天安门。", ["北京天安门，我爱！"]),
        ("ひらがなカタカナ漢字ｱｲｳ｡、「引用」", ["ひらがな カタカナ 漢字"]),
        ("全角，標点！（括弧）：；？＂．", ["全角 標点 括弧"]),
        ("㈱㍿豈﹐⺀㇀㐀䶿", ["㈱ ㍿ 豈"]),
        ("我们在2022年5月3日.去了北京,Beijing's best.", ["2022年5月3日我们去了北京。"]),
        # letters that only got a lowercase mapping after Unicode 14 (Python 3.11)
        ("\u1c89X \ua7cbΣ ΑΣ\ua7cc \U00010d50Ab \U00016ea0", ["\u1c8ax \u0264σ ας\ua7cd"]),
    ]
    # Shifts farther apart than the maximal shift distance (50).
    ref = [f"w{i}" for i in range(130)]
    far = ref[100:105] + ref[:100] + ref[105:]
    near = ref[:10] + ref[40:45] + ref[10:40] + ref[45:]
    cases.append((" ".join(far), [" ".join(ref)]))
    cases.append((" ".join(near), [" ".join(ref)]))
    cases.append((" ".join(ref[60:] + ref[:60]), [" ".join(ref)]))
    # Extreme length ratios (widened beam).
    cases.append(("w1 w2 w3", [" ".join(ref)]))
    cases.append((" ".join(ref), ["w1 w2 w3"]))
    cases.append(("w120", [" ".join(ref)]))
    # Repetitive text: many candidates (hits the 1000-candidate cap).
    cases.append((" ".join(["a", "b"] * 40), [" ".join(["b", "a", "a"] * 30)]))
    cases.append((" ".join(["the", "a", "of"] * 30), [" ".join(["of", "the", "a", "the"] * 25)]))
    return cases


def random_inputs(seed=20240607):
    rng = random.Random(seed)
    cases = []
    for k in range(350):
        vocab = [f"v{i}" for i in range(rng.choice([2, 3, 4, 6, 10, 30]))]
        if k < 300:
            nh, nr = rng.randint(0, 25), rng.randint(0, 25)
        else:
            nh, nr = rng.randint(30, 70), rng.randint(30, 70)
        ref = [rng.choice(vocab) for _ in range(nr)]
        if ref and rng.random() < 0.6:
            # hypothesis derived from the reference by block moves and edits
            hyp = list(ref)
            for _ in range(rng.randint(1, 4)):
                if len(hyp) < 2:
                    break
                a = rng.randrange(len(hyp))
                ln = rng.randint(1, min(12, len(hyp) - a))
                block = hyp[a:a + ln]
                del hyp[a:a + ln]
                t = rng.randint(0, len(hyp))
                hyp[t:t] = block
            for _ in range(rng.randint(0, 3)):
                op = rng.random()
                p = rng.randint(0, len(hyp))
                if op < 0.4 or not hyp:
                    hyp.insert(p, rng.choice(vocab + ["oov"]))
                elif op < 0.7:
                    del hyp[min(p, len(hyp) - 1)]
                else:
                    hyp[min(p, len(hyp) - 1)] = rng.choice(vocab + ["oov"])
        else:
            hyp = [rng.choice(vocab) for _ in range(nh)]
        refs = [" ".join(ref)]
        if rng.random() < 0.2:
            refs.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25))))
        cases.append((" ".join(hyp), refs))
    return cases


def edge_record(o, hyp, refs, with_tokens=True):
    ter = TER(**o)
    stats = ter._extract_corpus_statistics([hyp], [[r] for r in refs])
    score = ter._aggregate_and_compute(stats)
    rec = {
        "options": o,
        "hyp": hyp,
        "refs": refs,
        "stats": [num(x) for x in stats[0]],
        "score": score.score,
    }
    if with_tokens:
        rec["hyp_tok"] = ter._preprocess_segment(hyp)
        rec["refs_tok"] = [ter._preprocess_segment(ter._preprocess_segment(r)) for r in refs]
    return rec


def main():
    assert sacrebleu.__version__ == "2.6.0", sacrebleu.__version__
    out = {"sacrebleu_version": sacrebleu.__version__, "configs": [], "edge_cases": [], "random_cases": []}
    # --cases-only: keep the (slow) WMT22 part of an existing file, redo the rest.
    configs = CONFIGS
    if "--cases-only" in sys.argv:
        out["configs"] = json.loads(OUT.read_text(encoding="utf-8"))["configs"]
        configs = []
    for name, o, hyp_paths, ref_paths in configs:
        systems = []
        for hp, limit in hyp_paths:
            hyps = read_lines(hp)[:limit]
            refs = [read_lines(p)[:limit] for p in ref_paths]
            ter = TER(**o)
            # corpus_score() is _aggregate_and_compute(_extract_corpus_statistics())
            stats = ter._extract_corpus_statistics(hyps, refs)
            score = ter._aggregate_and_compute(stats)
            total = [sum(s[0] for s in stats), sum(s[1] for s in stats)]
            systems.append({
                "hyp": hp,
                "lines": len(hyps),
                "stats": [[num(x) for x in s] for s in stats],
                "total": [num(x) for x in total],
                "score": score.score,
            })
            print(name, hp, score, flush=True)
        out["configs"].append({"name": name, "options": o, "refs": ref_paths, "systems": systems})
    for hyp, refs in edge_inputs():
        for o in EDGE_OPTION_SETS:
            out["edge_cases"].append(edge_record(o, hyp, refs))
    for hyp, refs in random_inputs():
        out["random_cases"].append(edge_record(opts(), hyp, refs, with_tokens=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
