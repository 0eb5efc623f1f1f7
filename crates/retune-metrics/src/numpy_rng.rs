//! Bit-exact re-implementation of the random numbers that sacrebleu's
//! significance tests draw from numpy.
//!
//! sacrebleu 2.6.0 (`sacrebleu/significance.py`) makes exactly these calls:
//!
//! ```text
//! rng = np.random.default_rng(seed)                             # seed 12345 by default
//! idxs = rng.choice(n, size=(n_samples, n), replace=True)       # bootstrap resampling
//! pos_sel = rng.integers(2, size=(n_samples, n), dtype=bool)    # approximate randomization
//! bs_idxs = rng.choice(n, size=(n_conf, n), replace=True)       # AR + confidence, same rng
//! ```
//!
//! Confidence intervals and p-values depend on *which* resamples are drawn, so
//! matching sacrebleu's reported numbers exactly requires the very same index
//! and mask streams. This module re-implements the pieces of numpy (2.x, same
//! algorithms since 1.17) those calls go through:
//!
//! * `SeedSequence(seed)`: the integer seed is split into little-endian 32-bit
//!   words, hashed into a 4-word pool, and expanded by `generate_state(4, uint64)`.
//! * `PCG64`: 128-bit LCG, advanced *before* each output, XSL-RR output
//!   function; 32-bit draws take the low half of a 64-bit draw and keep the high
//!   half in a one-word buffer that lives in the bit generator.
//! * `choice(n, size, replace=True)` without `p` is `integers(0, n, size, int64)`,
//!   which for ranges that fit in 32 bits uses Lemire's multiply-and-reject on
//!   32-bit draws, otherwise on 64-bit draws.
//! * `integers(2, size, dtype=bool)` takes one 32-bit draw per 32 booleans
//!   (lowest bit first); the partial 32-bit word is discarded at the end of the
//!   call.

/// Seeds, stored as the 32-bit word pool of numpy's `SeedSequence`.
///
/// Why: `np.random.default_rng(seed)` never feeds the seed to PCG64 directly; it
/// goes through `SeedSequence`, so the same hashing is needed to get the same
/// generator state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSequence {
    /// The mixed entropy pool (`SeedSequence.pool`, 4 words).
    pub pool: [u32; POOL_SIZE],
}

const POOL_SIZE: usize = 4;
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;

/// Running hash used while absorbing entropy (numpy's `hashmix`).
struct HashMix {
    hash_const: u32,
}

impl HashMix {
    fn mix_in(&mut self, value: u32) -> u32 {
        let mut v = value ^ self.hash_const;
        self.hash_const = self.hash_const.wrapping_mul(MULT_A);
        v = v.wrapping_mul(self.hash_const);
        v ^ (v >> XSHIFT)
    }
}

fn mix(x: u32, y: u32) -> u32 {
    let r = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    r ^ (r >> XSHIFT)
}

impl SeedSequence {
    /// Equivalent of `np.random.SeedSequence(seed)` for a non-negative integer
    /// seed (no spawn key).
    ///
    /// Why: this is the first step of `np.random.default_rng(seed)`.
    pub fn new(seed: u64) -> Self {
        // Integer -> little-endian 32-bit words; zero becomes a single zero word.
        let mut entropy: Vec<u32> = Vec::with_capacity(2);
        if seed == 0 {
            entropy.push(0);
        }
        let mut s = seed;
        while s > 0 {
            entropy.push(s as u32);
            s >>= 32;
        }

        let mut h = HashMix { hash_const: INIT_A };
        let mut pool = [0u32; POOL_SIZE];
        for (i, slot) in pool.iter_mut().enumerate() {
            *slot = h.mix_in(entropy.get(i).copied().unwrap_or(0));
        }
        for src in 0..POOL_SIZE {
            for dst in 0..POOL_SIZE {
                if src != dst {
                    let hashed = h.mix_in(pool[src]);
                    pool[dst] = mix(pool[dst], hashed);
                }
            }
        }
        for &word in entropy.iter().skip(POOL_SIZE) {
            for slot in pool.iter_mut() {
                let hashed = h.mix_in(word);
                *slot = mix(*slot, hashed);
            }
        }
        SeedSequence { pool }
    }

    /// Equivalent of `SeedSequence.generate_state(n_words, np.uint64)`.
    ///
    /// Why: PCG64 is initialised from `generate_state(4, uint64)`.
    pub fn generate_state_u64(&self, n_words: usize) -> Vec<u64> {
        let mut hash_const = INIT_B;
        let words: Vec<u32> = (0..2 * n_words)
            .map(|i| {
                let mut v = self.pool[i % POOL_SIZE] ^ hash_const;
                hash_const = hash_const.wrapping_mul(MULT_B);
                v = v.wrapping_mul(hash_const);
                v ^ (v >> XSHIFT)
            })
            .collect();
        // Pairs of 32-bit words read as little-endian 64-bit words.
        words
            .chunks_exact(2)
            .map(|p| u64::from(p[0]) | (u64::from(p[1]) << 32))
            .collect()
    }
}

const PCG_MULT: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

/// numpy's default generator (`np.random.default_rng(seed)`, i.e. `Generator(PCG64)`),
/// restricted to the draws sacrebleu's significance tests make.
///
/// Why: reproducing sacrebleu's paired bootstrap / approximate-randomization
/// results (seed 12345 by default, `SACREBLEU_SEED`) bit for bit needs the same
/// resample indices and swap masks numpy produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumpyRng {
    state: u128,
    inc: u128,
    /// PCG64's `has_uint32` / `uinteger` buffer: the high half of the last
    /// 64-bit draw, waiting to be returned by the next 32-bit draw.
    pending_u32: Option<u32>,
}

impl NumpyRng {
    /// Equivalent of `np.random.default_rng(seed)`.
    ///
    /// Why: sacrebleu seeds a fresh generator this way for every test
    /// (`SACREBLEU_SEED`, default 12345).
    pub fn new(seed: u64) -> Self {
        let words = SeedSequence::new(seed).generate_state_u64(4);
        let init_state = (u128::from(words[0]) << 64) | u128::from(words[1]);
        let init_seq = (u128::from(words[2]) << 64) | u128::from(words[3]);
        let mut rng = NumpyRng {
            state: 0,
            inc: (init_seq << 1) | 1,
            pending_u32: None,
        };
        rng.step();
        rng.state = rng.state.wrapping_add(init_state);
        rng.step();
        rng
    }

    /// The raw PCG64 `(state, inc)` pair, as in `bit_generator.state`.
    ///
    /// Why: lets tests compare against numpy's reported state directly.
    pub fn pcg_state(&self) -> (u128, u128) {
        (self.state, self.inc)
    }

    /// PCG64's buffered high half-word (`has_uint32` / `uinteger` in
    /// `bit_generator.state`), if one is waiting.
    ///
    /// Why: the buffer carries over between numpy calls on the same generator
    /// (e.g. the AR mask followed by the confidence bootstrap), so tests check it.
    pub fn pending_u32(&self) -> Option<u32> {
        self.pending_u32
    }

    #[inline(always)]
    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// Next raw 64-bit output (`PCG64.random_raw()`); advance, then XSL-RR.
    ///
    /// Why: every other draw is built from these outputs.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        let xored = ((s >> 64) as u64) ^ (s as u64);
        xored.rotate_right((s >> 122) as u32)
    }

    /// Next 32-bit draw, using PCG64's half-word buffer exactly like numpy
    /// (low half first, high half on the following call).
    ///
    /// Why: numpy's bounded-integer and boolean paths consume 32-bit draws, and
    /// the buffer persists across calls on the same generator.
    #[inline(always)]
    pub fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.pending_u32.take() {
            return v;
        }
        let v = self.next_u64();
        self.pending_u32 = Some((v >> 32) as u32);
        v as u32
    }

    /// One draw from `[0, rng_excl)` by Lemire's method on 32-bit draws, with
    /// `2 <= rng_excl < 2^32` (numpy's `buffered_bounded_lemire_uint32`).
    #[inline(always)]
    fn lemire32(&mut self, rng_excl: u32) -> u32 {
        let mut m = u64::from(self.next_u32()) * u64::from(rng_excl);
        let mut leftover = m as u32;
        if leftover < rng_excl {
            let threshold = rng_excl.wrapping_neg() % rng_excl;
            while leftover < threshold {
                m = u64::from(self.next_u32()) * u64::from(rng_excl);
                leftover = m as u32;
            }
        }
        (m >> 32) as u32
    }

    /// One draw from `[0, rng_excl)` by Lemire's method on 64-bit draws, with
    /// `2^32 < rng_excl` (numpy's `bounded_lemire_uint64`).
    #[inline(always)]
    fn lemire64(&mut self, rng_excl: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(rng_excl);
        let mut leftover = m as u64;
        if leftover < rng_excl {
            let threshold = rng_excl.wrapping_neg() % rng_excl;
            while leftover < threshold {
                m = u128::from(self.next_u64()) * u128::from(rng_excl);
                leftover = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Fills `out` like `rng.integers(0, high, size=out.len(), dtype=np.int64)`
    /// (values in `[0, high)`); `high` must be at least 1.
    ///
    /// Why: `choice(n, ..., replace=True)` is this call; this general form also
    /// covers populations above 2^32 (64-bit Lemire path).
    pub fn fill_integers(&mut self, high: u64, out: &mut [u64]) {
        assert!(high >= 1, "integers: high must be >= 1");
        let rng = high - 1;
        if rng == 0 {
            out.fill(0);
        } else if rng < u64::from(u32::MAX) {
            let excl = high as u32;
            for o in out.iter_mut() {
                *o = u64::from(self.lemire32(excl));
            }
        } else if rng == u64::from(u32::MAX) {
            for o in out.iter_mut() {
                *o = u64::from(self.next_u32());
            }
        } else if rng == u64::MAX {
            for o in out.iter_mut() {
                *o = self.next_u64();
            }
        } else {
            for o in out.iter_mut() {
                *o = self.lemire64(high);
            }
        }
    }

    /// Fills `out` with the next `out.len()` values of
    /// `rng.choice(n, size=(rows, cols), replace=True)`, flattened row-major.
    ///
    /// Calling this repeatedly (e.g. one bootstrap row at a time) yields exactly
    /// the same stream as one call for the whole array, because numpy's integer
    /// path keeps no per-call buffer (only PCG64's own half-word buffer, which
    /// lives here too). `n` must be in `1..=2^32`.
    ///
    /// Why: sacrebleu's bootstrap indices are
    /// `choice(len(stats), size=(n_samples, len(stats)))`; streaming avoids
    /// holding `n_samples * n` indices in memory.
    pub fn fill_choice(&mut self, n: usize, out: &mut [u32]) {
        let n = n as u64;
        assert!((1..=1u64 << 32).contains(&n), "fill_choice: n must be in 1..=2^32");
        let rng = n - 1;
        if rng == 0 {
            out.fill(0);
        } else if rng < u64::from(u32::MAX) {
            let excl = n as u32;
            for o in out.iter_mut() {
                *o = self.lemire32(excl);
            }
        } else {
            for o in out.iter_mut() {
                *o = self.next_u32();
            }
        }
    }

    /// `rng.choice(n, size=(rows, n), replace=True)` flattened row-major
    /// (`rows * n` indices).
    ///
    /// Why: the exact bootstrap index array sacrebleu builds.
    pub fn choice_indices(&mut self, n: usize, rows: usize) -> Vec<u32> {
        let mut out = vec![0u32; rows * n];
        self.fill_choice(n, &mut out);
        out
    }

    /// Fills `out` exactly like one call
    /// `rng.integers(2, size=out.shape, dtype=bool)` flattened row-major.
    ///
    /// Each 32-bit draw supplies 32 booleans, lowest bit first; the unused bits
    /// of the last word are dropped when the call ends, so splitting one numpy
    /// call into several `fill_bool` calls does *not* give the same stream —
    /// use [`NumpyRng::bool_stream`] for that.
    ///
    /// Why: sacrebleu's approximate-randomization swap mask is
    /// `integers(2, size=(n_samples, n), dtype=bool)`.
    pub fn fill_bool(&mut self, out: &mut [bool]) {
        let mut s = self.bool_stream();
        s.fill(out);
    }

    /// Starts a boolean stream equivalent to a single
    /// `integers(2, size=..., dtype=bool)` call that can be consumed in pieces
    /// (e.g. row by row); the call "ends" when the stream is dropped.
    ///
    /// Why: lets the AR test generate its `(n_samples, n)` mask one row at a time
    /// while matching numpy's single big call exactly.
    pub fn bool_stream(&mut self) -> BoolStream<'_> {
        BoolStream {
            rng: self,
            buf: 0,
            left: 0,
        }
    }
}

/// Piecewise consumer of one numpy `integers(2, size=..., dtype=bool)` call.
///
/// Why: numpy keeps a 32-bit bit buffer for the duration of one call; this keeps
/// it across `fill` calls so that row-by-row generation equals the whole array.
#[derive(Debug)]
pub struct BoolStream<'a> {
    rng: &'a mut NumpyRng,
    buf: u32,
    /// Unused bits still in `buf`.
    left: u32,
}

impl BoolStream<'_> {
    /// Next boolean of the call.
    ///
    /// Why: single-draw access to the same stream `fill` produces.
    #[inline(always)]
    pub fn next_bool(&mut self) -> bool {
        if self.left == 0 {
            self.buf = self.rng.next_u32();
            self.left = 31;
        } else {
            self.buf >>= 1;
            self.left -= 1;
        }
        self.buf & 1 != 0
    }

    /// Fills `out` with the next `out.len()` booleans of the call.
    ///
    /// Why: bulk form of [`BoolStream::next_bool`] for mask rows.
    pub fn fill(&mut self, out: &mut [bool]) {
        let mut i = 0;
        // Drain the partially used word.
        while i < out.len() && self.left > 0 {
            out[i] = self.next_bool();
            i += 1;
        }
        // Whole 32-bit words.
        while out.len() - i >= 32 {
            let w = self.rng.next_u32();
            for (k, o) in out[i..i + 32].iter_mut().enumerate() {
                *o = (w >> k) & 1 != 0;
            }
            // Same state as after 32 `next_bool` calls.
            self.buf = w >> 31;
            self.left = 0;
            i += 32;
        }
        while i < out.len() {
            out[i] = self.next_bool();
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_sequence_and_pcg_state_match_numpy() {
        // Values printed by numpy 2.4.6 for SeedSequence(12345) / PCG64(12345).
        let ss = SeedSequence::new(12345);
        assert_eq!(ss.pool, [0xf293d734, 0xfd668225, 0xf94ff895, 0x872090a0]);
        let st = ss.generate_state_u64(4);
        assert_eq!(
            st,
            vec![
                0xb5ae6482a03d837c,
                0xbbe2996ffa1f7a2f,
                0x64e39a9f37158f94,
                0x3ebb0f96a013fd73
            ]
        );
        let mut r = NumpyRng::new(12345);
        assert_eq!(
            r.pcg_state(),
            (
                33261208707367790463622745601869196757,
                268209174141567072605526753992732310247
            )
        );
        assert_eq!(r.next_u64(), 0x3a32b18db2ffc19d);
        assert_eq!(r.next_u64(), 0x51171315c9e4c4de);
        assert_eq!(r.next_u64(), 0xcc2024823444efd9);
    }

    #[test]
    fn streamed_bools_equal_one_call() {
        let mut a = NumpyRng::new(7);
        let mut b = a.clone();
        let mut whole = vec![false; 1000];
        a.fill_bool(&mut whole);
        let mut parts = vec![false; 1000];
        {
            let mut s = b.bool_stream();
            for chunk in parts.chunks_mut(37) {
                s.fill(chunk);
            }
        }
        assert_eq!(whole, parts);
        assert_eq!(a, b);
    }
}
