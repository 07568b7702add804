//! The policy engine: any bytes as a bucket policy and as a user policy,
//! and whatever parses evaluated against fixed requests and judged public.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shale_policy::fuzzing::policy(data));
