//! Embedding on the write path: the receiving node computes (or checks) each plaintext cube's
//! vector *before* proposing, so the vector travels in the log entry and `apply` stays a pure
//! function of the entry.

use memmesh_proto::{CubeKind, Embedding, MemCube};

use super::{ApiError, Core};
use crate::embed::model::normalize;
use crate::model::{Pb, ValidationError};

fn is_text(c: &MemCube) -> bool {
    matches!(CubeKind::try_from(c.kind), Ok(CubeKind::Plaintext | CubeKind::Unspecified))
}

/// Checks a client-supplied vector against this node's model and normalises it.
fn check_supplied(core: &Core, field: &str, e: &mut Embedding) -> Result<(), ApiError> {
    let Some(pool) = &core.embedder else {
        return Err(ApiError::Precondition(format!(
            "{field}: this node runs no embedding model (embedding.enabled = false), so it cannot accept vectors for one"
        )));
    };
    if e.model != pool.model_id() {
        return Err(ValidationError::new(field, format!("model {:?} is not this node's model {:?}", e.model, pool.model_id())).into());
    }
    crate::model::check_vector(field, &e.vector, pool.dims())?;
    normalize(&mut e.vector);
    Ok(())
}

impl Core {
    /// Gives every plaintext cube its embedding: supplied ones are checked, the others are
    /// computed in one batched call. Non-text cubes must not carry one. Without a model the
    /// cubes are left without vectors (lexical search still finds them). Adapter cubes are
    /// checked here too: this is the step every new cube goes through before proposing.
    pub async fn embed_cubes(&self, field: &str, cubes: &mut [Pb<MemCube>]) -> Result<(), ApiError> {
        let mut todo = Vec::new();
        for (i, c) in cubes.iter_mut().enumerate() {
            let f = if field == "cube" { "cube.embedding".to_string() } else { format!("{field}[{i}].embedding") };
            let text = is_text(&c.0);
            if let Some(e) = c.0.embedding.as_mut() {
                if !text {
                    return Err(ValidationError::new(&f, "only PLAINTEXT cubes carry an embedding").into());
                }
                check_supplied(self, &f, e)?;
            } else if text && self.embedder.is_some() {
                todo.push(i);
            }
        }
        // Adapter cubes are loaded and probed before they are proposed (see `engine::adapters`).
        self.check_adapter_cubes(field, cubes).await?;
        let Some(pool) = &self.embedder else {
            return Ok(());
        };
        let texts: Vec<String> = todo.iter().map(|&i| cubes[i].0.content.as_ref().map(|c| c.text.clone()).unwrap_or_default()).collect();
        let vectors = pool.embed(texts).await?;
        for (i, vector) in todo.into_iter().zip(vectors) {
            cubes[i].0.embedding = Some(Embedding { vector, model: pool.model_id().to_string() });
        }
        Ok(())
    }

    /// The embedding of one text with this node's model, if it runs one.
    pub async fn embed_text(&self, text: &str) -> Result<Option<Embedding>, ApiError> {
        let Some(pool) = &self.embedder else {
            return Ok(None);
        };
        let vector = pool.embed(vec![text.to_string()]).await?.pop().unwrap_or_default();
        Ok(Some(Embedding { vector, model: pool.model_id().to_string() }))
    }
}
