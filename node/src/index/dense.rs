//! Vector search, vectors stored contiguously per scope.
//!
//! Memory is almost always searched within a scope, and scopes are mostly small; a scan over a
//! scope's vectors is exact and faster than a filtered graph index until scopes reach tens of
//! thousands of vectors (measured: 30 µs for a 100-vector scope, 5 ms for 20k, versus
//! milliseconds to 100s of ms for HNSW indexes that filter while traversing — see the README).
//!
//! A search over many scopes at once (a whole tenant) reads every vector it may return, and at
//! 100k vectors the exact f32 scan is bound by memory bandwidth (154 MB). So each bucket also
//! keeps its vectors quantised to int8 ([`Codes`]: a quarter of the bytes), and such a search
//! first ranks by the int8 dot product, then rescores the best candidates exactly with the f32
//! vectors (see `query`). Integer dot products are exact, so the coarse ranking is the same on
//! every CPU, whichever instructions computed it.
//!
//! At hundreds of thousands of vectors even the int8 pass is bandwidth-bound (38 MB per 100k
//! 384-d vectors), so each vector also keeps its sign bits (48 bytes at 384 dimensions, an
//! eighth of the int8 form). A scan that big first ranks every vector by the Hamming distance
//! of its sign bits to the query's — an estimate of the angle between them — and only the
//! closest part goes on to the int8 pass ([`Bucket::hamming`], [`coarse_picked`]).

/// The vectors of one scope: `vectors[i*dims..(i+1)*dims]` belongs to document `slots[i]`, and
/// so does its int8 form `codes`' `i`th vector.
#[derive(Default)]
pub struct Bucket {
    pub slots: Vec<u32>,
    pub vectors: Vec<f32>,
    codes: Codes,
}

/// Vectors quantised to int8, symmetrically per vector: component `x` is stored as
/// `round(x / scale)` with `scale = max|x| / 127`, so `x ≈ code · scale`; and to one sign bit per
/// component (`x > 0`), [`words`] `u64`s per vector.
#[derive(Default)]
pub struct Codes {
    codes: Vec<i8>,
    scales: Vec<f32>,
    bits: Vec<u64>,
}

/// How many `u64`s hold the sign bits of one `dims`-long vector.
pub fn words(dims: usize) -> usize {
    dims.div_ceil(64)
}

impl Codes {
    /// Appends the int8 form of `v`. A zero or non-finite vector gets scale 0 and codes all 0:
    /// it scores 0 in the coarse pass and is rescored like any other.
    fn push(&mut self, v: &[f32]) {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 0.0 };
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        self.codes.extend(v.iter().map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8));
        self.scales.push(scale);
        self.bits.extend(v.chunks(64).map(|c| c.iter().enumerate().fold(0u64, |w, (i, x)| w | (((*x > 0.0) as u64) << i))));
    }

    /// A query's int8 form, for [`Bucket::coarse`].
    pub fn query(v: &[f32]) -> Codes {
        let mut q = Codes::default();
        q.push(v);
        q
    }

    fn swap_remove(&mut self, pos: usize, dims: usize) {
        swap_remove_vector(&mut self.codes, pos, dims);
        self.scales.swap_remove(pos);
        swap_remove_vector(&mut self.bits, pos, words(dims));
    }
}

/// Removes the `pos`th `dims`-long vector of `flat` by moving the last one into its place.
fn swap_remove_vector<T: Copy>(flat: &mut Vec<T>, pos: usize, dims: usize) {
    let last = flat.len() / dims - 1;
    if pos != last {
        let (head, tail) = flat.split_at_mut(last * dims);
        head[pos * dims..(pos + 1) * dims].copy_from_slice(&tail[..dims]);
    }
    flat.truncate(last * dims);
}

impl Bucket {
    /// Appends a vector; returns its position.
    pub fn push(&mut self, slot: u32, v: &[f32]) -> u32 {
        self.slots.push(slot);
        self.vectors.extend_from_slice(v);
        self.codes.push(v);
        (self.slots.len() - 1) as u32
    }

    /// Removes position `pos` by moving the last vector into it; returns the slot that moved
    /// (whose position is now `pos`), if any.
    pub fn swap_remove(&mut self, pos: u32, dims: usize) -> Option<u32> {
        let pos = pos as usize;
        let last = self.slots.len() - 1;
        self.slots.swap_remove(pos);
        swap_remove_vector(&mut self.vectors, pos, dims);
        self.codes.swap_remove(pos, dims);
        (pos != last).then(|| self.slots[pos])
    }

    pub fn vector(&self, pos: u32, dims: usize) -> &[f32] {
        &self.vectors[pos as usize * dims..(pos as usize + 1) * dims]
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The approximate cosine of every vector with the query `q` (from [`Codes::query`]),
    /// appended to `out` as `(slot, score)` in position order. The error is a few thousandths
    /// for normalised vectors; the caller rescores its best candidates exactly.
    pub fn coarse(&self, q: &Codes, dims: usize, out: &mut Vec<(u32, f32)>) {
        let qscale = q.scales.first().copied().unwrap_or(0.0);
        let mut dots = vec![0i32; self.slots.len()];
        scan_i8(&q.codes, dims, |n| self.codes.codes.get(n * dims..(n + 1) * dims), &mut dots);
        out.extend(self.slots.iter().zip(&self.codes.scales).zip(dots).map(|((&slot, &scale), d)| (slot, d as f32 * (qscale * scale))));
    }

    /// The Hamming distance between the sign bits of every vector and the query's (from
    /// [`Codes::query`]), appended to `out` in position order: the number of components whose
    /// signs differ, which grows with the angle between the two.
    pub fn hamming(&self, q: &Codes, dims: usize, out: &mut Vec<u16>) {
        hamming(&q.bits, &self.codes.bits, words(dims), out)
    }
}

/// [`Bucket::coarse`] of the picked vectors only — `(bucket, position)`, from any buckets —
/// appended to `out` as `(slot, score)` in the order given: the same scores. The scan asks for
/// the vectors a few picks ahead, across buckets, so scattered picks cost memory bandwidth
/// rather than a memory latency each.
pub fn coarse_picked(q: &Codes, dims: usize, picks: &[(&Bucket, u32)], out: &mut Vec<(u32, f32)>) {
    let qscale = q.scales.first().copied().unwrap_or(0.0);
    let mut dots = vec![0i32; picks.len()];
    scan_i8(&q.codes, dims, |n| picks.get(n).and_then(|(b, p)| b.codes.codes.get(*p as usize * dims..(*p as usize + 1) * dims)), &mut dots);
    out.extend(picks.iter().zip(dots).map(|((b, p), d)| (b.slots[*p as usize], d as f32 * (qscale * b.codes.scales[*p as usize]))));
}

/// The Hamming distance of `q` to each `words`-long vector of `bits`, appended to `out`. With
/// the `popcnt` instruction where the CPU has it (chosen at run time, like `scan_i8`);
/// without it `count_ones` is a dozen instructions a word. Integers: both give the same.
fn hamming(q: &[u64], bits: &[u64], words: usize, out: &mut Vec<u16>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports POPCNT, checked just above.
        return unsafe { hamming_popcnt(q, bits, words, out) };
    }
    hamming_portable(q, bits, words, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(q: &[u64], bits: &[u64], words: usize, out: &mut Vec<u16>) {
    hamming_portable(q, bits, words, out)
}

#[inline(always)]
fn hamming_portable(q: &[u64], bits: &[u64], words: usize, out: &mut Vec<u16>) {
    // The common sizes with the word count known when compiling, so the loop unrolls (384
    // dimensions, the default model's, are 6 words).
    match words {
        6 => hamming_n::<6>(q, bits, out),
        12 => hamming_n::<12>(q, bits, out),
        _ => out.extend(bits.chunks_exact(words).map(|c| c.iter().zip(q).map(|(a, b)| (a ^ b).count_ones()).sum::<u32>() as u16)),
    }
}

#[inline(always)]
fn hamming_n<const W: usize>(q: &[u64], bits: &[u64], out: &mut Vec<u16>) {
    let q: &[u64; W] = q.try_into().expect("a query of the index's dimensions");
    let (chunks, _) = bits.as_chunks::<W>();
    out.reserve(chunks.len());
    for c in chunks {
        let mut d = 0;
        for i in 0..W {
            d += (c[i] ^ q[i]).count_ones();
        }
        out.push(d as u16);
    }
}

/// The int8 dot product of `q` with each `dims`-long vector `vector(n)` for `n` in
/// `0..out.len()`, into `out`. Compiled twice: with AVX2 where the CPU has it (chosen at run time: the build
/// targets baseline x86-64), and portably. The sums are integers, so both give the same result.
fn scan_i8<'c>(q: &[i8], dims: usize, vector: impl Fn(usize) -> Option<&'c [i8]>, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { scan_i8_avx2(q, dims, vector, out) };
    }
    scan_i8_portable(q, vector, out)
}

/// Written with intrinsics: left to itself LLVM sign-extends to i32 and multiplies with
/// `vpmulld` (perf: half the scan's time on two multiplies), where `vpmaddwd` multiplies
/// sixteen i16 pairs and adds neighbours in one instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_i8_avx2<'c>(q: &[i8], dims: usize, vector: impl Fn(usize) -> Option<&'c [i8]>, out: &mut [i32]) {
    use std::arch::x86_64::*;
    assert_eq!(q.len(), dims, "a query of the index's dimensions");
    let full = dims / 16 * 16;
    let load = |v: &[i8], i: usize| {
        debug_assert!(i + 16 <= v.len());
        // SAFETY: i + 16 <= full <= dims = v.len() (q, and each chunk of `codes`); an unaligned
        // 16-byte load.
        _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(v.as_ptr().add(i) as *const __m128i) })
    };
    let qv: Vec<__m256i> = (0..full).step_by(16).map(|i| load(q, i)).collect();
    for (n, o) in out.iter_mut().enumerate() {
        let c = vector(n).expect("a vector for every output");
        // Hardware prefetchers stop at 4 KiB pages (and cannot guess scattered picks); ask for
        // the vectors a few ahead.
        if let Some(ahead) = vector(n + 8) {
            for line in (0..dims).step_by(64) {
                // SAFETY: `line < dims`, inside `ahead`; prefetching never faults.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.as_ptr().add(line)) };
            }
        }
        let mut acc = _mm256_setzero_si256();
        for (j, qj) in qv.iter().enumerate() {
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(*qj, load(c, j * 16)));
        }
        let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        let tail: i32 = q[full..].iter().zip(&c[full..]).map(|(&x, &y)| x as i32 * y as i32).sum();
        *o = _mm_cvtsi128_si32(s) + tail;
    }
}

#[inline(always)]
fn scan_i8_portable<'c>(q: &[i8], vector: impl Fn(usize) -> Option<&'c [i8]>, out: &mut [i32]) {
    for (n, o) in out.iter_mut().enumerate() {
        *o = dot_i8(q, vector(n).expect("a vector for every output"));
    }
}

/// Sixteen lanes of i16 products widened into i32 accumulators: the shape LLVM turns into
/// `pmaddwd` (SSE2) or `vpmaddwd` (AVX2). Codes lie in [-127, 127], so a product fits an i16
/// and no sum of fewer than 2^17 of them overflows an i32: the wrapping operations never wrap,
/// they only keep the build's overflow checks from blocking vectorisation.
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail = ca.remainder().iter().zip(cb.remainder()).fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32));
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] = acc[i].wrapping_add((x[i] as i16).wrapping_mul(y[i] as i16) as i32);
        }
    }
    acc.iter().fold(tail, |s, &a| s.wrapping_add(a))
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four independent accumulators let the compiler vectorise the loop.
    let mut acc = [0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_remove_keeps_every_other_vector_with_its_slot() {
        let mut b = Bucket::default();
        for s in 0..4u32 {
            b.push(s, &[s as f32, 10.0 + s as f32]);
        }
        assert_eq!(b.swap_remove(1, 2), Some(3));
        assert_eq!(b.slots, vec![0, 3, 2]);
        assert_eq!(b.vector(1, 2), &[3.0, 13.0]);
        assert_eq!(b.swap_remove(2, 2), None, "removing the last moves nothing");
        assert_eq!(b.vectors, vec![0.0, 10.0, 3.0, 13.0]);
        // The int8 codes moved with their vectors: each position's coarse score is its own.
        let mut coarse = Vec::new();
        b.coarse(&Codes::query(&[0.0, 1.0]), 2, &mut coarse);
        assert_eq!(coarse.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 3]);
        assert!((coarse[0].1 - 10.0).abs() < 0.1 && (coarse[1].1 - 13.0).abs() < 0.1, "{coarse:?}");
    }

    #[test]
    fn coarse_scores_are_within_quantisation_error_and_identical_on_both_paths() {
        let dims = 37; // not a multiple of 16: the tail counts too
        let mut x = 11u64;
        let mut r = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut b = Bucket::default();
        for s in 0..200u32 {
            let v: Vec<f32> = (0..dims).map(|_| r()).collect();
            b.push(s, &v);
        }
        b.push(200, &vec![0.0; dims]);
        let q: Vec<f32> = (0..dims).map(|_| r()).collect();
        let qc = Codes::query(&q);
        let mut coarse = Vec::new();
        b.coarse(&qc, dims, &mut coarse);
        assert_eq!(coarse.len(), 201);
        for (pos, (slot, approx)) in coarse.iter().enumerate() {
            assert_eq!(*slot, pos as u32);
            let exact = dot(&q, b.vector(pos as u32, dims));
            // Components lie in [-0.5, 0.5] and each side rounds by at most half a step of
            // 0.5/127, so each product is off by at most 2 · 0.5 · 0.25/127 (plus a square).
            let bound = dims as f32 * 0.25 / 127.0 * 1.01;
            assert!((approx - exact).abs() < bound, "{pos}: {approx} vs {exact}");
        }
        assert_eq!(coarse[200].1, 0.0, "a zero vector scores 0");
        let (mut fast, mut portable) = (vec![0; 201], vec![0; 201]);
        let vector = |n: usize| b.codes.codes.get(n * dims..(n + 1) * dims);
        scan_i8(&qc.codes, dims, vector, &mut fast);
        scan_i8_portable(&qc.codes, vector, &mut portable);
        let naive: Vec<i32> = b.codes.codes.chunks(dims).map(|c| c.iter().zip(&qc.codes).map(|(&a, &b)| a as i32 * b as i32).sum()).collect();
        assert_eq!(fast, naive);
        assert_eq!(portable, naive);
    }

    #[test]
    fn hamming_distances_count_the_components_of_other_sign_on_both_paths() {
        let dims = 130; // three words, the last one partly used
        let mut x = 5u64;
        let mut r = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut b = Bucket::default();
        let vectors: Vec<Vec<f32>> = (0..50).map(|_| (0..dims).map(|_| r()).collect()).collect();
        for (s, v) in vectors.iter().enumerate() {
            b.push(s as u32, v);
        }
        let q: Vec<f32> = (0..dims).map(|_| r()).collect();
        let qc = Codes::query(&q);
        let naive: Vec<u16> = vectors.iter().map(|v| v.iter().zip(&q).filter(|(a, b)| (**a > 0.0) != (**b > 0.0)).count() as u16).collect();
        let mut fast = Vec::new();
        b.hamming(&qc, dims, &mut fast);
        assert_eq!(fast, naive);
        let mut portable = Vec::new();
        hamming_portable(&qc.bits, &b.codes.bits, words(dims), &mut portable);
        assert_eq!(portable, naive);
        // The sign bits move with their vector, and `coarse_picked` is `coarse` at the positions
        // given, in their order.
        b.swap_remove(3, dims);
        let (mut moved, mut coarse) = (Vec::new(), Vec::new());
        b.hamming(&qc, dims, &mut moved);
        assert_eq!(moved[3], naive[49]);
        b.coarse(&qc, dims, &mut coarse);
        let positions = [40u32, 0, 7, 48, 7];
        let mut picked = Vec::new();
        coarse_picked(&qc, dims, &positions.map(|p| (&b, p)), &mut picked);
        assert_eq!(picked, positions.map(|p| coarse[p as usize]));
    }

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..11).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..11).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }
}
