#!/usr/bin/env python3
"""Expected BLEU / chrF numbers, printed lines, signatures, bootstrap intervals and paired
tests from sacrebleu 2.6.0, on the WMT22 system outputs in data/wmt22 and the edge cases in
data/edge. Writes crates/retune-metrics/tests/golden/sacrebleu.json.

    pip install sacrebleu==2.6.0 && python3 scripts/golden/sacrebleu_metrics.py
"""
import glob, json, os
import numpy as np
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

assert sacrebleu.__version__ == "2.6.0", sacrebleu.__version__
OUT = "crates/retune-metrics/tests/golden/sacrebleu.json"


def read(path):
    # sacrebleu's CLI: split on '\n' only, right-strip every line.
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip() for line in f]


def bleu_case(hyp_path, ref_paths, **kw):
    hyps = read(hyp_path)
    refs = [read(p) for p in ref_paths]
    m = BLEU(**kw)
    s = m.corpus_score(hyps, refs)
    return {
        "metric": "bleu", "hyp": hyp_path, "refs": ref_paths, "options": kw,
        "score": s.score, "counts": [float(x) for x in s.counts], "totals": [float(x) for x in s.totals],
        "sys_len": s.sys_len, "ref_len": s.ref_len, "bp": s.bp,
        "line": str(s), "signature": str(m.get_signature()),
    }


def chrf_case(hyp_path, ref_paths, **kw):
    hyps = read(hyp_path)
    refs = [read(p) for p in ref_paths]
    m = CHRF(**kw)
    s = m.corpus_score(hyps, refs)
    return {"metric": "chrf", "hyp": hyp_path, "refs": ref_paths, "options": kw, "score": s.score,
            "line": str(s), "signature": str(m.get_signature())}


def sentence_cases(hyp_path, ref_paths, limit, **kw):
    hyps = read(hyp_path)[:limit]
    refs = [read(p)[:limit] for p in ref_paths]
    bleu = BLEU(effective_order=True, **kw)
    chrf = CHRF()
    return {
        "hyp": hyp_path, "refs": ref_paths, "options": kw, "limit": limit,
        "bleu": [bleu.sentence_score(h, [r[i] for r in refs]).score for i, h in enumerate(hyps)],
        "chrf": [chrf.sentence_score(h, [r[i] for r in refs]).score for i, h in enumerate(hyps)],
    }


def main():
    cases, sentences, ci, paired = [], [], [], []
    d = "data/wmt22"
    for pair, tgt, tok in [("en-zh", "zh", "zh"), ("zh-en", "en", "13a")]:
        ref_a = f"{d}/{pair}/generaltest2022.{pair}.ref.A.{tgt}"
        ref_b = f"{d}/{pair}/generaltest2022.{pair}.ref.B.{tgt}"
        systems = sorted(glob.glob(f"{d}/{pair}/generaltest2022.{pair}.hyp.*.{tgt}"))
        for hyp in systems:
            cases.append(bleu_case(hyp, [ref_a], tokenize=tok))
            cases.append(bleu_case(hyp, [ref_a, ref_b], tokenize=tok))
            cases.append(chrf_case(hyp, [ref_a]))
            cases.append(chrf_case(hyp, [ref_a, ref_b]))
            cases.append(chrf_case(hyp, [ref_a], word_order=2))
        hyp = systems[0]
        for kw in [dict(tokenize="intl"), dict(tokenize="char"), dict(tokenize="none"),
                   dict(tokenize=tok, lowercase=True), dict(tokenize=tok, smooth_method="floor"),
                   dict(tokenize=tok, smooth_method="add-k"), dict(tokenize=tok, smooth_method="none"),
                   dict(tokenize=tok, smooth_method="floor", smooth_value=0.25),
                   dict(tokenize=tok, max_ngram_order=2), dict(tokenize=tok, effective_order=True)]:
            cases.append(bleu_case(hyp, [ref_a], **kw))
        for kw in [dict(lowercase=True), dict(whitespace=True), dict(eps_smoothing=True), dict(beta=1),
                   dict(char_order=4, word_order=1)]:
            cases.append(chrf_case(hyp, [ref_a], **kw))
        sentences.append(sentence_cases(hyp, [ref_a], 300, tokenize=tok))
        # Bootstrap confidence interval, as `sacrebleu --confidence` (seed 12345, 1000 resamples).
        hyps, refs = read(hyp), [read(ref_a)]
        for M in (BLEU(tokenize=tok), CHRF()):
            s = M.corpus_score(hyps, refs, n_bootstrap=1000)
            ci.append({"metric": "bleu" if isinstance(M, BLEU) else "chrf", "hyp": hyp, "refs": [ref_a],
                       "tokenize": tok, "score": s.score, "mean": float(s._mean), "ci": float(s._ci),
                       "line": s.format(width=2, signature=str(M.get_signature()))})
        # Paired tests: first system is the baseline.
        named = [(os.path.basename(p), read(p)) for p in systems[:3]]
        for test_type in ("bs", "ar"):
            for name, M in (("bleu", BLEU(tokenize=tok, references=refs)), ("chrf", CHRF(references=refs))):
                pt = PairedTest(named, {name: M}, None, test_type=test_type,
                                n_samples=1000 if test_type == "bs" else 2000,
                                n_ar_confidence=1000 if test_type == "ar" else -1)
                sigs, scores = pt()
                key = [k for k in scores if k != "System"][0]
                res = scores[key]
                paired.append({
                    "metric": name, "test": test_type, "tokenize": tok, "refs": [ref_a],
                    "systems": [p for p in systems[:3]],
                    "n_samples": 1000 if test_type == "bs" else 2000,
                    "signature": str(sigs[key]),
                    "results": [{"score": float(r.score), "p_value": None if r.p_value is None else float(r.p_value),
                                 "mean": None if r.mean is None else float(r.mean), "ci": None if r.ci is None else float(r.ci)} for r in res],
                })
    e = "data/edge"
    for tok in ["13a", "zh", "intl", "char", "none"]:
        for lc in (False, True):
            cases.append(bleu_case(f"{e}/hyp.txt", [f"{e}/ref.A.txt"], tokenize=tok, lowercase=lc))
            cases.append(bleu_case(f"{e}/hyp.txt", [f"{e}/ref.A.txt", f"{e}/ref.B.txt"], tokenize=tok, lowercase=lc))
        sentences.append(sentence_cases(f"{e}/hyp.txt", [f"{e}/ref.A.txt", f"{e}/ref.B.txt"], 1000, tokenize=tok))
    for kw in [{}, dict(word_order=2), dict(lowercase=True), dict(whitespace=True)]:
        cases.append(chrf_case(f"{e}/hyp.txt", [f"{e}/ref.A.txt"], **kw))
        cases.append(chrf_case(f"{e}/hyp.txt", [f"{e}/ref.A.txt", f"{e}/ref.B.txt"], **kw))
    # The tokenizers' exact output on every edge line.
    from sacrebleu.metrics.bleu import _get_tokenizer
    toks = {t: [_get_tokenizer(t)()(line) for line in read(f"{e}/hyp.txt") + read(f"{e}/ref.A.txt")]
            for t in ["13a", "zh", "intl", "char", "none"]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"sacrebleu": sacrebleu.__version__, "corpus": cases, "sentence": sentences,
                   "confidence": ci, "paired": paired, "tokenized": toks}, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
