//! Replays the corpus of the fuzz target `policy` (fuzz/corpus/policy):
//! every seed and every crash input ever added must still parse or fail
//! without a panic; the seeds named `seed-` that are not meant to fail must
//! still parse.

use std::path::Path;

#[test]
fn policy_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/policy");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        shale_policy::fuzzing::policy(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}

#[test]
fn the_real_world_seeds_are_valid_policies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/policy");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    for name in [
        "seed-public-read-website",
        "seed-prefix-limited-writer",
        "seed-tls-only-deny",
        "seed-ip-limited",
        "seed-tag-condition",
        "seed-home-directories",
    ] {
        let parsed = shale_policy::parse_bucket_policy(&read(name), "fuzz", &|_| true);
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
    }
    let user = shale_policy::parse_identity_policy(&read("seed-user-policy"));
    assert!(user.is_ok(), "seed-user-policy: {user:?}");
    let public = |name: &str| {
        shale_policy::parse_bucket_policy(&read(name), "fuzz", &|_| true).map(|p| p.is_public())
    };
    assert_eq!(public("seed-public-read-website"), Ok(true));
    assert_eq!(public("seed-tag-condition"), Ok(true));
    assert_eq!(public("seed-ip-limited"), Ok(false));
    assert_eq!(public("seed-tls-only-deny"), Ok(false));
    assert_eq!(public("seed-prefix-limited-writer"), Ok(false));
}
