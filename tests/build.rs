//! Generates the etcd v3 client subset used by the cluster benchmark's baseline.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/etcd_v3_subset.proto");
    tonic_prost_build::configure().build_server(false).compile_protos(&["proto/etcd_v3_subset.proto"], &["proto"])?;
    Ok(())
}
