//! The SigV4/SigV2 `Authorization` header parser and verifier of the gateway.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shale_s3_gateway::fuzzing::authorization_header(data));
