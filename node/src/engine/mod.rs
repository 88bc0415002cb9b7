//! The engine: what a request goes through below the gRPC layer and above storage. The `api`
//! services decode a request, call the engine and encode its answer; the engine authorizes,
//! embeds, proposes (or reads) and answers in its own error type.
//!
//! | module | concept |
//! |---|---|
//! | [`core`] | [`Core`], the state every request handler shares |
//! | [`write`] | proposing writes: idempotency fast path, request fingerprints, group commit |
//! | [`forward`] | reaching the leader from a follower (forwarded writes, read index) |
//! | [`backup`] | a backup holding every write acknowledged before it |
//! | [`read`] | read consistency: the barrier a read waits at (linearizable, `min_revision`) |
//! | [`search`] | running a search for a caller: scopes narrowed, query embedded, hits re-checked |
//! | [`lifecycle`] | the leader's expiry sweep |
//! | [`links`] | links around a cube as a caller may see them, client links, Consolidate |
//! | [`embedding`] | computing and checking vectors before a write is proposed |
//! | [`adapters`] | query adapters on the request path: checking uploads, a search's adapter, feedback |
//! | [`training`] | fitting an adapter from a scope's feedback, checked on held-out pairs |
//! | [`authz`] | authorization against the access rules, refusals recorded |
//! | [`denials`] | refused requests on their way to the audit log (rate-limited) |
//! | [`error`] | [`ApiError`], composed from every lower layer's errors |

pub mod adapters;
pub mod authz;
pub mod backup;
pub mod core;
pub mod denials;
pub mod embedding;
pub mod error;
pub mod forward;
pub mod lifecycle;
pub mod links;
pub mod read;
pub mod search;
pub mod training;
pub mod write;

pub use self::core::Core;
pub use authz::ReadAccess;
pub use error::ApiError;
pub use forward::LeaderCall;

/// An INVALID_ARGUMENT naming the request field at fault.
pub fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    crate::model::ValidationError::new(field, reason).into()
}
