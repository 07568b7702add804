//! Replays the fuzz corpora of the gateway's targets (fuzz/corpus/*): every
//! seed and every crash input ever added must still pass.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        run(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}

#[test]
fn authorization_header_corpus() {
    replay(
        "authorization_header",
        shale_s3_gateway::fuzzing::authorization_header,
    );
}

#[test]
fn aws_chunked_corpus() {
    replay("aws_chunked", shale_s3_gateway::fuzzing::aws_chunked);
}

#[test]
fn post_form_corpus() {
    replay("post_form", shale_s3_gateway::fuzzing::post_form);
}
