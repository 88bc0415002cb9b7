#![no_main]
//! See `memmesh_node::fuzzing::peer_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| memmesh_node::fuzzing::peer_message(data));
