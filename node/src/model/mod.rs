//! The shared vocabulary of every layer: the MemCube rules (validation, building and patching
//! cubes), the scope rule, the one cube filter, the records carried in log entries, the errors
//! of input and of apply, input limits and the clock. Everything here is pure (no I/O) — the
//! clock aside — so it is unit-tested directly and behaves identically on every replica.
//! Nothing here imports from another module of the crate.

pub mod adapter;
mod clock;
pub mod consolidate;
mod cube;
pub mod dedupe;
mod error;
pub mod filter;
pub mod imported;
pub mod lifecycle;
mod limits;
pub mod links;
mod pb;
pub mod policy;
mod records;
mod scope;
pub mod strength;
mod validate;

pub use clock::*;
pub use consolidate::MergePlan;
pub use cube::*;
pub use dedupe::{Dedupe, PutOutcome, PutResult};
pub use error::*;
pub use filter::{Facets, Filter, FilterSpec};
pub use limits::*;
pub use pb::*;
pub use records::*;
pub use scope::*;
pub use validate::*;
