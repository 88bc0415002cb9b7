//! The MemCube model: validation of client input, construction and patching of cubes, and the
//! errors a write can meet when it is applied. Everything here is pure (no I/O), so it is
//! unit-tested directly and behaves identically on every replica.

mod cube;
mod error;
mod validate;

pub use cube::*;
pub use error::*;
pub use validate::*;
