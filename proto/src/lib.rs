//! The MemMesh gRPC API (`memmesh.v1`), generated from `proto/memmesh/v1/*.proto`.
//!
//! The `.proto` files are the reference for every field's meaning; this crate only re-exports
//! the generated types, clients and servers.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("memmesh.v1");
    include!(concat!(env!("OUT_DIR"), "/memmesh.v1.serde.rs"));
}

pub use v1::*;

/// The encoded `FileDescriptorSet` of every `memmesh.v1` file (for gRPC server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("memmesh_descriptor");
