//! Input limits (the `[limits]` configuration section): what validation holds requests to.

use serde::{Deserialize, Serialize};

/// Input limits. Requests beyond them are rejected with INVALID_ARGUMENT before anything is
/// proposed, so nothing partial is ever written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest payload (text or bytes) of one cube.
    pub max_content_bytes: usize,
    /// Largest query adapter (a PARAMETRIC cube of media type application/onnx): room for a full
    /// linear map of a 768-dimensional model (2.4 MB).
    pub max_adapter_bytes: usize,
    pub max_tags: usize,
    pub max_attributes: usize,
    /// Most cubes in one `PutBatch`.
    pub max_batch: usize,
    /// Largest gRPC request the server decodes.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_bytes: 256 * 1024,
            max_adapter_bytes: 4 * 1024 * 1024,
            max_tags: 64,
            max_attributes: 64,
            max_batch: 1000,
            max_request_bytes: 64 * 1024 * 1024,
        }
    }
}
