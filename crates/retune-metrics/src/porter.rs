//! Porter stemmer that gives the same stems as NLTK 3.10.4's
//! `nltk.stem.porter.PorterStemmer().stem(word)` in its default
//! `NLTK_EXTENSIONS` mode.
//!
//! The implementation follows the published algorithm (M. F. Porter, "An
//! algorithm for suffix stripping", 1980) together with the departures that
//! NLTK makes in its default mode:
//!
//! * a small pool of irregular forms (`skies` → `sky`, `dying` → `die`,
//!   `news` → `news`, `innings` → `inning`, …) that is looked up first;
//! * words of at most two characters are returned (lowercased) unchanged;
//! * step 1a maps a four-letter word ending in `ies` to `…ie` (`ties` → `tie`);
//! * step 1b maps `…ied` to `…ie` for four-letter words and to `…i` otherwise;
//! * the `*o` (cvc) condition also holds for a two-letter vowel–consonant stem;
//! * step 1c turns a final `y` into `i` only after a consonant that is not the
//!   first letter (`happy` → `happi`, `enjoy` → `enjoy`, `spy` → `spi`);
//! * step 2 first rewrites `alli` → `al` (then re-runs step 2), uses `bli` →
//!   `ble` instead of `abli` → `able`, and adds `fulli` → `ful` and `logi` →
//!   `log`.
//!
//! Like NLTK, the word is lowercased first (full Unicode lowercasing), and
//! characters other than `a e i o u y` count as consonants, so words with
//! digits or non-ASCII letters are handled exactly as NLTK handles them.

/// Stems `word` exactly like NLTK's `PorterStemmer().stem(word)` (default
/// `NLTK_EXTENSIONS` mode, `to_lowercase=True`).
///
/// ```
/// use retune_metrics::porter::stem;
/// assert_eq!(stem("Running"), "run");
/// assert_eq!(stem("skies"), "sky");
/// assert_eq!(stem("generalization"), "gener");
/// ```
pub fn stem(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    stem_into(word, &mut out);
    out
}

/// Like [`stem`], but writes the stem into `out` (which is cleared first), so
/// that a caller stemming many words can reuse one buffer. For ASCII input
/// this does not allocate once `out` has enough capacity.
pub fn stem_into(word: &str, out: &mut String) {
    out.clear();
    let orig_chars = if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
        word.len()
    } else {
        // `str::to_lowercase` handles the final-sigma rule as Python's
        // `str.lower` does.
        out.push_str(&word.to_lowercase());
        word.chars().count()
    };

    if let Some(irregular) = irregular_form(out) {
        out.clear();
        out.push_str(irregular);
        return;
    }
    // NLTK checks the length of the word as given (before lowercasing).
    if orig_chars <= 2 {
        return;
    }

    step1a(out);
    step1b(out);
    step1c(out);
    step2(out);
    step3(out);
    step4(out);
    step5a(out);
    step5b(out);
}

/// NLTK's pool of irregular forms (looked up on the lowercased word).
fn irregular_form(w: &str) -> Option<&'static str> {
    Some(match w {
        "sky" | "skies" => "sky",
        "dying" => "die",
        "lying" => "lie",
        "tying" => "tie",
        "news" => "news",
        "innings" | "inning" => "inning",
        "outings" | "outing" => "outing",
        "cannings" | "canning" => "canning",
        "howe" => "howe",
        "proceed" => "proceed",
        "exceed" => "exceed",
        "succeed" => "succeed",
        _ => return None,
    })
}

#[inline]
fn is_vowel_byte(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Porter's measure `m` of `s` (the number of vowel→consonant transitions).
///
/// Works on bytes: every byte of a multi-byte UTF-8 character is a
/// consonant, which gives the same count as classifying the whole character
/// as one consonant (runs of consonants do not change the count, and a `y`
/// after such a character is a vowel either way).
fn measure(s: &str) -> usize {
    let mut m = 0;
    let mut prev_cons = false;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let cons = if is_vowel_byte(b) {
            false
        } else if b == b'y' {
            i == 0 || !prev_cons
        } else {
            true
        };
        if cons && i > 0 && !prev_cons {
            m += 1;
        }
        prev_cons = cons;
    }
    m
}

/// Whether `s` contains a vowel (in Porter's sense, `y` included).
fn contains_vowel(s: &str) -> bool {
    let mut prev_cons = false;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let cons = if is_vowel_byte(b) {
            false
        } else if b == b'y' {
            i == 0 || !prev_cons
        } else {
            true
        };
        if !cons {
            return true;
        }
        prev_cons = cons;
    }
    false
}

/// The last (up to) three characters of a word with their consonant flags,
/// plus the number of characters. Index 0 is the last character.
struct Tail {
    n: usize,
    ch: [char; 3],
    cons: [bool; 3],
}

fn tail(s: &str) -> Tail {
    let mut t = Tail {
        n: 0,
        ch: ['\0'; 3],
        cons: [false; 3],
    };
    for c in s.chars() {
        let cons = match c {
            'a' | 'e' | 'i' | 'o' | 'u' => false,
            'y' => t.n == 0 || !t.cons[0],
            _ => true,
        };
        t.ch = [c, t.ch[0], t.ch[1]];
        t.cons = [cons, t.cons[0], t.cons[1]];
        t.n += 1;
    }
    t
}

/// Condition `*d`: the word ends with a double consonant.
fn ends_double_consonant(s: &str) -> bool {
    let t = tail(s);
    t.n >= 2 && t.ch[0] == t.ch[1] && t.cons[0]
}

/// Condition `*o`: the word ends consonant–vowel–consonant where the last
/// consonant is not `w`, `x` or `y`; NLTK also accepts a two-letter
/// vowel–consonant word.
fn ends_cvc(s: &str) -> bool {
    let t = tail(s);
    (t.n >= 3 && t.cons[2] && !t.cons[1] && t.cons[0] && !matches!(t.ch[0], 'w' | 'x' | 'y'))
        || (t.n == 2 && !t.cons[1] && t.cons[0])
}

#[inline]
fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Replaces the last `n` bytes (an ASCII suffix) of `w` with `rep`.
#[inline]
fn replace_tail(w: &mut String, n: usize, rep: &str) {
    w.truncate(w.len() - n);
    w.push_str(rep);
}

/// Applies the first rule whose suffix `w` ends with (and only that one):
/// if `cond(w, stem_len)` holds the suffix is replaced, otherwise `w` is kept.
#[inline]
fn apply_rules(w: &mut String, rules: &[(&str, &str)], cond: impl Fn(&str, &str) -> bool) {
    for &(suffix, rep) in rules {
        if w.ends_with(suffix) {
            let stem_len = w.len() - suffix.len();
            if cond(&w[..stem_len], suffix) {
                w.truncate(stem_len);
                w.push_str(rep);
            }
            return;
        }
    }
}

fn step1a(w: &mut String) {
    if w.ends_with("ies") && char_count(w) == 4 {
        replace_tail(w, 3, "ie");
        return;
    }
    if w.ends_with("sses") {
        replace_tail(w, 4, "ss");
    } else if w.ends_with("ies") {
        replace_tail(w, 3, "i");
    } else if w.ends_with("ss") {
        // SS -> SS
    } else if w.ends_with('s') {
        w.truncate(w.len() - 1);
    }
}

fn step1b(w: &mut String) {
    if w.ends_with("ied") {
        if char_count(w) == 4 {
            replace_tail(w, 3, "ie");
        } else {
            replace_tail(w, 3, "i");
        }
        return;
    }
    if w.ends_with("eed") {
        if measure(&w[..w.len() - 3]) > 0 {
            w.truncate(w.len() - 1);
        }
        return;
    }
    let stem_len = if w.ends_with("ed") && contains_vowel(&w[..w.len() - 2]) {
        w.len() - 2
    } else if w.ends_with("ing") && contains_vowel(&w[..w.len() - 3]) {
        w.len() - 3
    } else {
        return;
    };
    w.truncate(stem_len);

    if w.ends_with("at") || w.ends_with("bl") || w.ends_with("iz") {
        w.push('e');
    } else if ends_double_consonant(w) {
        if !(w.ends_with('l') || w.ends_with('s') || w.ends_with('z')) {
            // Drop one of the two identical (ASCII or not) last characters.
            let last = w.pop();
            debug_assert!(last.is_some());
        }
    } else if measure(w) == 1 && ends_cvc(w) {
        w.push('e');
    }
}

fn step1c(w: &mut String) {
    if w.ends_with('y') {
        let stem = &w[..w.len() - 1];
        let t = tail(stem);
        if t.n > 1 && t.cons[0] {
            replace_tail(w, 1, "i");
        }
    }
}

fn positive_measure(stem: &str, _suffix: &str) -> bool {
    measure(stem) > 0
}

fn step2(w: &mut String) {
    // NLTK: "alli" -> "al" first, then step 2 again.
    while w.ends_with("alli") && measure(&w[..w.len() - 4]) > 0 {
        replace_tail(w, 4, "al");
    }
    const RULES: &[(&str, &str)] = &[
        ("ational", "ate"),
        ("tional", "tion"),
        ("enci", "ence"),
        ("anci", "ance"),
        ("izer", "ize"),
        ("bli", "ble"),
        ("alli", "al"),
        ("entli", "ent"),
        ("eli", "e"),
        ("ousli", "ous"),
        ("ization", "ize"),
        ("ation", "ate"),
        ("ator", "ate"),
        ("alism", "al"),
        ("iveness", "ive"),
        ("fulness", "ful"),
        ("ousness", "ous"),
        ("aliti", "al"),
        ("iviti", "ive"),
        ("biliti", "ble"),
        ("fulli", "ful"),
        ("logi", "log"),
    ];
    apply_rules(w, RULES, |stem, suffix| {
        if suffix == "logi" {
            // NLTK tests the word minus "ogi", i.e. the stem plus "l".
            measure_plus_consonant_positive(stem)
        } else {
            measure(stem) > 0
        }
    });
}

/// `measure(stem + "l") > 0` without building the string: appending a
/// consonant adds one vowel→consonant transition iff `stem` ends in a vowel.
fn measure_plus_consonant_positive(stem: &str) -> bool {
    measure(stem) > 0 || (!stem.is_empty() && !tail(stem).cons[0])
}

fn step3(w: &mut String) {
    const RULES: &[(&str, &str)] = &[
        ("icate", "ic"),
        ("ative", ""),
        ("alize", "al"),
        ("iciti", "ic"),
        ("ical", "ic"),
        ("ful", ""),
        ("ness", ""),
    ];
    apply_rules(w, RULES, positive_measure);
}

fn step4(w: &mut String) {
    const RULES: &[(&str, &str)] = &[
        ("al", ""),
        ("ance", ""),
        ("ence", ""),
        ("er", ""),
        ("ic", ""),
        ("able", ""),
        ("ible", ""),
        ("ant", ""),
        ("ement", ""),
        ("ment", ""),
        ("ent", ""),
        ("ion", ""),
        ("ou", ""),
        ("ism", ""),
        ("ate", ""),
        ("iti", ""),
        ("ous", ""),
        ("ive", ""),
        ("ize", ""),
    ];
    apply_rules(w, RULES, |stem, suffix| {
        measure(stem) > 1 && (suffix != "ion" || stem.ends_with('s') || stem.ends_with('t'))
    });
}

fn step5a(w: &mut String) {
    if w.ends_with('e') {
        let stem = &w[..w.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            w.truncate(w.len() - 1);
        }
    }
}

fn step5b(w: &mut String) {
    if w.ends_with("ll") && measure(&w[..w.len() - 1]) > 1 {
        w.truncate(w.len() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn examples() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("hopping", "hop"),
            ("filing", "file"),
            ("happy", "happi"),
            ("enjoy", "enjoy"),
            ("relational", "relat"),
            ("skies", "sky"),
            ("dying", "die"),
            ("Running", "run"),
            ("a", "a"),
            ("is", "is"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }
}
