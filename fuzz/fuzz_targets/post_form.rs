//! Browser-upload forms: the multipart reader, the POST signature and
//! policy checks, and the file's size limits.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shale_s3_gateway::fuzzing::post_form(data));
