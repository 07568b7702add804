//! The snapshot file: what a replica keeps of its last Raft snapshot and
//! sends, chunk by chunk, to a replica that is too far behind for the log.
//! A file is written and read one row at a time, so neither the replica
//! that builds a snapshot nor the one that receives it holds it in memory.
//!
//! Layout (version 2), every integer little-endian:
//!
//! ```text
//! magic    b"shale-snapshot-v2\n"
//! meta     u32 length, postcard SnapshotMeta (last log id, membership, id)
//! records  0x01 family: u16 length, name       (rows follow, in key order)
//!          0x02 row:    u32 length, key, u32 length, value
//! end      0x00, u64 number of rows, BLAKE3 of every byte before the hash
//! ```
//!
//! Nothing follows the hash. A file that is cut short, has a byte changed or
//! carries anything after its end is refused before a row is installed.
//!
//! The previous release kept `postcard(SnapshotFile { meta, data })`, the
//! data being `postcard(LegacyRows)`, and sent that data; [`is_current`]
//! tells the two apart (a legacy data's first byte is its number of
//! families, never `b's'`) and [`convert_legacy`] rewrites one as the other.

use crate::raft_types::NodeId;
use openraft::{BasicNode, SnapshotMeta};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// First bytes of a version 2 snapshot file.
pub const MAGIC: &[u8; 18] = b"shale-snapshot-v2\n";
/// Longest snapshot meta accepted (the membership of a few replicas).
const MAX_META: u32 = 1 << 20;
/// Longest row key accepted: keys are bucket and object names and ids.
pub const MAX_KEY: u32 = 1 << 20;
/// Longest row value accepted: the largest row is an upload's part list.
pub const MAX_VALUE: u32 = 64 << 20;

const END: u8 = 0;
const FAMILY: u8 = 1;
const ROW: u8 = 2;

/// A snapshot's meta: the last log id it holds, its membership and its id.
pub type Meta = SnapshotMeta<NodeId, BasicNode>;

/// Writes a snapshot file, row after row.
pub struct Writer<W: Write> {
    out: W,
    hash: blake3::Hasher,
    rows: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a snapshot of `meta` on `out`.
    pub fn new(out: W, meta: &Meta) -> io::Result<Writer<W>> {
        let meta = postcard::to_stdvec(meta).map_err(io::Error::other)?;
        let mut w = Writer {
            out,
            hash: blake3::Hasher::new(),
            rows: 0,
        };
        w.put(MAGIC)?;
        w.put(&(meta.len() as u32).to_le_bytes())?;
        w.put(&meta)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }

    /// Starts the rows of column family `name`.
    pub fn family(&mut self, name: &str) -> io::Result<()> {
        let len = u16::try_from(name.len()).map_err(|_| invalid("family name too long"))?;
        self.put(&[FAMILY])?;
        self.put(&len.to_le_bytes())?;
        self.put(name.as_bytes())
    }

    /// One row of the current family.
    pub fn row(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let (k, v) = (key.len() as u64, value.len() as u64);
        if k > MAX_KEY as u64 || v > MAX_VALUE as u64 {
            return Err(invalid("row too large for a snapshot"));
        }
        self.put(&[ROW])?;
        self.put(&(k as u32).to_le_bytes())?;
        self.put(key)?;
        self.put(&(v as u32).to_le_bytes())?;
        self.put(value)?;
        self.rows += 1;
        Ok(())
    }

    /// Ends the file and returns what it was written on (not yet synced).
    pub fn finish(mut self) -> io::Result<W> {
        let rows = self.rows;
        self.put(&[END])?;
        self.put(&rows.to_le_bytes())?;
        let hash = self.hash.finalize();
        self.out.write_all(hash.as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One record of a snapshot file.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// The rows that follow are column family `0`'s.
    Family(String),
    /// A row: key, value.
    Row(Vec<u8>, Vec<u8>),
}

/// Reads a snapshot file, record after record; [`Reader::next`] answers
/// `None` only after the end record and its hash are checked.
pub struct Reader<R: Read> {
    input: R,
    hash: blake3::Hasher,
    meta: Meta,
    rows: u64,
    in_family: bool,
    ended: bool,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads exactly `len` bytes, allocating only as they arrive: a length
/// that lies costs what the input holds, not what it claims.
fn take(input: &mut impl Read, len: u32, what: &str) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity((len as usize).min(64 << 10));
    input.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len as usize {
        return Err(invalid(format!("snapshot cut short in a {what}")));
    }
    Ok(buf)
}

impl<R: Read> Reader<R> {
    /// Reads the header: `input` must start with [`MAGIC`].
    pub fn new(mut input: R) -> io::Result<Reader<R>> {
        let mut hash = blake3::Hasher::new();
        let magic = take(&mut input, MAGIC.len() as u32, "header")
            .map_err(|_| invalid("not a snapshot file (too short)"))?;
        if magic != MAGIC {
            return Err(invalid("not a version 2 snapshot file"));
        }
        hash.update(&magic);
        let len = take(&mut input, 4, "header")?;
        hash.update(&len);
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
        if len > MAX_META {
            return Err(invalid("snapshot meta too large"));
        }
        let raw = take(&mut input, len, "header")?;
        hash.update(&raw);
        let meta: Meta = postcard::from_bytes(&raw).map_err(|e| invalid(e.to_string()))?;
        Ok(Reader {
            input,
            hash,
            meta,
            rows: 0,
            in_family: false,
            ended: false,
        })
    }

    /// The snapshot's meta, from its header.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn get(&mut self, len: u32, what: &str) -> io::Result<Vec<u8>> {
        let bytes = take(&mut self.input, len, what)?;
        self.hash.update(&bytes);
        Ok(bytes)
    }

    fn get_u32(&mut self, what: &str) -> io::Result<u32> {
        let b = self.get(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    /// The next record, or `None` at a checked end.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.ended {
            return Ok(None);
        }
        let tag = self.get(1, "record")?[0];
        match tag {
            FAMILY => {
                let len = self.get(2, "family")?;
                let len = u16::from_le_bytes(len.try_into().expect("2 bytes"));
                let name = self.get(len as u32, "family")?;
                let name = String::from_utf8(name).map_err(|_| invalid("family name not UTF-8"))?;
                self.in_family = true;
                Ok(Some(Record::Family(name)))
            }
            ROW => {
                if !self.in_family {
                    return Err(invalid("snapshot row before any family"));
                }
                let k = self.get_u32("row")?;
                if k > MAX_KEY {
                    return Err(invalid("snapshot row key too large"));
                }
                let key = self.get(k, "row")?;
                let v = self.get_u32("row")?;
                if v > MAX_VALUE {
                    return Err(invalid("snapshot row value too large"));
                }
                let value = self.get(v, "row")?;
                self.rows += 1;
                Ok(Some(Record::Row(key, value)))
            }
            END => {
                let rows = self.get(8, "end")?;
                let rows = u64::from_le_bytes(rows.try_into().expect("8 bytes"));
                if rows != self.rows {
                    return Err(invalid(format!(
                        "snapshot end counts {rows} rows, the file holds {}",
                        self.rows
                    )));
                }
                let want = self.hash.finalize();
                let got = take(&mut self.input, 32, "end")?;
                if got != want.as_bytes() {
                    return Err(invalid("snapshot hash does not match its contents"));
                }
                let mut after = [0u8; 1];
                if self.input.read(&mut after)? != 0 {
                    return Err(invalid("bytes after the snapshot's end"));
                }
                self.ended = true;
                Ok(None)
            }
            other => Err(invalid(format!("unknown snapshot record {other}"))),
        }
    }

    /// Reads every record to the checked end: the meta and the row count
    /// of a whole, intact file.
    pub fn verify(mut self) -> io::Result<(Meta, u64)> {
        while self.next_record()?.is_some() {}
        Ok((self.meta, self.rows))
    }
}

/// Whether `head` (a file's first bytes) starts a version 2 snapshot; if
/// not, it is the previous release's form.
pub fn is_current(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// The previous release's snapshot file: its meta and its data.
#[derive(Serialize, Deserialize)]
pub struct LegacyFile {
    /// The snapshot's meta.
    pub meta: Meta,
    /// `postcard(LegacyRows)`: what the previous release sent.
    pub data: Vec<u8>,
}

/// One row: key, value.
pub type Row = (Vec<u8>, Vec<u8>);

/// The previous release's snapshot data: every row, by column family.
#[derive(Serialize, Deserialize)]
pub struct LegacyRows {
    /// (column family, rows in key order).
    pub families: Vec<(String, Vec<Row>)>,
}

/// Writes the previous release's snapshot `data` (rows only; the meta
/// travelled beside it) as a version 2 file of `meta` on `out`.
pub fn convert_legacy<W: Write>(meta: &Meta, data: &[u8], out: W) -> io::Result<W> {
    let rows: LegacyRows = postcard::from_bytes(data).map_err(|e| invalid(e.to_string()))?;
    let mut w = Writer::new(out, meta)?;
    for (name, family) in &rows.families {
        w.family(name)?;
        for (k, v) in family {
            w.row(k, v)?;
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, StoredMembership};

    fn meta() -> Meta {
        SnapshotMeta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(3, 1), 77)),
            last_membership: StoredMembership::default(),
            snapshot_id: "3-1-77-123".into(),
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &meta()).unwrap();
        w.family("buckets").unwrap();
        w.row(b"a", b"1").unwrap();
        w.row(b"b", &[7u8; 300]).unwrap();
        w.family("empty").unwrap();
        w.family("objects").unwrap();
        w.row(b"", b"").unwrap();
        w.finish().unwrap()
    }

    fn records(bytes: &[u8]) -> io::Result<Vec<Record>> {
        let mut r = Reader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let bytes = sample();
        assert!(is_current(&bytes));
        assert_eq!(Reader::new(&bytes[..]).unwrap().meta(), &meta());
        let got = records(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                Record::Family("buckets".into()),
                Record::Row(b"a".to_vec(), b"1".to_vec()),
                Record::Row(b"b".to_vec(), vec![7u8; 300]),
                Record::Family("empty".into()),
                Record::Family("objects".into()),
                Record::Row(vec![], vec![]),
            ]
        );
        assert_eq!(Reader::new(&bytes[..]).unwrap().verify().unwrap().1, 3);
    }

    /// Cut anywhere, a byte changed anywhere, or a byte added at the end:
    /// refused, never half read as whole.
    #[test]
    fn a_damaged_snapshot_is_refused() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let r = Reader::new(&bytes[..cut]).and_then(|r| r.verify());
            assert!(r.is_err(), "cut at {cut} was accepted");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            let r = Reader::new(&bad[..]).and_then(|r| r.verify());
            assert!(r.is_err(), "a change at {at} was accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Reader::new(&longer[..]).and_then(|r| r.verify()).is_err());
    }

    /// A length that claims gigabytes costs only what the input holds.
    #[test]
    fn a_lying_length_fails_without_allocating_it() {
        let mut bytes = Writer::new(Vec::new(), &meta()).unwrap().out;
        bytes.extend_from_slice(&[FAMILY, 1, 0, b'x', ROW]);
        bytes.extend_from_slice(&MAX_KEY.to_le_bytes());
        let err = Reader::new(&bytes[..]).unwrap().verify().unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
    }

    /// The previous release's data converts to the same rows.
    #[test]
    fn the_previous_releases_snapshot_converts() {
        let legacy = LegacyRows {
            families: vec![
                ("buckets".into(), vec![(b"a".to_vec(), b"1".to_vec())]),
                ("objects".into(), vec![]),
            ],
        };
        let data = postcard::to_stdvec(&legacy).unwrap();
        assert!(!is_current(&data));
        let file = postcard::to_stdvec(&LegacyFile {
            meta: meta(),
            data: data.clone(),
        })
        .unwrap();
        assert!(!is_current(&file));
        let converted = convert_legacy(&meta(), &data, Vec::new()).unwrap();
        assert_eq!(
            records(&converted).unwrap(),
            vec![
                Record::Family("buckets".into()),
                Record::Row(b"a".to_vec(), b"1".to_vec()),
                Record::Family("objects".into()),
            ]
        );
    }
}
