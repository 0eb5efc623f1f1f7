//! Writing systems (scripts) of texts, from compact Unicode range tables.
//!
//! Only letters (and the combining signs inside a script's own blocks) count; digits, punctuation,
//! symbols and whitespace are ignored. A text's *dominant* script is the script with the most
//! counted characters (ties go to the script listed first in [`Script::ALL`]).

use serde::Serialize;
use std::collections::BTreeMap;

/// A writing system, as far as the audit distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Script {
    /// Latin letters (English, French, Vietnamese, …), including full-width forms.
    Latin,
    /// Chinese characters (Hanzi, Kanji, Hanja): CJK ideographs and radicals.
    Han,
    /// Cyrillic (Russian, Ukrainian, …).
    Cyrillic,
    /// Arabic (Arabic, Persian, Urdu, …), with presentation forms.
    Arabic,
    /// Korean Hangul syllables and jamo.
    Hangul,
    /// Japanese Hiragana and Katakana (including half-width Katakana).
    Kana,
    /// Devanagari (Hindi, Marathi, Nepali, …).
    Devanagari,
    /// Greek.
    Greek,
    /// Thai.
    Thai,
    /// Hebrew.
    Hebrew,
    /// Any other alphabetic character.
    Other,
}

impl Script {
    /// Every script, in tie-break order.
    pub const ALL: [Script; 11] = [
        Script::Latin,
        Script::Han,
        Script::Cyrillic,
        Script::Arabic,
        Script::Hangul,
        Script::Kana,
        Script::Devanagari,
        Script::Greek,
        Script::Thai,
        Script::Hebrew,
        Script::Other,
    ];

    /// The lower-case name, e.g. `"han"`.
    pub fn name(self) -> &'static str {
        match self {
            Script::Latin => "latin",
            Script::Han => "han",
            Script::Cyrillic => "cyrillic",
            Script::Arabic => "arabic",
            Script::Hangul => "hangul",
            Script::Kana => "kana",
            Script::Devanagari => "devanagari",
            Script::Greek => "greek",
            Script::Thai => "thai",
            Script::Hebrew => "hebrew",
            Script::Other => "other",
        }
    }

    /// Parses a script name (case-insensitive) or a common language code whose script is
    /// unambiguous: `zh`→Han, `ja`→Kana, `ko`→Hangul, `ru`/`uk`/`bg`→Cyrillic, `ar`/`fa`/`ur`→Arabic,
    /// `hi`/`mr`/`ne`→Devanagari, `el`→Greek, `th`→Thai, `he`→Hebrew, `en`/`fr`/`de`/`es`/…→Latin.
    pub fn parse(name: &str) -> Option<Script> {
        let n = name.trim().to_ascii_lowercase();
        let base = n.split(['-', '_']).next().unwrap_or("");
        Some(match base {
            "latin" | "latn" | "en" | "fr" | "de" | "es" | "it" | "pt" | "nl" | "sv" | "da" | "no" | "fi" | "pl"
            | "cs" | "ro" | "tr" | "vi" | "id" | "et" | "lv" | "lt" | "hu" => Script::Latin,
            "han" | "hans" | "hant" | "hani" | "zh" | "cmn" | "yue" => Script::Han,
            "cyrillic" | "cyrl" | "ru" | "uk" | "bg" | "sr" | "mk" | "be" => Script::Cyrillic,
            "arabic" | "arab" | "ar" | "fa" | "ur" => Script::Arabic,
            "hangul" | "hang" | "kore" | "ko" => Script::Hangul,
            "kana" | "hira" | "jpan" | "ja" => Script::Kana,
            "devanagari" | "deva" | "hi" | "mr" | "ne" => Script::Devanagari,
            "greek" | "grek" | "el" => Script::Greek,
            "thai" | "th" => Script::Thai,
            "hebrew" | "hebr" | "he" | "iw" => Script::Hebrew,
            "other" => Script::Other,
            _ => return None,
        })
    }
}

/// Inclusive code point ranges per script, sorted by start (checked in a unit test).
const RANGES: &[(u32, u32, Script)] = &[
    (0x0041, 0x005A, Script::Latin),
    (0x0061, 0x007A, Script::Latin),
    (0x00AA, 0x00AA, Script::Latin),
    (0x00BA, 0x00BA, Script::Latin),
    (0x00C0, 0x00D6, Script::Latin),
    (0x00D8, 0x00F6, Script::Latin),
    (0x00F8, 0x02AF, Script::Latin),
    (0x0370, 0x03FF, Script::Greek),
    (0x0400, 0x052F, Script::Cyrillic),
    (0x0590, 0x05FF, Script::Hebrew),
    (0x0600, 0x06FF, Script::Arabic),
    (0x0750, 0x077F, Script::Arabic),
    (0x08A0, 0x08FF, Script::Arabic),
    (0x0900, 0x097F, Script::Devanagari),
    (0x0E00, 0x0E7F, Script::Thai),
    (0x1100, 0x11FF, Script::Hangul),
    (0x1C80, 0x1C8F, Script::Cyrillic),
    (0x1E00, 0x1EFF, Script::Latin),
    (0x1F00, 0x1FFF, Script::Greek),
    (0x2C60, 0x2C7F, Script::Latin),
    (0x2DE0, 0x2DFF, Script::Cyrillic),
    (0x2E80, 0x2FDF, Script::Han),
    (0x3005, 0x3005, Script::Han),
    (0x3007, 0x3007, Script::Han),
    (0x3021, 0x3029, Script::Han),
    (0x3038, 0x303B, Script::Han),
    (0x3040, 0x30FF, Script::Kana),
    (0x3130, 0x318F, Script::Hangul),
    (0x31F0, 0x31FF, Script::Kana),
    (0x3400, 0x4DBF, Script::Han),
    (0x4E00, 0x9FFF, Script::Han),
    (0xA640, 0xA69F, Script::Cyrillic),
    (0xA720, 0xA7FF, Script::Latin),
    (0xA8E0, 0xA8FF, Script::Devanagari),
    (0xA960, 0xA97F, Script::Hangul),
    (0xAB30, 0xAB6F, Script::Latin),
    (0xAC00, 0xD7FF, Script::Hangul),
    (0xF900, 0xFAFF, Script::Han),
    (0xFB00, 0xFB06, Script::Latin),
    (0xFB1D, 0xFB4F, Script::Hebrew),
    (0xFB50, 0xFDFF, Script::Arabic),
    (0xFE70, 0xFEFF, Script::Arabic),
    (0xFF21, 0xFF3A, Script::Latin),
    (0xFF41, 0xFF5A, Script::Latin),
    (0xFF66, 0xFF9F, Script::Kana),
    (0xFFA0, 0xFFDC, Script::Hangul),
    (0x1B000, 0x1B16F, Script::Kana),
    (0x20000, 0x2FA1F, Script::Han),
    (0x30000, 0x3134F, Script::Han),
];

/// The script of one character, or `None` for characters that do not count (digits, punctuation,
/// symbols, whitespace, unassigned letters-less code points).
pub fn char_script(c: char) -> Option<Script> {
    let cp = c as u32;
    if cp < 0x80 {
        return c.is_ascii_alphabetic().then_some(Script::Latin);
    }
    // Binary search for the last range starting at or before cp.
    let i = RANGES.partition_point(|&(lo, _, _)| lo <= cp);
    if i > 0 {
        let (lo, hi, s) = RANGES[i - 1];
        if (lo..=hi).contains(&cp) {
            // Inside a script block only letters and combining marks count; a few blocks also hold
            // punctuation (e.g. Arabic comma, Greek question mark, Thai currency symbol, Kana's
            // middle dot U+30FB) that should not.
            return (c.is_alphabetic() || is_mark_like(cp)).then_some(s);
        }
    }
    c.is_alphabetic().then_some(Script::Other)
}

/// Combining marks in the blocks above that `char::is_alphabetic` does not cover.
fn is_mark_like(cp: u32) -> bool {
    matches!(cp, 0x0591..=0x05C7 | 0x064B..=0x065F | 0x093C | 0x094D | 0x0E31..=0x0E3A | 0x0E47..=0x0E4E)
}

/// Per-script character counts of one text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptProfile {
    counts: [u32; 11],
}

impl ScriptProfile {
    /// Counts the characters of `text` by script.
    pub fn of(text: &str) -> Self {
        let mut counts = [0u32; 11];
        if text.is_ascii() {
            counts[0] = text.bytes().filter(u8::is_ascii_alphabetic).count() as u32;
        } else {
            for c in text.chars() {
                if let Some(s) = char_script(c) {
                    counts[s as usize] += 1;
                }
            }
        }
        Self { counts }
    }

    /// How many characters of `script` the text has.
    pub fn count(&self, script: Script) -> u32 {
        self.counts[script as usize]
    }

    /// How many characters counted at all (letters of any script).
    pub fn letters(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// The script with the most characters; `None` for a text without letters.
    pub fn dominant(&self) -> Option<Script> {
        let mut best: Option<(Script, u32)> = None;
        for s in Script::ALL {
            let n = self.counts[s as usize];
            if n > 0 && best.map_or(true, |(_, b)| n > b) {
                best = Some((s, n));
            }
        }
        best.map(|(s, _)| s)
    }

    /// Whether the text has at least one character of `script`.
    pub fn contains(&self, script: Script) -> bool {
        self.counts[script as usize] > 0
    }
}

/// The dominant script of `text` (see the module documentation); `None` without letters.
pub fn dominant_script(text: &str) -> Option<Script> {
    ScriptProfile::of(text).dominant()
}

/// Which scripts occur in a set of texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScriptCounts {
    /// Number of texts per dominant script (only scripts that occur).
    pub dominant: BTreeMap<Script, usize>,
    /// Number of texts that contain at least one character of each script (only scripts that occur).
    pub containing: BTreeMap<Script, usize>,
    /// Texts without any letter (empty, digits or punctuation only).
    pub no_letters: usize,
    /// The most common dominant script, if any text has letters.
    pub majority: Option<Script>,
    /// Up to `max_examples_per_finding` rows per dominant script other than the majority (0-based,
    /// ascending): the rows a user wants to look at ("Chinese text in an English dataset").
    pub minority_examples: BTreeMap<Script, Vec<usize>>,
}

impl ScriptCounts {
    /// Builds the counts from per-text profiles.
    pub fn from_profiles(profiles: &[ScriptProfile], max_examples: usize) -> Self {
        let mut out = ScriptCounts::default();
        let mut dominant = vec![None; profiles.len()];
        for (row, p) in profiles.iter().enumerate() {
            for s in Script::ALL {
                if p.contains(s) {
                    *out.containing.entry(s).or_default() += 1;
                }
            }
            match p.dominant() {
                Some(s) => {
                    *out.dominant.entry(s).or_default() += 1;
                    dominant[row] = Some(s);
                }
                None => out.no_letters += 1,
            }
        }
        // Majority: most texts; ties to the earlier script.
        out.majority = Script::ALL
            .iter()
            .filter_map(|s| out.dominant.get(s).map(|&n| (*s, n)))
            .fold(None, |best: Option<(Script, usize)>, (s, n)| match best {
                Some((_, b)) if b >= n => best,
                _ => Some((s, n)),
            })
            .map(|(s, _)| s);
        for (row, d) in dominant.into_iter().enumerate() {
            if let Some(s) = d {
                if Some(s) != out.majority {
                    let v = out.minority_examples.entry(s).or_default();
                    if v.len() < max_examples {
                        v.push(row);
                    }
                }
            }
        }
        out
    }

    /// Counts the scripts of `texts`.
    pub fn of_texts(texts: &[&str], max_examples: usize) -> Self {
        use rayon::prelude::*;
        let profiles: Vec<ScriptProfile> = texts
            .par_iter()
            .with_min_len(4096)
            .map(|t| ScriptProfile::of(t))
            .collect();
        Self::from_profiles(&profiles, max_examples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_and_disjoint() {
        for w in RANGES.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 < w[1].0, "{:x?}", w);
        }
    }
}
