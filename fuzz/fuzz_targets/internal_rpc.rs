//! What roles decode from each other: metadata RPC requests and answers
//! (postcard), `/raft/status` answers, and `x-shale-auth` headers as a role
//! checks them. Any bytes decode or fail, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shale_metadata::fuzzing::internal_rpc(data);
});
