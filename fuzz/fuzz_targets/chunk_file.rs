//! The storage node's chunk file reader: any bytes parse or fail, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shale_storage_node::chunk::parse_chunk_bytes(data);
});
