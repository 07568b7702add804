//! Entry points of the fuzz target `internal_rpc` (`fuzz/`), here so that
//! `cargo test` replays its corpus (`tests/fuzz_corpus.rs`): bytes from the
//! network that the metadata service and its clients decode. They are
//! untrusted even from a signed peer: a bug or a stolen secret must not
//! crash a replica.

use crate::types::{MetaError, MetaRequest, MetaResponse};

/// Decodes `data` as the first byte says: 0, a `/rpc` request body (what a
/// replica reads); 1, a `/rpc` answer (what a client reads); 2, a
/// `/raft/status` answer; anything else, an `x-shale-auth` header value
/// checked by a role. Any input decodes or fails, never panics.
pub fn internal_rpc(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which {
        0 => {
            if let Ok(req) = postcard::from_bytes::<MetaRequest>(rest) {
                // What the service does with every request before routing it.
                let _ = (req.kind(), req.is_read());
                // A decoded request encodes again.
                let _ = postcard::to_stdvec(&req).expect("a decoded request encodes");
            }
        }
        1 => {
            let _ = postcard::from_bytes::<Result<MetaResponse, MetaError>>(rest);
        }
        2 => {
            let _ = postcard::from_bytes::<crate::types::RaftStatus>(rest);
        }
        _ => shale_common::cluster_auth::fuzz_verify(rest),
    }
}
