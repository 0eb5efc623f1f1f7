//! Edit distance with shifts (`lib_ter.translation_edit_rate`): the greedy block-shift search over a
//! beam-restricted Levenshtein distance, with bit-parallel rows where the beam cannot matter.

use super::*;

use crate::hashing::FxHasher;

/// sacrebleu's `lib_ter.translation_edit_rate` on already tokenized words:
/// returns `(number of edits, number of reference words)`. An empty reference
/// gives `(hypothesis length, 0)`.
pub fn translation_edit_rate(hyp_words: &[&str], ref_words: &[&str]) -> (usize, usize) {
    let m = ref_words.len();
    if m == 0 {
        return (hyp_words.len(), 0);
    }
    let mut ids: HashMap<&str, u32, BuildHasherDefault<FxHasher>> =
        HashMap::with_capacity_and_hasher(m * 2, Default::default());
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let sc = &mut *guard;
        sc.refw.clear();
        for w in ref_words {
            let next = ids.len() as u32;
            let id = *ids.entry(*w).or_insert(next);
            sc.refw.push(id);
        }
        // Every hypothesis word that does not occur in the reference gets one
        // shared id: such words only ever compare unequal to reference words.
        let oov = ids.len() as u32;
        sc.vocab = ids.len() + 1;
        sc.hyp.clear();
        for w in hyp_words {
            sc.hyp.push(ids.get(w).copied().unwrap_or(oov));
        }
        (sc.run(), m)
    })
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Reusable buffers of one TER computation (one per thread).
#[derive(Default)]
pub(super) struct Scratch {
    /// Current hypothesis (word ids), `n` words.
    hyp: Vec<u32>,
    /// Reference word ids, `m` words.
    refw: Vec<u32>,
    /// Forward costs of `hyp`, `(n+1) x (m+1)`, `INF` outside the beam.
    fwd: Vec<i32>,
    /// Backward (cost-to-go to `(n, m)`) costs of `hyp`, same layout.
    bwd: Vec<i32>,
    /// Beam of row `i`: columns `lo[i] .. hi[i]`.
    lo: Vec<usize>,
    hi: Vec<usize>,
    /// Shift candidate being scored and best candidate so far.
    cand: Vec<u32>,
    best: Vec<u32>,
    /// Rolling rows for candidate scoring.
    row_a: Vec<i32>,
    row_b: Vec<i32>,
    /// Alignment of reference positions to hypothesis positions (-1 = before).
    align: Vec<i32>,
    /// Prefix sums of hypothesis / reference error flags (length n+1 / m+1).
    herr: Vec<u32>,
    rerr: Vec<u32>,
    /// Edit operations of the trace, collected back to front.
    ops: Vec<u8>,
    /// Number of word ids (reference words + one id for all other words).
    vocab: usize,
    /// Bit-parallel mode (see [`Scratch::run`]).
    fast: bool,
    /// Fewest insertions + deletions of a path that leaves the beam.
    lb_out: i64,
    /// 64-bit blocks per bit-parallel row, and the bit of column `m` in the last one.
    nb: usize,
    last_bit: u32,
    /// Match masks: `peq[id * nb + b]` has bit `t` set iff `ref[64 b + t] == id`.
    peq: Vec<u64>,
    /// Bit-parallel rows of `hyp`: per row `nb` pairs (Pv, Mv) of +1 / -1
    /// deltas along the reference, `(n+1) * 2 nb` words.
    states: Vec<u64>,
    /// `scores[i]` = distance of `hyp[..i]` to the whole reference (column m).
    scores: Vec<i32>,
    /// Reference positions of each word id: `pos_list[pos_start[id]..pos_start[id + 1]]`.
    pos_start: Vec<usize>,
    pos_list: Vec<u32>,
    /// Match masks of the reversed reference (bit `t` <-> `ref[m-1-t]`).
    peq_rev: Vec<u64>,
    /// Unrestricted cost-to-go of `hyp`, bit-parallel over the reversed
    /// sequences: row `q` holds the distances of `hyp[n-q..]` to the
    /// reference suffixes `ref[m-t..]` (as deltas over `t`). Rows for
    /// `i = n - q >= back_from` are up to date.
    back: Vec<u64>,
    back_from: usize,
    /// Rolling bit-parallel rows for candidate scoring.
    st_a: Vec<u64>,
    st_b: Vec<u64>,
}

/// Outcome of scoring one shift candidate against the running best.
pub(super) struct Best {
    delta: i32,
    len: usize,
    start_h: usize,
    idx: usize,
}

impl Scratch {
    /// Full shift search for `self.hyp` against `self.refw` (m > 0); returns
    /// shifts + final edit distance.
    ///
    /// While the current distance is below `lb_out` ("fast" mode, the usual
    /// case, and permanent once reached since distances only decrease) every
    /// distance that can still matter and every optimal path are the same with
    /// and without the beam, so only bit-parallel rows are kept. Before that the
    /// beam-restricted scalar matrices give the distance and the trace.
    pub(super) fn run(&mut self) -> usize {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        self.setup_beam(n, m);
        self.setup_bit_parallel();
        self.states_from(1);
        self.lb_out = self.lb_out();
        self.fast = self.lb_out > self.scores[n] as i64;
        if !self.fast {
            self.fwd.clear();
            self.fwd.resize((n + 1) * w, INF);
            self.bwd.clear();
            self.bwd.resize((n + 1) * w, INF);
            for j in 0..=m {
                self.fwd[j] = j as i32;
            }
            self.forward_from(1);
            self.backward_down_to(n);
        }
        let mut shifts = 0usize;
        let mut checked = 0usize;
        loop {
            // Distances only decrease, so once fast, always fast.
            self.fast = self.fast || (self.scores[n] as i64) < self.lb_out;
            let pre_score = if self.fast { self.scores[n] } else { self.fwd[n * w + m] };
            self.trace_alignment();
            match self.best_shift(pre_score, &mut checked) {
                ShiftResult::Abort | ShiftResult::NoGain => return shifts + pre_score as usize,
                ShiftResult::Shift => {
                    shifts += 1;
                    // Only rows after the common prefix / before the common
                    // suffix of old and new hypothesis change.
                    let k = common_prefix(&self.hyp, &self.best);
                    let r = n - common_suffix(&self.hyp, &self.best);
                    std::mem::swap(&mut self.hyp, &mut self.best);
                    self.states_from(k + 1);
                    self.back_from = self.back_from.max(r);
                    if !self.fast {
                        self.forward_from(k + 1);
                        self.backward_down_to(r);
                    }
                }
            }
        }
    }

    /// sacrebleu's beam: pseudo-diagonal `floor(i * m / n)`, half-width 25
    /// (widened for extreme length ratios), last row always complete.
    pub(super) fn setup_beam(&mut self, n: usize, m: usize) {
        self.lo.clear();
        self.hi.clear();
        self.lo.push(0);
        self.hi.push(m + 1);
        if n == 0 {
            return;
        }
        let ratio = m as f64 / n as f64;
        let bw: i64 = if (BEAM_WIDTH as f64) < ratio / 2.0 {
            (ratio / 2.0 + BEAM_WIDTH as f64).ceil() as i64
        } else {
            BEAM_WIDTH as i64
        };
        for i in 1..=n {
            let diag = (i as f64 * ratio).floor() as i64;
            let lo = (diag - bw).max(0) as usize;
            let hi = if i == n {
                m + 1
            } else {
                ((diag + bw).min(m as i64 + 1)).max(0) as usize
            };
            self.lo.push(lo);
            self.hi.push(hi.max(lo));
        }
    }

    /// Smallest number of insertions + deletions on any path through a cell
    /// outside the beam (`i64::MAX` if there is none).
    pub(super) fn lb_out(&self) -> i64 {
        let n = self.hyp.len() as i64;
        let m = self.refw.len() as i64;
        let mut best = i64::MAX;
        // g(j) = |i - j| + |(n - i) - (m - j)| is convex with its minimum on
        // [i, m - n + i]; on an interval it is minimal at a clamp of one end.
        let mut probe = |i: i64, a: i64, b: i64| {
            for x in [i, m - n + i] {
                let j = x.clamp(a, b);
                best = best.min((i - j).abs() + ((n - i) - (m - j)).abs());
            }
        };
        for i in 1..=n {
            let (lo, hi) = (self.lo[i as usize] as i64, self.hi[i as usize] as i64);
            if lo > 0 {
                probe(i, 0, lo - 1);
            }
            if hi <= m {
                probe(i, hi, m);
            }
        }
        best
    }

    /// Match masks of the reference and the (unrestricted) first row.
    pub(super) fn setup_bit_parallel(&mut self) {
        let n = self.hyp.len();
        let m = self.refw.len();
        let nb = m.div_ceil(64);
        self.nb = nb;
        self.last_bit = ((m - 1) % 64) as u32;
        self.peq.clear();
        self.peq.resize(self.vocab * nb, 0);
        self.pos_start.clear();
        self.pos_start.resize(self.vocab + 1, 0);
        for (j, &id) in self.refw.iter().enumerate() {
            self.peq[id as usize * nb + j / 64] |= 1u64 << (j % 64);
            self.pos_start[id as usize + 1] += 1;
        }
        for id in 0..self.vocab {
            self.pos_start[id + 1] += self.pos_start[id];
        }
        self.pos_list.clear();
        self.pos_list.resize(m, 0);
        let mut fill = self.pos_start.clone();
        for (j, &id) in self.refw.iter().enumerate() {
            self.pos_list[fill[id as usize]] = j as u32;
            fill[id as usize] += 1;
        }
        self.states.clear();
        self.states.resize((n + 1) * 2 * nb, 0);
        for b in 0..nb {
            self.states[2 * b] = !0; // D(0, j) = j: all +1
        }
        self.scores.clear();
        self.scores.resize(n + 1, 0);
        self.scores[0] = m as i32;
        self.peq_rev.clear();
        self.peq_rev.resize(self.vocab * nb, 0);
        for (j, &id) in self.refw.iter().enumerate() {
            let t = m - 1 - j;
            self.peq_rev[id as usize * nb + t / 64] |= 1u64 << (t % 64);
        }
        self.back.clear();
        self.back.resize((n + 1) * 2 * nb, 0);
        for b in 0..nb {
            self.back[2 * b] = !0;
        }
        self.back_from = n;
    }

    /// Recomputes bit-parallel rows `start..=n` of `self.hyp` (row `start-1` valid).
    pub(super) fn states_from(&mut self, start: usize) {
        let n = self.hyp.len();
        let nb = self.nb;
        for i in start..=n {
            let (prev_rows, cur_rows) = self.states.split_at_mut(i * 2 * nb);
            let prev = &prev_rows[(i - 1) * 2 * nb..];
            let id = self.hyp[i - 1] as usize;
            let d = myers_row(
                prev,
                &mut cur_rows[..2 * nb],
                &self.peq[id * nb..(id + 1) * nb],
                self.last_bit,
            );
            self.scores[i] = self.scores[i - 1] + d;
        }
    }

    /// Distance of `hyp[..i]` to `ref[..j]` (beam applied unless in fast mode).
    #[inline]
    pub(super) fn val(&self, i: usize, j: usize) -> i32 {
        if !self.fast {
            return self.fwd[i * (self.refw.len() + 1) + j];
        }
        let nb = self.nb;
        let st = &self.states[i * 2 * nb..(i + 1) * 2 * nb];
        let mut v = i as i32;
        let full = j / 64;
        for b in 0..full {
            v += st[2 * b].count_ones() as i32 - st[2 * b + 1].count_ones() as i32;
        }
        let rem = j % 64;
        if rem > 0 {
            let mask = (1u64 << rem) - 1;
            v += (st[2 * full] & mask).count_ones() as i32 - (st[2 * full + 1] & mask).count_ones() as i32;
        }
        v
    }

    /// `D(i, j) - D(i, j - 1)` for `j >= 1`.
    #[inline]
    pub(super) fn step(&self, i: usize, j: usize) -> i32 {
        if !self.fast {
            let w = self.refw.len() + 1;
            return self.fwd[i * w + j] - self.fwd[i * w + j - 1];
        }
        let nb = self.nb;
        let t = j - 1;
        let base = i * 2 * nb + 2 * (t / 64);
        ((self.states[base] >> (t % 64)) & 1) as i32 - ((self.states[base + 1] >> (t % 64)) & 1) as i32
    }

    /// Recomputes forward rows `start..=n` of `self.hyp` (row `start-1` valid).
    pub(super) fn forward_from(&mut self, start: usize) {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        for i in start..=n {
            let (prev_rows, cur_rows) = self.fwd.split_at_mut(i * w);
            let prev = &prev_rows[(i - 1) * w..];
            let cur = &mut cur_rows[..w];
            compute_row(prev, cur, self.hyp[i - 1], &self.refw, self.lo[i], self.hi[i]);
        }
    }

    /// Recomputes backward rows `last..=0` going down (rows above `last` valid).
    pub(super) fn backward_down_to(&mut self, last: usize) {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        for i in (0..=last.min(n)).rev() {
            let (cur_rows, next_rows) = self.bwd.split_at_mut((i + 1) * w);
            let cur = &mut cur_rows[i * w..];
            cur.fill(INF);
            let (lo, hi) = (self.lo[i], self.hi[i]);
            if i == n {
                // Row n: only insertions remain; its beam always ends at m.
                for (j, v) in cur.iter_mut().enumerate().take(m + 1).skip(lo) {
                    *v = (m - j) as i32;
                }
                continue;
            }
            let next = &next_rows[..w];
            let word = self.hyp[i];
            let mut right = INF; // cur[j + 1]
            for j in (lo..hi).rev() {
                let mut v = next[j] + 1; // deletion of hyp word i
                if j < m {
                    let sub = next[j + 1] + (word != self.refw[j]) as i32;
                    v = v.min(sub).min(right + 1);
                }
                let v = v.min(INF);
                cur[j] = v;
                right = v;
            }
        }
    }

    /// Trace of the optimal alignment (sacrebleu's tie-breaking: match /
    /// substitution, then deletion, then insertion of the reference-to-
    /// hypothesis DP), flipped and turned into `align`, `herr`, `rerr`.
    pub(super) fn trace_alignment(&mut self) {
        let n = self.hyp.len();
        let m = self.refw.len();
        self.ops.clear();
        let (mut i, mut j) = (n, m);
        // c = D(i, j), up = D(i-1, j) (kept up to date while walking left).
        let mut c = self.val(n, m);
        let mut up = if n > 0 { self.val(n - 1, m) } else { 0 };
        while i > 0 || j > 0 {
            let op = if i == 0 || j == 0 {
                c -= 1;
                if i == 0 {
                    b'i'
                } else {
                    b'd'
                }
            } else {
                let sub = (self.hyp[i - 1] != self.refw[j - 1]) as i32;
                let diag = up - self.step(i - 1, j);
                if diag + sub == c {
                    c = diag;
                    if sub == 0 {
                        b' '
                    } else {
                        b's'
                    }
                } else if up + 1 == c {
                    c = up;
                    b'd'
                } else {
                    debug_assert_eq!(self.val(i, j - 1) + 1, c);
                    c -= 1;
                    b'i'
                }
            };
            self.ops.push(op);
            match op {
                b'i' => {
                    if i > 0 {
                        up -= self.step(i - 1, j);
                    }
                    j -= 1;
                }
                b'd' => {
                    i -= 1;
                    if i > 0 {
                        up = self.val(i - 1, j);
                    }
                }
                _ => {
                    i -= 1;
                    j -= 1;
                    if i > 0 {
                        up = self.val(i - 1, j);
                    }
                }
            }
            debug_assert!(i == 0 || up == self.val(i - 1, j));
            debug_assert_eq!(c, self.val(i, j));
        }
        // Walk forwards; DP 'd' (hyp word consumed) is the flipped 'i' and vice versa.
        self.align.clear();
        self.herr.clear();
        self.rerr.clear();
        self.herr.push(0);
        self.rerr.push(0);
        let mut pos_hyp: i32 = -1;
        for &op in self.ops.iter().rev() {
            match op {
                b' ' | b's' => {
                    let e = (op == b's') as u32;
                    pos_hyp += 1;
                    self.align.push(pos_hyp);
                    let h = *self.herr.last().unwrap();
                    self.herr.push(h + e);
                    let r = *self.rerr.last().unwrap();
                    self.rerr.push(r + e);
                }
                b'd' => {
                    pos_hyp += 1;
                    let h = *self.herr.last().unwrap();
                    self.herr.push(h + 1);
                }
                _ => {
                    self.align.push(pos_hyp);
                    let r = *self.rerr.last().unwrap();
                    self.rerr.push(r + 1);
                }
            }
        }
        debug_assert_eq!(self.align.len(), m);
        debug_assert_eq!(self.herr.len(), n + 1);
    }

    /// sacrebleu's `_shift`: enumerates candidates in its order, counts them,
    /// and keeps the best one with a positive gain in `self.best`.
    pub(super) fn best_shift(&mut self, pre_score: i32, checked: &mut usize) -> ShiftResult {
        let n = self.hyp.len();
        let m = self.refw.len();
        let mut best: Option<Best> = None;
        for start_h in 0..n {
            let r_lo = start_h.saturating_sub(MAX_SHIFT_DIST);
            let r_hi = (start_h + MAX_SHIFT_DIST + 1).min(m);
            // Reference positions holding this word, ascending (sacrebleu scans
            // all positions in order; the others never match).
            let id = self.hyp[start_h] as usize;
            for p in self.pos_start[id]..self.pos_start[id + 1] {
                let start_r = self.pos_list[p] as usize;
                if start_r < r_lo {
                    continue;
                }
                if start_r >= r_hi {
                    break;
                }
                let mut len = 0;
                while len < MAX_SHIFT_SIZE && self.hyp[start_h + len] == self.refw[start_r + len] {
                    len += 1;
                    self.try_block(start_h, start_r, len, pre_score, checked, &mut best);
                    if *checked >= MAX_SHIFT_CANDIDATES {
                        return ShiftResult::Abort;
                    }
                    if start_h + len == n || start_r + len == m {
                        break;
                    }
                }
            }
        }
        match best {
            Some(_) => ShiftResult::Shift,
            None => ShiftResult::NoGain,
        }
    }

    /// The candidates of one matching block (sacrebleu's filters, then one
    /// candidate per distinct consecutive target position).
    pub(super) fn try_block(
        &mut self,
        start_h: usize,
        start_r: usize,
        len: usize,
        pre_score: i32,
        checked: &mut usize,
        best: &mut Option<Best>,
    ) {
        if self.herr[start_h + len] == self.herr[start_h] {
            return; // hypothesis block already correct
        }
        if self.rerr[start_r + len] == self.rerr[start_r] {
            return; // reference block already matched
        }
        let a = self.align[start_r];
        if start_h as i32 <= a && a < (start_h + len) as i32 {
            return; // would shift within itself
        }
        let mut prev_idx: i64 = -1;
        for offset in -1i64..len as i64 {
            let p = start_r as i64 + offset;
            let idx = if p == -1 { 0 } else { self.align[p as usize] as i64 + 1 };
            if idx == prev_idx {
                continue;
            }
            prev_idx = idx;
            *checked += 1;
            let idx = idx as usize;
            // Gain needed to beat the best so far under the ranking
            // (gain, length, -start_h, -idx); gains <= 0 never matter.
            let need = match best {
                None => 1,
                Some(b) => {
                    let tie_wins = (len, std::cmp::Reverse(start_h), std::cmp::Reverse(idx))
                        > (b.len, std::cmp::Reverse(b.start_h), std::cmp::Reverse(b.idx));
                    if tie_wins {
                        b.delta
                    } else {
                        b.delta + 1
                    }
                }
            };
            let max_cost = pre_score - need;
            if max_cost < 0 {
                continue;
            }
            perform_shift(&self.hyp, start_h, len, idx, &mut self.cand);
            if let Some(cost) = self.candidate_cost(max_cost) {
                *best = Some(Best {
                    delta: pre_score - cost,
                    len,
                    start_h,
                    idx,
                });
                std::mem::swap(&mut self.best, &mut self.cand);
            }
        }
    }

    /// Unrestricted distance of `self.cand` (equal to `self.hyp` outside rows
    /// `k+1..=r`) if it is at most `max_cost`, else `None`; `NB` = `self.nb`.
    ///
    /// Rows `k+1..=r` are computed bit-parallel from the hypothesis' row `k`.
    /// The rest either continues row by row, stopping as soon as the row equals
    /// the hypothesis' row (the distance is then the hypothesis' unrestricted
    /// one; in fast mode that is `pre_score`, which never wins) or the last
    /// column proves the bound exceeded (it drops at most 1 per row), or, when
    /// many rows remain, combines row `r` with the cost-to-go of the shared
    /// suffix: `min_j D(r, j) + back(r, j)`.
    #[inline(never)]
    pub(super) fn unrestricted_cost<const NB: usize>(&mut self, k: usize, r: usize, max_cost: i32) -> Option<i32> {
        let n = self.hyp.len();
        let m = self.refw.len();
        let last_bit = self.last_bit;
        let mut pv = [0u64; NB];
        let mut mv = [0u64; NB];
        for b in 0..NB {
            pv[b] = self.states[k * 2 * NB + 2 * b];
            mv[b] = self.states[k * 2 * NB + 2 * b + 1];
        }
        let mut score = self.scores[k];
        for i in k + 1..=r {
            let id = self.cand[i - 1] as usize;
            score += myers_step_n::<NB>(&mut pv, &mut mv, &self.peq[id * NB..(id + 1) * NB], last_bit);
            if score - ((n - i) as i32) > max_cost {
                return None;
            }
        }
        if r < n && (n - r) * NB * 2 > m {
            self.ensure_back(r);
            let q = n - r;
            let back = &self.back[q * 2 * NB..(q + 1) * 2 * NB];
            // Walk j = m..0 with c = D(r, j) and v = back(r, j) = D'(q, m - j).
            let mut c = score;
            let mut v = q as i32;
            let mut best = c + v;
            for j in (0..m).rev() {
                c -= ((pv[j / 64] >> (j % 64)) & 1) as i32 - ((mv[j / 64] >> (j % 64)) & 1) as i32;
                let t = m - 1 - j;
                v += ((back[2 * (t / 64)] >> (t % 64)) & 1) as i32 - ((back[2 * (t / 64) + 1] >> (t % 64)) & 1) as i32;
                best = best.min(c + v);
            }
            return (best <= max_cost).then_some(best);
        }
        let valid = !0u64 >> (63 - last_bit);
        for i in r + 1..=n {
            let id = self.hyp[i - 1] as usize;
            score += myers_step_n::<NB>(&mut pv, &mut mv, &self.peq[id * NB..(id + 1) * NB], last_bit);
            if score - ((n - i) as i32) > max_cost {
                return None;
            }
            let st = &self.states[i * 2 * NB..(i + 1) * 2 * NB];
            let mut same = true;
            for b in 0..NB {
                let mask = if b + 1 == NB { valid } else { !0 };
                same &= (pv[b] ^ st[2 * b]) & mask == 0 && (mv[b] ^ st[2 * b + 1]) & mask == 0;
            }
            if same {
                // From here on the rows are the hypothesis' own.
                let c = self.scores[n];
                return (c <= max_cost).then_some(c);
            }
        }
        (score <= max_cost).then_some(score)
    }

    /// [`Scratch::unrestricted_cost`] for any number of blocks (rows `k+1..=n`).
    pub(super) fn unrestricted_cost_any(&mut self, k: usize, r: usize, max_cost: i32) -> Option<i32> {
        let n = self.hyp.len();
        let nb = self.nb;
        self.st_a.clear();
        self.st_a.extend_from_slice(&self.states[k * 2 * nb..(k + 1) * 2 * nb]);
        self.st_b.clear();
        self.st_b.resize(2 * nb, 0);
        let mut score = self.scores[k];
        for i in k + 1..=n {
            let id = self.cand[i - 1] as usize;
            score += myers_row(
                &self.st_a,
                &mut self.st_b,
                &self.peq[id * nb..(id + 1) * nb],
                self.last_bit,
            );
            std::mem::swap(&mut self.st_a, &mut self.st_b);
            if score - ((n - i) as i32) > max_cost {
                return None;
            }
            if i >= r && same_row(&self.st_a, &self.states[i * 2 * nb..(i + 1) * 2 * nb], self.last_bit) {
                let c = self.scores[n];
                return (c <= max_cost).then_some(c);
            }
        }
        (score <= max_cost).then_some(score)
    }

    /// Makes the cost-to-go rows for `i = r..=n` of `self.back` valid; rows for
    /// `i >= back_from` are kept from earlier calls.
    pub(super) fn ensure_back(&mut self, r: usize) {
        let n = self.hyp.len();
        let nb = self.nb;
        for i in (r..self.back_from).rev() {
            let q = n - i;
            let (prev_rows, cur_rows) = self.back.split_at_mut(q * 2 * nb);
            let prev = &prev_rows[(q - 1) * 2 * nb..];
            let id = self.hyp[i] as usize;
            myers_row(
                prev,
                &mut cur_rows[..2 * nb],
                &self.peq_rev[id * nb..(id + 1) * nb],
                self.last_bit,
            );
        }
        self.back_from = self.back_from.min(r);
    }

    /// Edit distance of `self.cand` if it is at most `max_cost`, else `None`.
    pub(super) fn candidate_cost(&mut self, max_cost: i32) -> Option<i32> {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        let k = common_prefix(&self.hyp, &self.cand);
        if k == n {
            let c = if self.fast { self.scores[n] } else { self.fwd[n * w + m] };
            return (c <= max_cost).then_some(c);
        }
        // Unrestricted distance first: it is a lower bound of the beam-restricted
        // one, and equal to it when below `lb_out`.
        let r = n - common_suffix(&self.hyp, &self.cand);
        let score = match self.nb {
            1 => self.unrestricted_cost::<1>(k, r, max_cost),
            2 => self.unrestricted_cost::<2>(k, r, max_cost),
            3 => self.unrestricted_cost::<3>(k, r, max_cost),
            4 => self.unrestricted_cost::<4>(k, r, max_cost),
            _ => self.unrestricted_cost_any(k, r, max_cost),
        }?;
        if self.fast || (score as i64) < self.lb_out {
            return Some(score);
        }
        // rows k+1..=r with the candidate's words, starting from base row k
        self.row_a.clear();
        self.row_a.extend_from_slice(&self.fwd[k * w..(k + 1) * w]);
        self.row_b.clear();
        self.row_b.resize(w, INF);
        for i in k + 1..=r {
            let row_min = compute_row(
                &self.row_a,
                &mut self.row_b,
                self.cand[i - 1],
                &self.refw,
                self.lo[i],
                self.hi[i],
            );
            if row_min > max_cost {
                return None;
            }
            std::mem::swap(&mut self.row_a, &mut self.row_b);
        }
        let bwd = &self.bwd[r * w..(r + 1) * w];
        let (lo, hi) = (self.lo[r], self.hi[r]);
        let cost = self.row_a[lo..hi]
            .iter()
            .zip(&bwd[lo..hi])
            .map(|(f, b)| f + b)
            .min()
            .unwrap_or(INF);
        (cost <= max_cost).then_some(cost)
    }
}

/// How one round of the shift search ended.
pub(super) enum ShiftResult {
    /// 1000 candidates were scored: stop, the pending shift is discarded.
    Abort,
    /// No shift lowers the edit distance.
    NoGain,
    /// `Scratch::best` holds the shifted hypothesis to continue with.
    Shift,
}

/// One unrestricted Levenshtein row, bit-parallel (Myers 1999 in Hyyrö's
/// block formulation): `prev`/`cur` hold per 64-column block the (Pv, Mv)
/// delta masks, `eq` the match mask of the hypothesis word. The first column
/// grows by one per row (deleting hypothesis words). Returns the change of the
/// value in the last column.
#[inline]
pub(super) fn myers_row(prev: &[u64], cur: &mut [u64], eq: &[u64], last_bit: u32) -> i32 {
    let nb = eq.len();
    let mut hin: i32 = 1;
    for b in 0..nb {
        let pv = prev[2 * b];
        let mv = prev[2 * b + 1];
        let e = eq[b];
        let xv = e | mv;
        let e = if hin < 0 { e | 1 } else { e };
        let xh = ((e & pv).wrapping_add(pv) ^ pv) | e;
        let mut ph = mv | !(xh | pv);
        let mut mh = pv & xh;
        let bit = if b + 1 == nb { last_bit } else { 63 };
        let hout = ((ph >> bit) & 1) as i32 - ((mh >> bit) & 1) as i32;
        ph <<= 1;
        mh <<= 1;
        if hin < 0 {
            mh |= 1;
        } else if hin > 0 {
            ph |= 1;
        }
        cur[2 * b] = mh | !(xv | ph);
        cur[2 * b + 1] = ph & xv;
        hin = hout;
    }
    hin
}

/// Whether two bit-parallel rows agree on all real columns.
#[inline]
pub(super) fn same_row(a: &[u64], b: &[u64], last_bit: u32) -> bool {
    let last = a.len() - 2;
    for t in 0..last {
        if a[t] != b[t] {
            return false;
        }
    }
    let valid = !0u64 >> (63 - last_bit);
    (a[last] ^ b[last]) & valid == 0 && (a[last + 1] ^ b[last + 1]) & valid == 0
}

/// [`myers_row`] with the block count known at compile time and the row
/// kept in registers.
#[inline(always)]
pub(super) fn myers_step_n<const NB: usize>(pv: &mut [u64; NB], mv: &mut [u64; NB], eq: &[u64], last_bit: u32) -> i32 {
    let mut hin: i32 = 1;
    for b in 0..NB {
        let e = eq[b];
        let xv = e | mv[b];
        let e = if hin < 0 { e | 1 } else { e };
        let xh = ((e & pv[b]).wrapping_add(pv[b]) ^ pv[b]) | e;
        let mut ph = mv[b] | !(xh | pv[b]);
        let mut mh = pv[b] & xh;
        let bit = if b + 1 == NB { last_bit } else { 63 };
        let hout = ((ph >> bit) & 1) as i32 - ((mh >> bit) & 1) as i32;
        ph <<= 1;
        mh <<= 1;
        if hin < 0 {
            mh |= 1;
        } else if hin > 0 {
            ph |= 1;
        }
        pv[b] = mh | !(xv | ph);
        mv[b] = ph & xv;
        hin = hout;
    }
    hin
}

/// One beam-restricted Levenshtein row: `cur[lo..hi]` from `prev` (cells
/// outside the beam are `INF`); returns the row minimum.
#[inline]
pub(super) fn compute_row(prev: &[i32], cur: &mut [i32], word: u32, refw: &[u32], lo: usize, hi: usize) -> i32 {
    let w = refw.len() + 1;
    let prev = &prev[..w];
    let cur = &mut cur[..w];
    // Cells outside the beam must read as INF for the next row.
    cur[..lo].fill(INF);
    cur[hi..].fill(INF);
    let mut left = INF;
    let mut j = lo;
    if j == 0 {
        left = prev[0] + 1;
        cur[0] = left;
        j = 1;
    }
    let mut row_min = left;
    let refs = &refw[..hi - 1];
    while j < hi {
        let sub = prev[j - 1] + (word != refs[j - 1]) as i32;
        let v = sub.min(prev[j] + 1).min(left + 1).min(INF);
        cur[j] = v;
        left = v;
        row_min = row_min.min(v);
        j += 1;
    }
    row_min
}

/// sacrebleu's `_perform_shift`: moves `words[start..start+len]` so that it
/// starts before position `target` (with Python's slice clamping).
pub(super) fn perform_shift(words: &[u32], start: usize, len: usize, target: usize, out: &mut Vec<u32>) {
    out.clear();
    let n = words.len();
    if target < start {
        out.extend_from_slice(&words[..target]);
        out.extend_from_slice(&words[start..start + len]);
        out.extend_from_slice(&words[target..start]);
        out.extend_from_slice(&words[start + len..]);
    } else if target > start + len {
        out.extend_from_slice(&words[..start]);
        out.extend_from_slice(&words[start + len..target]);
        out.extend_from_slice(&words[start..start + len]);
        out.extend_from_slice(&words[target..]);
    } else {
        let mid = (len + target).min(n);
        out.extend_from_slice(&words[..start]);
        out.extend_from_slice(&words[start + len..mid]);
        out.extend_from_slice(&words[start..start + len]);
        out.extend_from_slice(&words[mid..]);
    }
    debug_assert_eq!(out.len(), n);
}

pub(super) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

pub(super) fn common_suffix(a: &[u32], b: &[u32]) -> usize {
    a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count()
}
