//! Query adapters: parametric memory that search runs (see the README's Parametric memory).
//!
//! - [`fit`]: the training method — ridge regression of question vectors onto their answers'
//!   vectors toward the identity, cut to a low rank; pure arithmetic, unit-tested on a known
//!   distortion.
//! - [`onnx`]: writes a fitted adapter as an ONNX model (the cube's bytes).
//! - [`session`]: loads any adapter model into ONNX Runtime, checks its shapes with a probe,
//!   runs it. Loading and running happen on the embedding workers ([`super::pool`]), each
//!   `(id, version)` loaded once per node and kept in a small cache.

pub mod fit;
pub mod onnx;
pub mod session;

pub use fit::{Gram, LowRank};
pub use session::AdapterSession;

/// Why an adapter cannot be used (or written).
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("not a loadable ONNX model: {0}")]
    Load(String),
    #[error("not an adapter for this node's embedding model: {0}")]
    Shape(String),
    #[error("the model returns NaN or infinite values for a probe vector")]
    NonFinite,
    #[error("adapters need the embedding model, which this node does not run (embedding.enabled = false)")]
    NoRuntime,
    #[error("onnx runtime: {0}")]
    Runtime(String),
}

impl AdapterError {
    /// Whether the fault lies in the model (the writer's input) rather than in this node.
    pub fn is_invalid_model(&self) -> bool {
        matches!(self, AdapterError::Load(_) | AdapterError::Shape(_) | AdapterError::NonFinite)
    }
}
