#![no_main]
//! See `memmesh_node::fuzzing::snapshot`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| memmesh_node::fuzzing::snapshot(data));
