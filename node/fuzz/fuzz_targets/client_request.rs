#![no_main]
//! See `memmesh_node::fuzzing::client`: every input is a request to one node started for the run.

use std::sync::{Arc, OnceLock};

use memmesh_node::fuzzing::client::Target;

static TARGET: OnceLock<Arc<Target>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    TARGET.get_or_init(Target::start).call(data);
});
