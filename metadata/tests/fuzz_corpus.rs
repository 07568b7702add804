//! Replays the corpus of the fuzz target `internal_rpc`
//! (fuzz/corpus/internal_rpc): every seed and every crash input ever added
//! must still decode or fail without a panic.

use std::path::Path;

#[test]
fn internal_rpc_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/internal_rpc");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        shale_metadata::fuzzing::internal_rpc(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}
