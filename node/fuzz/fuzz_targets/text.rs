#![no_main]
//! See `memmesh_node::fuzzing::text`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| memmesh_node::fuzzing::text(data));
