//! Generates the gRPC code from `memmesh/v1/*.proto` with a vendored `protoc`, so building
//! needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let files = [
        "memmesh/v1/cube.proto",
        "memmesh/v1/memory.proto",
        "memmesh/v1/cluster.proto",
        "memmesh/v1/memstore.proto",
        "memmesh/v1/raft.proto",
        "memmesh/v1/admin.proto",
    ];
    for f in &files {
        // tonic-prost-build 0.14 no longer emits rerun-if-changed itself.
        println!("cargo:rerun-if-changed={f}");
    }
    // The encoded descriptors of every file, served by the node's gRPC reflection service so
    // grpcurl-style tools list and call the services without the .proto files.
    let descriptors = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("memmesh_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptors)
        // BTreeMap keeps map fields ordered, so encoding a message is deterministic: request
        // fingerprints (idempotency) and replicated bytes must not depend on hash order.
        .btree_map(".")
        .compile_protos(&files, &["."])?;
    // serde impls following the proto3 JSON mapping (the export file format; readable by any
    // protobuf library's JSON parser, e.g. Python's `json_format`). Field names stay as in the
    // .proto files (snake_case).
    let descriptor_set = std::fs::read(&descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_set)?
        .btree_map([".".to_string()])
        .preserve_proto_field_names()
        .build(&[".memmesh.v1"])?;
    Ok(())
}
