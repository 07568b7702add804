//! Replays the corpus of the `chunk_file` fuzz target (fuzz/corpus/chunk_file):
//! every seed and every crash input ever added must still parse without
//! panicking, and a seed that is a valid chunk must round-trip.

use shale_storage_node::chunk::{encode_chunk, parse_chunk_bytes};
use std::path::Path;

#[test]
fn chunk_file_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/chunk_file");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut valid = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let bytes = std::fs::read(&path).expect("corpus file");
        if let Ok((header, data)) = parse_chunk_bytes(&bytes) {
            let again = encode_chunk(&header.chunk_id, header.block_size, &data).unwrap();
            assert_eq!(again, bytes, "{} does not re-encode", path.display());
            valid += 1;
        }
    }
    assert!(valid >= 1, "no valid seed in {}", dir.display());
}
