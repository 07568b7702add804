//! The reader of server-side-encrypted part data: any stored bytes, part
//! length, range and piece sizes open or fail, never panic, and give
//! plaintext only for blocks that authenticate.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shale_common::sse::fuzz_open(data);
});
