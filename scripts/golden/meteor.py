#!/usr/bin/env python3
"""Expected METEOR scores from nltk 3.10.4 for crates/retune-metrics/tests/meteor_golden.rs.

Scores come from ``nltk.translate.meteor_score.meteor_score(references, hypothesis,
wordnet=wn)`` with every string split by ``str.split()`` and ``wn`` a
``WordNetCorpusReader`` over the WordNet 3.0 files of Debian's ``wordnet-base``
(/usr/share/wordnet, or $WORDNET_DIR). nltk needs two things those files do not
give it, neither of which touches METEOR:

* a ``lexnames`` file (only names the lexicographer file of a synset): written
  here from WordNet 3.0's fixed list;
* ``map_wn()``, which maps synsets to the nltk_data copy of WordNet for the
  multilingual functions: disabled in a subclass.

nltk also refuses to read corpora outside its data path and through symlinks,
so the files are copied into a temporary directory added to ``nltk.data.path``.

Inputs, read from the repository:

* data/wmt22/zh-en: the four systems' hypotheses against ref.A (single
  reference) and against ref.A + ref.B (best of two), every segment;
* data/xsum/test.jsonl: the document's first line ("lead1") and its first three
  lines joined by a space ("lead3"), against the summary, every article;
* a hand-written list of edge cases, and 500 deterministic random pairs over
  a small vocabulary of case/stem/synonym/exception-list collisions, both
  stored with their text.

Scores are written as strings (Python's ``repr``, the shortest round-trip
form) so that the Rust test can parse them exactly: serde_json's default float
parser may be off by one unit in the last place.

Text files are read as UTF-8 bytes and split on "\\n" only (a final empty piece
dropped), so that the Rust test reads the same lines.

Usage: python scripts/golden/meteor.py  (writes crates/retune-metrics/tests/golden/meteor.json)
"""

import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import nltk
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.translate.meteor_score import meteor_score

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/retune-metrics/tests/golden/meteor.json"
WMT = ROOT / "data/wmt22/zh-en"
SYSTEMS = ["JDExploreAcademy", "NiuTrans", "Online-B", "Online-W"]

WORDNET_FILES = [
    f"{kind}.{pos}" for kind in ("index", "data") for pos in ("noun", "verb", "adj", "adv")
] + [f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")]

LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact "
    "noun.attribute noun.body noun.cognition noun.communication noun.event "
    "noun.feeling noun.food noun.group noun.location noun.motive noun.object "
    "noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time "
    "verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
LEX_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


class DebianWordNet(WordNetCorpusReader):
    """WordNetCorpusReader without the nltk_data-only synset mapping."""

    def map_wn(self, version="wordnet"):
        return None


def load_wordnet(tmp: Path) -> WordNetCorpusReader:
    src = Path(os.environ.get("WORDNET_DIR") or "/usr/share/wordnet")
    for name in WORDNET_FILES:
        if not (src / name).is_file():
            sys.exit(f"missing {src / name}: install wordnet-base or set WORDNET_DIR")
        shutil.copyfile(src / name, tmp / name)
    with open(tmp / "lexnames", "w") as f:
        for i, name in enumerate(LEXNAMES):
            f.write(f"{i:02d}\t{name}\t{LEX_CATEGORY[name.split('.')[0]]}\n")
    nltk.data.path.append(str(tmp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return DebianWordNet(str(tmp), None)


def read_lines(path: Path) -> list:
    lines = path.read_bytes().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def score(wn, refs, hyp) -> float:
    return float(meteor_score([r.split() for r in refs], hyp.split(), wordnet=wn))


EDGE_CASES = [
    # (references, hypothesis)
    (["the cat sat on the mat"], ""),
    ([""], "the cat sat on the mat"),
    ([""], ""),
    (["   "], " \t "),
    (["the cat sat on the mat"], "the cat sat on the mat"),
    (["The CAT sat on the Mat"], "the cat SAT ON THE mat"),
    (["this is a cat"], "non matching hypothesis"),
    (["It is a guide to action that ensures that the military will forever heed Party commands"],
     "It is a guide to action which ensures that the military always obeys the commands of the party"),
    (["It is a guide to action that ensures that the military will forever heed Party commands",
      "It is the guiding principle which guarantees the military forces always being under the command of the Party",
      "It is the practical guide for the army always to heed the directions of the party"],
     "It is to insure the troops forever hearing the activity guidebook that party direct"),
    # stem-only matches
    (["he runs with the dogs"], "he running with the dog"),
    (["the generalization of connections"], "general connected"),
    (["happily cats jumped"], "happy cat jumping"),
    # synonym-only matches (on stems)
    (["i drove my auto"], "i drove my car"),
    (["a big house"], "a large house"),
    (["a large house"], "a big house"),
    (["he is quick"], "he is fast"),
    (["she began the job"], "she started the job"),
    (["the movie was good"], "the film was good"),
    # morphy exception lists (applied to the stem of the hypothesis word)
    (["he will go home"], "he went home"),
    (["the dog run"], "the dog ran"),
    (["the child plays"], "the children play"),
    (["this is good"], "this is better"),
    (["that was bad"], "that was worse"),
    (["my foot hurts"], "my feet hurt"),
    (["a goose and a mouse"], "geese and mice"),
    (["the best one"], "the good one"),
    (["he was there", "they were there"], "he is there"),
    # repeated words, ordering, chunks
    (["the cat the dog the cat"], "the the the cat cat dog"),
    (["a b c d e f g"], "g f e d c b a"),
    (["a b c d e f g"], "a b c x d e f g"),
    (["the the the"], "the"),
    (["the"], "the the the"),
    (["run run running runs"], "runs running run ran"),
    # punctuation attached to words
    (["the cat sat on the mat."], "the cat sat on the mat ."),
    (["dogs, cats, and birds!"], "dog , cats and birds"),
    (["\"hello\" he said"], "hello he said ."),
    (["U.S. officials said 10% more"], "u.s. officials say 10 % more"),
    # unicode and whitespace handling
    (["Café au lait"], "café AU LAIT"),
    (["STRASSE und İstanbul"], "straße und i̇stanbul"),
    (["ΣΊΣΥΦΟΣ ΟΔΟΣ"], "σίσυφος οδος"),
    (["a\x1cb\x1dc\x1ed\x1fe"], "a b c d e"),
    (["a\u3000b\xa0c\x85d"], "a b c d"),
    (["zero\u200bwidth joiner"], "zero width joiner"),
    # multiple references: best of
    (["completely different words", "the cat is on the mat"], "the cat is on a mat"),
    (["the cat is on the mat", ""], "the cat is on a mat"),
    # longer mixed case
    (["The quick brown fox jumps over the lazy dog near the riverbank"],
     "A fast brown fox leaped above the idle dogs close to the river bank"),
]


# Vocabulary for the random cases: words that collide by case, by Porter stem,
# by WordNet synonymy (on stems) and through morphy's exception lists.
RANDOM_VOCAB = (
    "car auto automobile cars autos big large great bigger fast quick quickly rapid "
    "run ran running runs go went gone going child children kid kids good better best "
    "well bad worse worst house home houses homes begin began start started starting "
    "film movie films the a The A Run GO dog dogs Dog cat cats happy glad happily man "
    "men woman women person people buy bought purchase purchased say said tell told "
    "speak spoke fix repair mend fixed end finish ended close near shut closed mouse "
    "mice goose geese foot feet see saw seen look watch watched dog. cat, (car) U.S. "
    "job work task occupation chore sick ill tired shop store stores shopping"
).split()


def random_cases(n: int, seed: int = 20221) -> list:
    """Deterministic random pairs drawn from RANDOM_VOCAB (1-3 references)."""
    import random

    rng = random.Random(seed)

    def sentence() -> str:
        words = [rng.choice(RANDOM_VOCAB) for _ in range(rng.randint(0, 14))]
        words = [w.upper() if rng.random() < 0.05 else w for w in words]
        return " ".join(words)

    return [([sentence() for _ in range(rng.randint(1, 3))], sentence()) for _ in range(n)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wn = load_wordnet(Path(tmp))

        ref_a = read_lines(WMT / "generaltest2022.zh-en.ref.A.en")
        ref_b = read_lines(WMT / "generaltest2022.zh-en.ref.B.en")
        wmt = []
        for system in SYSTEMS:
            hyps = read_lines(WMT / f"generaltest2022.zh-en.hyp.{system}.en")
            assert len(hyps) == len(ref_a) == len(ref_b)
            for refs_name, refs_lists in (("A", [ref_a]), ("A+B", [ref_a, ref_b])):
                scores = [
                    score(wn, [refs[k] for refs in refs_lists], hyp)
                    for k, hyp in enumerate(hyps)
                ]
                wmt.append(
                    {
                        "system": system,
                        "hyp_file": f"data/wmt22/zh-en/generaltest2022.zh-en.hyp.{system}.en",
                        "ref_files": [
                            f"data/wmt22/zh-en/generaltest2022.zh-en.ref.{r}.en"
                            for r in refs_name.split("+")
                        ],
                        "scores": [repr(x) for x in scores],
                        "mean": repr(sum(scores) / len(scores)),
                    }
                )
                print(f"wmt22 {system} ref {refs_name}: mean {wmt[-1]['mean']}", file=sys.stderr)

        docs = [json.loads(line) for line in read_lines(ROOT / "data/xsum/test.jsonl")]
        xsum = []
        for lead in (1, 3):
            scores = [
                score(wn, [d["summary"]], " ".join(d["document"].split("\n")[:lead]))
                for d in docs
            ]
            xsum.append(
                {
                    "lead": lead,
                    "scores": [repr(x) for x in scores],
                    "mean": repr(sum(scores) / len(scores)),
                }
            )
            print(f"xsum lead{lead}: mean {xsum[-1]['mean']}", file=sys.stderr)

        edge = [
            {"refs": refs, "hyp": hyp, "score": repr(score(wn, refs, hyp))}
            for refs, hyp in EDGE_CASES
        ]
        rand = [
            {"refs": refs, "hyp": hyp, "score": repr(score(wn, refs, hyp))}
            for refs, hyp in random_cases(500)
        ]

    golden = {
        "generator": "scripts/golden/meteor.py",
        "nltk": nltk.__version__,
        "wordnet": "Debian wordnet-base (WordNet 3.0)",
        "params": {"alpha": 0.9, "beta": 3.0, "gamma": 0.5},
        "wmt22": wmt,
        "xsum": {
            "file": "data/xsum/test.jsonl",
            "hypothesis": "first `lead` lines of document (split on \\n) joined by a space",
            "reference": "summary",
            "runs": xsum,
        },
        "edge_cases": edge,
        "random_cases": rand,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
