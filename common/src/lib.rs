//! Types shared by every Shale role.
//!
//! Owns: identifiers (node, chunk), the object layout that the metadata
//! service records and the gateway reads (parts → segments → chunks), and the
//! small HTTP RPC helpers every internal client uses, and S3's flexible
//! checksums (algorithms, and the multipart checksum math), metrics
//! plumbing (static labels, scrape hooks, the Prometheus exporter) and the
//! request id that follows a request across roles, and SigV4 signing
//! ([`sigv4`]) for every Shale client that talks S3 (admin CLI, load
//! generator, replication), and the cluster credential every role signs its
//! internal requests with and checks its callers by ([`cluster_auth`]),
//! keys that seal secrets at rest ([`sealing`]), and the sealed-block format
//! of server-side-encrypted object data ([`sse`]).
//! Depends on: nothing of Shale. Must never: talk to RocksDB or to disks.

pub mod admin_client;
pub mod checksum;
pub mod cluster_auth;
pub mod layout;
pub mod metrics;
pub mod rpc;
pub mod s3_client;
pub mod sealing;
pub mod sigv4;
pub mod sse;
pub mod tls;

pub use layout::*;

/// A metadata value made mail-safe as S3 makes it: as it is when it is
/// printable ASCII, else one RFC 2047 encoded word in the `Q` encoding
/// (`café` → `=?UTF-8?Q?caf=C3=A9?=`; a space is `_`). S3's documentation
/// says values are "encoded as per RFC 2047 to make them mail-safe before
/// returning"; the `Q` form is what S3 parity tests expect (`s3s` alone
/// would send `B`).
pub fn mail_safe(value: &str) -> String {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() * 3 + 12);
    out.push_str("=?UTF-8?Q?");
    for b in value.bytes() {
        match b {
            b' ' => out.push('_'),
            b'=' | b'?' | b'_' => out.push_str(&format!("={b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}
