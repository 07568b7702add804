//! The aws-chunked body decoder of the gateway (framing, chunk signatures).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shale_s3_gateway::fuzzing::aws_chunked(data));
