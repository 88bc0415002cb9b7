//! Exact vector search, vectors stored contiguously per scope.
//!
//! Memory is almost always searched within a scope, and scopes are mostly small; a scan over a
//! scope's vectors is exact and faster than a filtered graph index until scopes reach tens of
//! thousands of vectors (measured: 30 µs for a 100-vector scope, 5 ms for 20k, versus
//! milliseconds to 100s of ms for HNSW indexes that filter while traversing — see the README).

/// The vectors of one scope: `vectors[i*dims..(i+1)*dims]` belongs to document `slots[i]`.
#[derive(Default)]
pub struct Bucket {
    pub slots: Vec<u32>,
    pub vectors: Vec<f32>,
}

impl Bucket {
    /// Appends a vector; returns its position.
    pub fn push(&mut self, slot: u32, v: &[f32]) -> u32 {
        self.slots.push(slot);
        self.vectors.extend_from_slice(v);
        (self.slots.len() - 1) as u32
    }

    /// Removes position `pos` by moving the last vector into it; returns the slot that moved
    /// (whose position is now `pos`), if any.
    pub fn swap_remove(&mut self, pos: u32, dims: usize) -> Option<u32> {
        let pos = pos as usize;
        let last = self.slots.len() - 1;
        self.slots.swap_remove(pos);
        if pos != last {
            let (head, tail) = self.vectors.split_at_mut(last * dims);
            head[pos * dims..(pos + 1) * dims].copy_from_slice(&tail[..dims]);
        }
        self.vectors.truncate(last * dims);
        (pos != last).then(|| self.slots[pos])
    }

    pub fn vector(&self, pos: u32, dims: usize) -> &[f32] {
        &self.vectors[pos as usize * dims..(pos as usize + 1) * dims]
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
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
    }

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..11).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..11).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }
}
