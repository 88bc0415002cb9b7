//! One ONNX session and its tokenizer.
//!
//! The default model is all-MiniLM-L6-v2 (int8): a BERT encoder whose sentence embedding is the
//! mean of its token vectors over the attention mask, L2-normalised — so a dot product is a
//! cosine similarity. Its `tokenizer.json` pins padding and truncation at 128 tokens; we pad each
//! micro-batch only to its longest text and truncate at `max_tokens` instead.

use std::path::Path;
use std::sync::OnceLock;

use ort::session::Session;
use ort::value::Tensor;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use super::{EmbedError, EmbeddingConfig};

/// ONNX Runtime is loaded once per process (it is a global in the `ort` crate).
static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

pub(super) fn environment(dylib: &Path) -> Result<&'static ort::environment::Environment, EmbedError> {
    if !dylib.exists() {
        return Err(EmbedError::Missing { what: "ONNX Runtime library", path: dylib.display().to_string(), key: "embedding.ort_dylib" });
    }
    let env = ENV.get_or_init(|| ort::init_from(dylib).map_err(|e| e.to_string())?.with_name("memmesh").build().map_err(|e| e.to_string()));
    env.as_ref().map_err(|e| EmbedError::Runtime(e.clone()))
}

/// The runtime, if a model has loaded it (adapters run on the same one).
pub(super) fn loaded_environment() -> Option<&'static ort::environment::Environment> {
    ENV.get().and_then(|e| e.as_ref().ok())
}

fn rt(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Runtime(e.to_string())
}

pub struct Embedder {
    session: Session,
    tokenizer: Tokenizer,
    /// Whether the model takes `token_type_ids` (BERT exports usually do).
    token_types: bool,
    dims: usize,
    model_id: String,
    batch_size: usize,
}

impl Embedder {
    /// Loads the model in `cfg.model_dir` with the runtime at `cfg.ort_dylib`. Every missing
    /// piece is reported by name with how to install it.
    pub fn load(cfg: &EmbeddingConfig) -> Result<Self, EmbedError> {
        let model_path = cfg.model_dir.join("model.onnx");
        let tok_path = cfg.model_dir.join("tokenizer.json");
        for (what, p) in [("embedding model", &model_path), ("tokenizer", &tok_path)] {
            if !p.exists() {
                return Err(EmbedError::Missing { what, path: p.display().to_string(), key: "embedding.model_dir" });
            }
        }
        let env = environment(&cfg.ort_dylib)?;
        let mut builder = Session::builder(env).map_err(rt)?;
        if cfg.intra_threads > 0 {
            builder = builder.with_intra_threads(cfg.intra_threads).map_err(rt)?;
        }
        let session = builder.commit_from_file(&model_path).map_err(rt)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for needed in ["input_ids", "attention_mask"] {
            if !names.contains(&needed) {
                return Err(EmbedError::Model(format!("no input named {needed} (inputs: {names:?})")));
            }
        }
        let token_types = names.contains(&"token_type_ids");

        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: cfg.max_tokens.max(8), ..Default::default() }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;

        // The id names the model *file*: vectors of two different models must never be compared.
        let bytes = std::fs::read(&model_path).map_err(rt)?;
        let digest = hex::encode(&Sha256::digest(&bytes)[..6]);
        let name = cfg.model_dir.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned());
        let mut e = Self { session, tokenizer, token_types, dims: 0, model_id: format!("{name}@{digest}"), batch_size: cfg.batch_size.max(1) };
        // The hidden size is usually symbolic in the graph's output shape; one probe settles it.
        e.dims = e.embed(&["dimension probe"])?.first().map_or(0, Vec::len);
        if e.dims == 0 {
            return Err(EmbedError::Model("the model produced an empty vector".into()));
        }
        Ok(e)
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embeds `texts` (any number), returning one unit vector per text, in order.
    ///
    /// Texts are tokenised together, sorted by length and run in micro-batches of `batch_size`,
    /// so each batch pads to a similar length instead of to the longest text of the request.
    pub fn embed<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = self.tokenizer.encode_batch(inputs, true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&tokenizers::Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            for (slot, v) in chunk.iter().zip(self.run(&batch)?) {
                out[*slot] = v;
            }
        }
        Ok(out)
    }

    /// One inference over a micro-batch, padded to its longest member.
    fn run(&mut self, batch: &[&tokenizers::Encoding]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let b = batch.len();
        let len = batch.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; b * len];
        let mut mask = vec![0i64; b * len];
        let mut types = vec![0i64; b * len];
        for (row, enc) in batch.iter().enumerate() {
            for (j, ((&id, &m), &t)) in enc.get_ids().iter().zip(enc.get_attention_mask()).zip(enc.get_type_ids()).enumerate() {
                ids[row * len + j] = id as i64;
                mask[row * len + j] = m as i64;
                types[row * len + j] = t as i64;
            }
        }
        let shape = [b as i64, len as i64];
        let mut inputs = ort::inputs! {
            "input_ids" => Tensor::from_array((shape, ids)).map_err(rt)?,
            "attention_mask" => Tensor::from_array((shape, mask.clone())).map_err(rt)?,
        };
        if self.token_types {
            inputs.push(("token_type_ids".into(), Tensor::from_array((shape, types)).map_err(rt)?.into()));
        }
        let outputs = self.session.run(inputs).map_err(rt)?;
        let (out_shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(rt)?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        if dims.len() != 3 || dims[0] as usize != b || dims[1] as usize != len {
            return Err(EmbedError::Model(format!("expected [batch, tokens, hidden] = [{b}, {len}, _], got {dims:?}")));
        }
        let hidden = dims[2] as usize;
        Ok((0..b).map(|row| mean_pool(&data[row * len * hidden..(row + 1) * len * hidden], &mask[row * len..(row + 1) * len], hidden)).collect())
    }
}

/// Mean of the token vectors where `mask` is 1, L2-normalised.
fn mean_pool(tokens: &[f32], mask: &[i64], hidden: usize) -> Vec<f32> {
    let mut v = vec![0f32; hidden];
    let mut n = 0f32;
    for (t, &m) in tokens.chunks_exact(hidden).zip(mask) {
        if m != 0 {
            n += 1.0;
            v.iter_mut().zip(t).for_each(|(a, b)| *a += b);
        }
    }
    let n = n.max(1.0);
    v.iter_mut().for_each(|a| *a /= n);
    normalize(&mut v);
    v
}

/// Scales `v` to unit length (a zero vector stays zero). The norm is summed in f64: any finite
/// f32 squared fits, where an f32 sum overflows to infinity from about 1e19 per component
/// (every component then became 0) and underflows to 0 below about 1e-23 (nothing was scaled).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_padding_and_normalises() {
        // Two tokens of hidden size 2 plus one padding token that must not count.
        let tokens = [1.0, 0.0, 3.0, 0.0, 100.0, 100.0];
        let v = mean_pool(&tokens, &[1, 1, 0], 2);
        assert_eq!(v, vec![1.0, 0.0]);
    }

    #[test]
    fn normalising_extreme_components_gives_a_unit_vector() {
        for v in [vec![1e20f32, 0.0, 0.0], vec![3e38, -3e38, 3e38, 3e38], vec![1e-30, 2e-30, 0.0], vec![1e-44, 0.0], vec![0.6, 0.8]] {
            let mut u = v.clone();
            normalize(&mut u);
            let norm: f64 = u.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-6, "{v:?} -> {u:?} (norm {norm})");
            // The direction is kept: every component keeps its sign.
            assert!(v.iter().zip(&u).all(|(a, b)| a.signum() == b.signum() || *a == 0.0), "{v:?} -> {u:?}");
        }
        let mut zero = vec![0.0f32; 3];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }
}
