#![no_main]
//! See `memmesh_node::fuzzing::log_entry`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| memmesh_node::fuzzing::log_entry(data));
