//! Fitting a query adapter: ridge regression toward the identity, kept at a low rank.
//!
//! Given query vectors `X` (n × d, one row per question) and the vectors `Y` of the cubes that
//! answered them, the map `W` minimising
//!
//! ```text
//! ‖X·W − Y‖² + λ‖W − I‖²      is      W = (XᵀX + λI)⁻¹ (XᵀY + λI)
//! ```
//!
//! — plain least squares pulled toward "change nothing", so with few pairs the adapter stays
//! close to the identity and directions no question exercised are left alone. The correction
//! `Δ = W − I` is then cut to its top `r` singular directions (`Δ ≈ A·B`, `A = U_r·Σ_r`,
//! `B = V_rᵀ`): the adapter is `y = x + (x·A)·B`, small enough to be a cube (2·d·r floats) and
//! cheap to run. Everything is computed in f64 from the inputs alone, so the same pairs give the
//! same adapter.

use nalgebra::DMatrix;

/// A fitted adapter: `y = x + (x·A)·B`, `A` being `d × r` and `B` `r × d`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LowRank {
    pub dims: usize,
    pub rank: usize,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

impl LowRank {
    /// The adapter applied to one vector (what its ONNX model computes), not normalised.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let (d, r) = (self.dims, self.rank);
        let mut xa = vec![0.0f32; r];
        for (i, &xi) in x.iter().enumerate().take(d) {
            for (k, acc) in xa.iter_mut().enumerate() {
                *acc += xi * self.a[i * r + k];
            }
        }
        let mut y = x.to_vec();
        for (k, &v) in xa.iter().enumerate() {
            for (j, yj) in y.iter_mut().enumerate() {
                *yj += v * self.b[k * d + j];
            }
        }
        y
    }

    /// The ONNX model of this adapter, with `metadata` in its properties.
    pub fn to_onnx(&self, metadata: &[(&str, String)]) -> Vec<u8> {
        super::onnx::low_rank(self.dims, self.rank, &self.a, &self.b, metadata)
    }
}

fn matrix(rows: &[Vec<f32>], d: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows.len(), d, |i, j| rows[i][j] as f64)
}

/// The sufficient statistics of a set of pairs: `XᵀX`, `XᵀY` and `XᵀN`. Computed once and
/// refitted at several λ and β.
pub struct Gram {
    xtx: DMatrix<f64>,
    xty: DMatrix<f64>,
    /// With hard negatives: `XᵀN`, `N` holding for each question the mean vector of the cubes it
    /// wrongly ranked highest (zero where none). The target of question i becomes
    /// `y_i − β·n_i`: toward its answer and away from what it is confused with.
    xtn: Option<DMatrix<f64>>,
}

impl Gram {
    /// `queries[i]` was answered by `answers[i]`; every vector has `d` components.
    pub fn new(queries: &[Vec<f32>], answers: &[Vec<f32>], d: usize) -> Self {
        let x = matrix(queries, d);
        let y = matrix(answers, d);
        let xt = x.transpose();
        Self { xtx: &xt * &x, xty: &xt * &y, xtn: None }
    }

    /// [`Self::new`] with each question's hard negatives: `negatives[i]` is the mean vector of
    /// the cubes question `i` wrongly ranked highest (or zeros).
    pub fn with_negatives(queries: &[Vec<f32>], answers: &[Vec<f32>], negatives: &[Vec<f32>], d: usize) -> Self {
        let mut g = Self::new(queries, answers, d);
        g.xtn = Some(matrix(queries, d).transpose() * matrix(negatives, d));
        g
    }

    /// The adapter at ridge strength `lambda` with negatives weighted `beta` (ignored without
    /// negatives).
    pub fn fit_contrastive(&self, lambda: f64, beta: f64, rank: usize) -> LowRank {
        match &self.xtn {
            Some(xtn) if beta != 0.0 => Gram { xtx: self.xtx.clone(), xty: &self.xty - xtn * beta, xtn: None }.fit(lambda, rank),
            _ => self.fit(lambda, rank),
        }
    }

    /// The rank-`rank` adapter at ridge strength `lambda` (> 0).
    pub fn fit(&self, lambda: f64, rank: usize) -> LowRank {
        let d = self.xtx.nrows();
        let rank = rank.clamp(1, d);
        let mut lhs = self.xtx.clone();
        for i in 0..d {
            lhs[(i, i)] += lambda;
        }
        // Δ = (XᵀX + λI)⁻¹ (XᵀY − XᵀX): the solution's difference from the identity. The left
        // side is symmetric positive definite (λ > 0), so Cholesky always succeeds.
        let rhs = &self.xty - &self.xtx;
        let delta = match lhs.clone().cholesky() {
            Some(ch) => ch.solve(&rhs),
            None => lhs.lu().solve(&rhs).unwrap_or_else(|| DMatrix::zeros(d, d)),
        };
        let svd = delta.svd(true, true);
        let (u, vt) = (svd.u.expect("u was asked for"), svd.v_t.expect("v_t was asked for"));
        // Singular values come unsorted from nalgebra: take the largest `rank`.
        let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
        order.sort_by(|&i, &j| svd.singular_values[j].total_cmp(&svd.singular_values[i]).then(i.cmp(&j)));
        order.truncate(rank);
        let r = order.len();
        let mut a = vec![0.0f32; d * r];
        let mut b = vec![0.0f32; r * d];
        for (k, &s) in order.iter().enumerate() {
            let sigma = svd.singular_values[s];
            for i in 0..d {
                a[i * r + k] = (u[(i, s)] * sigma) as f32;
                b[k * d + i] = vt[(s, i)] as f32;
            }
        }
        LowRank { dims: d, rank: r, a, b }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (tests need no randomness crate).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
    }

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Recall@1 of `queries` against `answers` (query i is answered by answer i).
    fn recall_at_1(queries: &[Vec<f32>], answers: &[Vec<f32>]) -> f32 {
        let hits = queries
            .iter()
            .enumerate()
            .filter(|(i, q)| {
                let best = (0..answers.len()).max_by(|&a, &b| dot(q, &answers[a]).total_cmp(&dot(q, &answers[b]))).unwrap();
                best == *i
            })
            .count();
        hits as f32 / queries.len() as f32
    }

    /// Answers are random unit vectors; each question is its answer seen through a fixed linear
    /// distortion `M` (plus noise) — the situation an adapter is for: questions and the memories
    /// answering them live in differently-shaped parts of the embedding space.
    fn distorted(n: usize, d: usize, m: &[f32], rng: &mut Lcg) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let mut qs = Vec::new();
        let mut ans = Vec::new();
        for _ in 0..n {
            let y = unit((0..d).map(|_| rng.next()).collect());
            let x: Vec<f32> = (0..d).map(|j| (0..d).map(|i| y[i] * m[i * d + j]).sum::<f32>() + 0.02 * rng.next()).collect();
            qs.push(unit(x));
            ans.push(y);
        }
        (qs, ans)
    }

    #[test]
    fn a_fitted_adapter_undoes_a_known_distortion_on_held_out_queries() {
        let d = 24;
        let mut rng = Lcg(7);
        // Identity plus a strong rank-4 mixing: within the adapter's rank, so it can be undone.
        let u: Vec<f32> = (0..d * 4).map(|_| rng.next()).collect();
        let v: Vec<f32> = (0..4 * d).map(|_| rng.next()).collect();
        let m: Vec<f32> = (0..d * d)
            .map(|ij| (if ij / d == ij % d { 1.0 } else { 0.0 }) + 1.5 * (0..4).map(|k| u[(ij / d) * 4 + k] * v[k * d + ij % d]).sum::<f32>())
            .collect();
        let (train_q, train_a) = distorted(600, d, &m, &mut rng);
        let (test_q, test_a) = distorted(200, d, &m, &mut rng);
        let before = recall_at_1(&test_q, &test_a);
        let adapter = Gram::new(&train_q, &train_a, d).fit(0.1, 8);
        let adapted: Vec<Vec<f32>> = test_q.iter().map(|q| unit(adapter.apply(q))).collect();
        let after = recall_at_1(&adapted, &test_a);
        assert!(after >= 0.9, "held-out recall@1 {after} (was {before})");
        assert!(after > before + 0.5, "the adapter must move questions toward their answers: {before} -> {after}");
        // And the same pairs give the same adapter, bit for bit.
        assert_eq!(adapter, Gram::new(&train_q, &train_a, d).fit(0.1, 8));
    }

    #[test]
    fn strong_regularisation_keeps_the_adapter_near_the_identity() {
        let d = 8;
        let mut rng = Lcg(3);
        let m: Vec<f32> = (0..d * d).map(|_| rng.next()).collect();
        let (q, a) = distorted(50, d, &m, &mut rng);
        let adapter = Gram::new(&q, &a, d).fit(1e9, d);
        let x = unit((0..d).map(|_| rng.next()).collect());
        let y = adapter.apply(&x);
        let moved: f32 = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).sum();
        assert!(moved < 1e-4, "λ → ∞ must leave queries as they are (moved {moved})");
    }
}
