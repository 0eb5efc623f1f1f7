#!/usr/bin/env python3
"""Writes data/edge/{hyp,ref.A,ref.B}.txt: line-aligned segments covering the traps of
sacrebleu-compatible scoring (see the comment on each case). Run from the repository root."""
import os

CASES = [
    # (hypothesis, reference A, reference B, what it covers)
    ("The cat sat on the mat.", "The cat sat on the mat.", "A cat was sitting on the mat.", "identical"),
    ("", "Something was said here.", "Something said.", "empty hypothesis"),
    ("Only a hypothesis here.", "", "", "empty references"),
    ("", "", "", "all empty"),
    ("a\x1cb\x1dc\x1ed\x1fe", "a b c d e", "a\x1fb c d e", "U+001C-U+001F are whitespace to Python"),
    ("zero\u200bwidth space", "zero width space", "zero\u200bwidth space", "U+200B is not whitespace"),
    ("ideographic\u3000space\u00a0nbsp", "ideographic space nbsp", "ideographic space\u3000nbsp", "Unicode spaces"),
    (".5 percent, 1,000.50 and 3.14.", ".5 percent , 1,000.50 and 3.14 .", "0.5 percent, 1000.5 and 3.14.", "leading dot: 13a pads, zh/intl do not"),
    ("Tom &amp; Jerry &lt;3 &quot;cartoon&quot; &gt;", "Tom & Jerry <3 \"cartoon\" >", "Tom and Jerry", "mteval entities"),
    ("word <skipped> end-", "word end-", "word end", "<skipped> marker and trailing hyphen"),
    ("1990-2000 x-ray 5-", "1990 - 2000 x-ray 5 -", "1990 to 2000 X-ray", "digit-hyphen rule"),
    ("他说：“你好——世界…”", "他说：“你好，世界……”", "他说“你好世界”", "Chinese punctuation inside the zh range quirk (U+2001..U+2A6D)"),
    ("\U00020001\U00020002 ext-B chars", "\U00020001 ext-B chars", "ext-B", "CJK Extension B: not Chinese for sacrebleu's zh"),
    ("全角ＡＢＣ１２３，句号。", "全角ＡＢＣ１２３，句号。", "全角ABC123,句号.", "full-width forms"),
    ("混合 mixed 文本 text 123", "混合文本 mixed text 123", "mixed 混合 text 文本", "mixed scripts"),
    ("tab\tinside the line", "tab inside the line", "tab\tinside\tthe line", "TAB inside a line"),
    ("the the the the the the", "the cat", "the", "repeated tokens, clipping"),
    ("a b c d e", "a b c", "a b c d e f g", "closest-ref-length tie: 3 and 7 are both 2 away -> shorter"),
    ("a b c d", "a b c d e f", "a b", "closest-ref-length tie: 6 and 2 both 2 away"),
    ("!!! ??? ... ,,,", "! ? . ,", "...", "only punctuation"),
    ("emoji 😀 test ✓ ★", "emoji 😀 test ✓", "emoji test", "symbols and astral characters"),
    ("ΣΊΣΥΦΟΣ İstanbul ǅ", "σίσυφος istanbul ǆ", "ΣΊΣΥΦΟΣ İSTANBUL ǅ", "Unicode lower-casing (final sigma, dotted I, titlecase)"),
    ("café naïve résumé", "cafe\u0301 naive resume", "café naïve résumé", "combining accents vs precomposed"),
    ("Mr. Smith's dog--it's 3:45 p.m.", "Mr. Smith 's dog -- it 's 3:45 p.m .", "Mr Smith's dog, it's 3.45pm", "apostrophes, colons in numbers, abbreviations"),
    ("http://example.com/a?b=c&d=e #tag @user", "http : / / example.com / a ? b = c & d = e # tag @ user", "example.com", "URLs and symbols"),
    ("The quick brown fox jumps over the lazy dog", "A quick brown dog jumps over the lazy fox", "The fast brown fox leaps over a lazy dog", "word order shuffle"),
    ("trailing spaces   ", "trailing spaces", "trailing   spaces", "trailing whitespace is stripped"),
    ("   leading spaces", "leading spaces", "leading spaces", "leading whitespace"),
    ("NEWS: 2022 results (final) [draft] {v2} ~approx~ ^caret^ `tick` |pipe| \\back\\", "NEWS : 2022 results ( final ) [ draft ] { v2 } ~ approx ~ ^ caret ^ ` tick ` | pipe | \\ back \\", "news 2022 results", "every 13a punctuation class"),
    ("It costs $5,000.00 or €4.500,00 — 50% off!", "It costs $ 5,000.00 or € 4.500,00 — 50 % off !", "It costs 5000 dollars", "currency, percent, dashes"),
]

def main():
    os.makedirs("data/edge", exist_ok=True)
    for i, name in enumerate(["hyp", "ref.A", "ref.B"]):
        with open(f"data/edge/{name}.txt", "w", encoding="utf-8", newline="\n") as f:
            for c in CASES:
                f.write(c[i] + "\n")
    with open("data/edge/README.md", "w", encoding="utf-8") as f:
        f.write("# Edge cases for metric tests\n\nLine-aligned, written by `scripts/golden/make_edge_cases.py`.\n\n")
        f.write("| line | covers |\n|---|---|\n")
        for i, c in enumerate(CASES):
            f.write(f"| {i + 1} | {c[3]} |\n")

if __name__ == "__main__":
    main()
