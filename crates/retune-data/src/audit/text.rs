//! Text normalization and hashing shared by the audit checks.
//!
//! The normalized key of a text is the data README's *split key*: the text lower-cased (full Unicode
//! lower-casing, as Python's `str.lower`), with runs of whitespace collapsed to one space and
//! leading/trailing whitespace removed. Whitespace is what Python's `str.split()` splits on:
//! Unicode `White_Space` plus the information separators U+001C..U+001F.

/// Whether `c` separates words, as Python's `str.split()` without arguments decides.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whether the text is empty or holds only whitespace.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_space)
}

/// Writes the normalized key of `text` into `out` (cleared first).
///
/// Lower-case, whitespace runs collapsed to one space, trimmed: the split key of the data README.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        let mut pending = false;
        for &b in text.as_bytes() {
            if matches!(b, 9..=13 | 28..=32) {
                pending = !out.is_empty();
            } else {
                if pending {
                    out.push(' ');
                    pending = false;
                }
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        return;
    }
    for word in text.split(is_space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
}

/// The normalized key of `text` (see [`normalize_into`]).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// The characters of the normalized key of `text`, without allocating.
fn normalized_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut first = true;
    text.split(is_space).filter(|w| !w.is_empty()).flat_map(move |w| {
        let sep = if first { None } else { Some(' ') };
        first = false;
        sep.into_iter().chain(w.chars().flat_map(char::to_lowercase))
    })
}

/// Whether two texts have the same normalized key.
pub fn same_key(a: &str, b: &str) -> bool {
    normalized_chars(a).eq(normalized_chars(b))
}

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xBF58_476D_1CE4_E5B9;
const K2: u64 = 0x94D0_49BB_1331_11EB;

/// The splitmix64 finalizer: a bijective 64-bit mixer with full avalanche.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(K1);
    x ^= x >> 27;
    x = x.wrapping_mul(K2);
    x ^ (x >> 31)
}

/// A fast, deterministic (seed-free, platform-independent) 64-bit hash of a byte string.
///
/// Not cryptographic. Used for duplicate keys (equality is always verified on the texts) and for
/// MinHash shingles.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = K0 ^ (bytes.len() as u64).wrapping_mul(K1);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(K1).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(buf)).wrapping_mul(K2).rotate_left(31);
    }
    mix64(h)
}

/// The 64-bit hash of the normalized key of `text`, using `buf` as scratch space.
pub fn key_hash(text: &str, buf: &mut String) -> u64 {
    normalize_into(text, buf);
    hash_bytes(buf.as_bytes())
}

/// A tiny deterministic random number generator (splitmix64), for seeds and tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(K0);
        mix64(self.0)
    }

    /// A uniform integer in `0..n` (`n > 0`; slight modulo bias, irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_is_the_split_key() {
        assert_eq!(normalize("  Hello\t\nWORLD  "), "hello world");
        assert_eq!(normalize("ÀB\u{1c}C"), "àb c");
        assert_eq!(normalize(" \u{3000} "), "");
        assert_eq!(normalize("\x1f A\x0b\x0cB \r\n"), "a b");
        assert_eq!(normalize("   "), "");
        assert!(same_key("What are the Twin Cities ?", "what are  the twin cities ?"));
        assert!(!same_key("a b", "ab"));
        assert!(same_key("Σ  Ω", "σ ω"));
    }

    #[test]
    fn hash_depends_on_every_byte() {
        assert_ne!(hash_bytes(b"abcdefgh"), hash_bytes(b"abcdefgi"));
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abc\0"));
        assert_eq!(hash_bytes(b"same"), hash_bytes(b"same"));
    }
}
