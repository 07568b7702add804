//! Tests of the chunk store (`super`): volumes, reopening, the index
//! checkpoint, status counts, damage and full disks.

use super::*;
use std::os::unix::fs::FileExt;

fn disks(dir: &tempfile::TempDir, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| dir.path().join(format!("d{i}"))).collect()
}

fn store(dir: &tempfile::TempDir, n: usize) -> ChunkStore {
    ChunkStore::open(disks(dir, n), 16).unwrap()
}

fn volume_files(disk: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(disk.join(VOLUMES_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vol"))
        .collect();
    files.sort();
    files
}

fn bytes(n: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn put_get_head_delete_list() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 3);
    let data = bytes(100, 1);
    assert!(s.put("a", data.clone()).await.unwrap());
    assert!(!s.put("a", data.clone()).await.unwrap());
    assert!(s.put("b", Bytes::new()).await.unwrap());
    assert_eq!(s.get("a", 0, 100).await.unwrap(), data);
    assert_eq!(s.get("a", 20, 30).await.unwrap(), data.slice(20..50));
    assert_eq!(s.get("b", 0, 0).await.unwrap(), Bytes::new());
    assert_eq!(
        s.head("a").await.unwrap(),
        ChunkInfo {
            id: "a".into(),
            size: 100,
            block_size: 16
        }
    );
    assert_eq!(s.verify("a").await.unwrap().size, 100);
    assert_eq!(s.list().await.unwrap(), vec!["a", "b"]);
    s.delete("a").await.unwrap();
    assert!(matches!(s.delete("a").await, Err(Error::NotFound(_))));
    assert!(matches!(s.get("a", 0, 1).await, Err(Error::NotFound(_))));
    assert!(matches!(s.head("a").await, Err(Error::NotFound(_))));
    assert!(matches!(
        s.get("../x", 0, 1).await,
        Err(Error::InvalidChunkId(_))
    ));
    assert!(matches!(
        s.get("b", 0, 1).await,
        Err(Error::InvalidRange(_))
    ));
    assert_eq!(s.list().await.unwrap(), vec!["b"]);
}

#[tokio::test]
async fn reopening_finds_every_chunk_and_none_that_was_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2);
    for i in 0..50u8 {
        s.put(&format!("c{i}"), bytes(1000 + usize::from(i) * 97, i))
            .await
            .unwrap();
    }
    for i in (0..50u8).step_by(3) {
        s.delete(&format!("c{i}")).await.unwrap();
    }
    // Replaced: the newer bytes must win after a rescan.
    s.put("c1", bytes(5000, 200)).await.unwrap();
    let before = s.list().await.unwrap();
    drop(s);

    let s = store(&dir, 2);
    assert_eq!(s.list().await.unwrap(), before);
    for i in 0..50u8 {
        let id = format!("c{i}");
        let got = s
            .get(&id, 0, s.head(&id).await.map(|h| h.size).unwrap_or(0))
            .await;
        if i % 3 == 0 {
            assert!(matches!(got, Err(Error::NotFound(_))), "{id}");
        } else if i == 1 {
            assert_eq!(got.unwrap(), bytes(5000, 200));
        } else {
            assert_eq!(got.unwrap(), bytes(1000 + usize::from(i) * 97, i), "{id}");
        }
    }
    // Writes after reopening go on after the existing records.
    s.put("new", bytes(333, 9)).await.unwrap();
    drop(s);
    let s = store(&dir, 2);
    assert_eq!(s.get("new", 0, 333).await.unwrap(), bytes(333, 9));
    assert_eq!(
        s.get("c2", 0, 10).await.unwrap(),
        bytes(1194, 2).slice(..10)
    );
}

#[tokio::test]
async fn status_counts_chunks_and_reports_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2);
    for i in 0..20 {
        s.put(&format!("c{i}"), bytes(10, 1)).await.unwrap();
    }
    let status = s.status().await.unwrap();
    assert!(status.healthy, "{status:?}");
    assert_eq!(status.disks.len(), 2);
    assert_eq!(status.disks.iter().map(|d| d.chunks).sum::<u64>(), 20);
    assert!(status.disks.iter().all(|d| d.chunks > 0), "{status:?}");
    // Every record takes one page at this size.
    let used: u64 = status.disks.iter().map(|d| d.bytes_used).sum();
    assert_eq!(used, 20 * PAGE);
    for d in &status.disks {
        assert!(d.capacity_bytes.unwrap() >= d.available_bytes.unwrap());
    }
    // The counts follow overwrites and deletes, and a reopened store
    // counts what it found; its boot id is new.
    s.put("c0", bytes(5000, 2)).await.unwrap();
    s.delete("c1").await.unwrap();
    let counted = |st: &NodeStatus| {
        (
            st.disks.iter().map(|d| d.chunks).sum::<u64>(),
            st.disks.iter().map(|d| d.bytes_used).sum::<u64>(),
        )
    };
    let before = s.status().await.unwrap();
    assert_eq!(counted(&before).0, 19);
    assert!(counted(&before).1 > 19 * PAGE, "{before:?}");
    drop(s);
    let s = store(&dir, 2);
    let after = s.status().await.unwrap();
    assert_eq!(counted(&after), counted(&before));
    assert_ne!(after.boot_id, before.boot_id);
    assert_eq!(after.boot_id.len(), 16);
    // Writes since the open, overwrites included; deletes and failed
    // writes do not count.
    assert_eq!(before.chunks_written, 21);
    assert_eq!(after.chunks_written, 0);
    s.put("x", bytes(10, 3)).await.unwrap();
    s.delete("x").await.unwrap();
    assert!(s.put("bad/id", bytes(10, 3)).await.is_err());
    assert_eq!(s.status().await.unwrap().chunks_written, 1);
}

#[tokio::test]
async fn a_torn_record_at_the_end_is_cut_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    s.put("whole", bytes(3000, 1)).await.unwrap();
    s.put("torn", bytes(9000, 2)).await.unwrap();
    drop(s);
    // Cut the last record short, as a crash before its sync may.
    let vol = volume_files(&dir.path().join("d0")).pop().unwrap();
    let len = fs::metadata(&vol).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&vol)
        .unwrap()
        .set_len(len - 100)
        .unwrap();

    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap(), vec!["whole"]);
    assert_eq!(fs::metadata(&vol).unwrap().len(), 2 * PAGE);
    s.put("next", bytes(100, 3)).await.unwrap();
    drop(s);
    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap(), vec!["next", "whole"]);
    assert_eq!(s.get("whole", 0, 3000).await.unwrap(), bytes(3000, 1));
    assert_eq!(s.get("next", 0, 100).await.unwrap(), bytes(100, 3));
}

#[tokio::test]
async fn a_damaged_record_header_loses_that_chunk_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    for i in 0..5u8 {
        s.put(&format!("c{i}"), bytes(6000, i)).await.unwrap();
    }
    drop(s);
    // Records of 6000 bytes take two pages each; spoil c2's prefix.
    let vol = volume_files(&dir.path().join("d0")).pop().unwrap();
    let file = fs::OpenOptions::new().write(true).open(&vol).unwrap();
    file.write_all_at(b"XXXX", PAGE + 2 * 2 * PAGE).unwrap();
    drop(file);
    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap(), vec!["c0", "c1", "c3", "c4"]);
    assert_eq!(s.get("c4", 0, 6000).await.unwrap(), bytes(6000, 4));
}

/// Spoils the record prefix of the `n`th record of the only volume of
/// `disk` (records of one page each): a scan no longer finds it, a
/// checkpoint still names it.
fn spoil_prefix(dir: &tempfile::TempDir, n: u64) {
    let vol = volume_files(&dir.path().join("d0")).pop().unwrap();
    let file = fs::OpenOptions::new().write(true).open(&vol).unwrap();
    file.write_all_at(b"XXXX", PAGE + n * PAGE).unwrap();
}

fn checkpoint_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path()
        .join("d0")
        .join(VOLUMES_DIR)
        .join(crate::checkpoint::FILE_NAME)
}

#[tokio::test]
async fn a_checkpoint_is_read_instead_of_the_records_and_later_writes_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    for i in 0..5u8 {
        s.put(&format!("c{i}"), bytes(1000, i)).await.unwrap();
    }
    assert_eq!(s.checkpoint().unwrap(), 5);
    // Written after the checkpoint: found by the scan past it.
    s.put("late", bytes(700, 9)).await.unwrap();
    drop(s);
    // A scan would lose c2 now; the checkpoint was read instead.
    spoil_prefix(&dir, 2);
    let s = store(&dir, 1);
    assert_eq!(
        s.list().await.unwrap(),
        vec!["c0", "c1", "c2", "c3", "c4", "late"]
    );
    assert_eq!(s.get("late", 0, 700).await.unwrap(), bytes(700, 9));
    assert_eq!(s.get("c4", 0, 1000).await.unwrap(), bytes(1000, 4));
    assert_eq!(s.status().await.unwrap().disks[0].chunks, 6);
    // Still valid after an open: a crash now would use it again.
    assert!(checkpoint_file(&dir).exists());
    // New writes go after the last record.
    s.put("later", bytes(10, 1)).await.unwrap();
    drop(s);
    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap().len(), 7);
    assert_eq!(s.get("later", 0, 10).await.unwrap(), bytes(10, 1));
}

#[tokio::test]
async fn an_erase_removes_the_checkpoint_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    for i in 0..5u8 {
        s.put(&format!("c{i}"), bytes(1000, i)).await.unwrap();
    }
    s.checkpoint().unwrap();
    s.delete("c1").await.unwrap();
    assert!(!checkpoint_file(&dir).exists());
    drop(s);
    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap(), vec!["c0", "c2", "c3", "c4"]);

    // Read at an open, then a chunk replaced: removed too.
    s.checkpoint().unwrap();
    drop(s);
    let s = store(&dir, 1);
    assert!(checkpoint_file(&dir).exists());
    s.put("c3", bytes(900, 33)).await.unwrap();
    assert!(!checkpoint_file(&dir).exists());
    drop(s);
    let s = store(&dir, 1);
    assert_eq!(s.get("c3", 0, 900).await.unwrap(), bytes(900, 33));
    assert_eq!(s.list().await.unwrap(), vec!["c0", "c2", "c3", "c4"]);
}

#[tokio::test]
async fn a_damaged_or_stale_checkpoint_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    for i in 0..5u8 {
        s.put(&format!("c{i}"), bytes(1000, i)).await.unwrap();
    }
    s.checkpoint().unwrap();
    drop(s);
    // One flipped bit: the checksum fails, the volumes are scanned.
    let path = checkpoint_file(&dir);
    let mut raw = fs::read(&path).unwrap();
    raw[20] ^= 1;
    fs::write(&path, &raw).unwrap();
    spoil_prefix(&dir, 2);
    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap(), vec!["c0", "c1", "c3", "c4"]);
    assert!(!path.exists());
    s.checkpoint().unwrap();
    drop(s);

    // A checkpoint naming a volume that was replaced by another file.
    let saved = fs::read(&path).unwrap();
    let vol = volume_files(&dir.path().join("d0")).pop().unwrap();
    fs::remove_file(&vol).unwrap();
    drop(store(&dir, 1));
    fs::write(&path, &saved).unwrap();
    let s = store(&dir, 1);
    assert!(s.list().await.unwrap().is_empty());
    assert!(!path.exists());
}

#[tokio::test]
async fn a_checkpoint_spans_rotated_and_removed_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let open = || ChunkStore::open_with(disks(&dir, 1), 16, 4 * PAGE).unwrap();
    let s = open();
    for i in 0..4 {
        s.put(&format!("c{i}"), bytes(2000, i)).await.unwrap();
    }
    s.checkpoint().unwrap();
    // Past the checkpoint: a new volume, then more records.
    for i in 4..9 {
        s.put(&format!("c{i}"), bytes(2000, i)).await.unwrap();
    }
    drop(s);
    let s = open();
    let all: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
    assert_eq!(s.list().await.unwrap(), all);
    for i in 0..9u8 {
        let id = format!("c{i}");
        assert_eq!(s.get(&id, 0, 2000).await.unwrap(), bytes(2000, i), "{id}");
    }
    // Empty volumes removed at a checkpoint's open do not spoil it.
    for i in 0..3 {
        s.delete(&format!("c{i}")).await.unwrap();
    }
    s.checkpoint().unwrap();
    drop(s);
    let s = open();
    assert!(checkpoint_file(&dir).exists());
    assert_eq!(s.list().await.unwrap(), all[3..].to_vec());
}

#[tokio::test]
async fn a_checkpoint_taken_under_writes_loses_none_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2);
    let mut writers = Vec::new();
    for w in 0..4u8 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..40u8 {
                s.put(&format!("w{w}-{i}"), bytes(500, i)).await.unwrap();
            }
        }));
    }
    let mut taken = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let c = s.clone();
        tokio::task::spawn_blocking(move || c.checkpoint().unwrap())
            .await
            .unwrap();
        taken += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(taken > 0);
    drop(s);
    let s = store(&dir, 2);
    assert_eq!(s.list().await.unwrap().len(), 160);
    for w in 0..4u8 {
        for i in 0..40u8 {
            let id = format!("w{w}-{i}");
            assert_eq!(s.get(&id, 0, 500).await.unwrap(), bytes(500, i), "{id}");
        }
    }
}

#[tokio::test]
async fn a_checkpoint_waits_for_writes_that_replace_chunks() {
    // A write in flight that replaces a chunk erases the old record,
    // which removes the checkpoint: the checkpoint must not hold its
    // lock while it waits for that write.
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    let mut writers = Vec::new();
    for w in 0..4u8 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..60u8 {
                s.put(&format!("w{w}-{}", i % 3), bytes(500, i))
                    .await
                    .unwrap();
            }
        }));
    }
    while writers.iter().any(|w| !w.is_finished()) {
        let c = s.clone();
        tokio::task::spawn_blocking(move || c.checkpoint().unwrap())
            .await
            .unwrap();
    }
    for w in writers {
        w.await.unwrap();
    }
    drop(s);
    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap().len(), 12);
    for w in 0..4u8 {
        for k in 0..3u8 {
            let id = format!("w{w}-{k}");
            assert_eq!(
                s.get(&id, 0, 500).await.unwrap(),
                bytes(500, 57 + k),
                "{id}"
            );
        }
    }
}

#[tokio::test]
async fn chunk_data_that_looks_like_a_record_is_never_taken_for_one() {
    let dir = tempfile::tempdir().unwrap();
    // One block per chunk, so the data is contiguous in the volume.
    let s = ChunkStore::open(disks(&dir, 1), 1 << 20).unwrap();
    // A client controls the bytes of data chunks: make one whose data
    // holds a complete, valid record of another volume, placed so that
    // it starts on a page boundary of this volume.
    let other = tempfile::tempdir().unwrap();
    let o = store(&other, 1);
    o.put("forged", bytes(100, 7)).await.unwrap();
    drop(o);
    let forged_vol = volume_files(&other.path().join("d0")).pop().unwrap();
    let record = fs::read(forged_vol).unwrap()[PAGE as usize..].to_vec();
    let header_len = ChunkHeader::new("carrier", 1 << 20, 1)
        .unwrap()
        .encoded_len();
    let at = (3 * PAGE - PAGE - PREFIX_LEN - header_len) as usize;
    let mut data = vec![0u8; 4 * PAGE as usize];
    data[at..at + record.len()].copy_from_slice(&record);
    s.put("carrier", Bytes::from(data)).await.unwrap();
    drop(s);
    let vol = volume_files(&dir.path().join("d0")).pop().unwrap();
    let on_disk = fs::read(&vol).unwrap();
    assert_eq!(&on_disk[3 * PAGE as usize..][..record.len()], &record[..]);
    // Spoil the carrier's own prefix, so that a rescan looks for the
    // next record page by page through the carrier's data.
    let file = fs::OpenOptions::new().write(true).open(&vol).unwrap();
    file.write_all_at(b"XXXX", PAGE).unwrap();
    drop(file);
    let s = ChunkStore::open(disks(&dir, 1), 1 << 20).unwrap();
    assert_eq!(s.list().await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn full_volumes_rotate_and_empty_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = ChunkStore::open_with(disks(&dir, 1), 16, 4 * PAGE).unwrap();
    for i in 0..6 {
        s.put(&format!("c{i}"), bytes(2000, i)).await.unwrap();
    }
    let disk = dir.path().join("d0");
    // Three records of one page per four-page volume (page 0 is the header).
    assert_eq!(volume_files(&disk).len(), 2);
    for i in 0..3 {
        s.delete(&format!("c{i}")).await.unwrap();
    }
    // The first volume is sealed and empty now.
    assert_eq!(volume_files(&disk).len(), 1);
    // A record bigger than a volume gets one of its own.
    s.put("big", bytes(5 * PAGE as usize, 1)).await.unwrap();
    s.put("after", bytes(10, 2)).await.unwrap();
    assert_eq!(volume_files(&disk).len(), 3);
    drop(s);
    let s = ChunkStore::open_with(disks(&dir, 1), 16, 4 * PAGE).unwrap();
    assert_eq!(
        s.list().await.unwrap(),
        vec!["after", "big", "c3", "c4", "c5"]
    );
    assert_eq!(
        s.get("big", 0, 5 * PAGE).await.unwrap(),
        bytes(5 * PAGE as usize, 1)
    );
}

#[tokio::test]
async fn deleted_records_give_their_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    let big = bytes(4 << 20, 5);
    s.put("big", big).await.unwrap();
    let vol = volume_files(&dir.path().join("d0")).pop().unwrap();
    let allocated = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(p).unwrap().blocks() * 512
    };
    assert!(allocated(&vol) > 4 << 20);
    s.delete("big").await.unwrap();
    assert!(allocated(&vol) < 1 << 20, "{}", allocated(&vol));
}

#[tokio::test]
async fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2);
    let tasks: Vec<_> = (0..64u8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.put(&format!("w{i}"), bytes(70_000, i)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    drop(s);
    let s = store(&dir, 2);
    assert_eq!(s.list().await.unwrap().len(), 64);
    for i in 0..64u8 {
        assert_eq!(
            s.get(&format!("w{i}"), 0, 70_000).await.unwrap(),
            bytes(70_000, i)
        );
    }
}

#[tokio::test]
async fn chunk_files_of_the_earlier_layout_are_moved_into_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d0");
    let fanout = disk.join(LEGACY_CHUNKS_DIR).join("ab");
    fs::create_dir_all(&fanout).unwrap();
    fs::write(
        fanout.join("old"),
        chunk::encode_chunk("old", 16, &bytes(500, 4)).unwrap(),
    )
    .unwrap();
    fs::write(fanout.join(".tmp-x-1-1"), b"partial").unwrap();
    let mut bad = chunk::encode_chunk("bad", 16, &bytes(500, 5)).unwrap();
    bad[100] ^= 1;
    fs::write(fanout.join("bad"), bad).unwrap();

    let s = store(&dir, 1);
    assert_eq!(s.list().await.unwrap(), vec!["old"]);
    assert_eq!(s.get("old", 0, 500).await.unwrap(), bytes(500, 4));
    // The corrupt file is kept for inspection; the rest is gone.
    let left: Vec<_> = fs::read_dir(&fanout)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec!["bad"]);
}

#[tokio::test]
async fn a_full_disk_refuses_new_chunks_and_serves_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 1);
    s.put("old", bytes(5000, 1)).await.unwrap();
    s.set_reserve_bytes(1 << 60);
    assert!(matches!(
        s.put("new", bytes(10, 2)).await,
        Err(Error::DiskFull(_))
    ));
    assert!(matches!(s.head("new").await, Err(Error::NotFound(_))));
    assert_eq!(s.get("old", 0, 5000).await.unwrap(), bytes(5000, 1));
    // Deletes need no room.
    s.delete("old").await.unwrap();
    s.set_reserve_bytes(0);
    s.put("new", bytes(10, 2)).await.unwrap();
}

#[test]
fn a_disk_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2);
    let err = ChunkStore::open(disks(&dir, 2), 16).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(s);
    store(&dir, 2);
}

#[test]
fn open_validates_config() {
    assert!(matches!(
        ChunkStore::open(vec![], 16),
        Err(Error::Config(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let d = vec![dir.path().to_path_buf()];
    assert!(matches!(ChunkStore::open(d, 0), Err(Error::Config(_))));
}
