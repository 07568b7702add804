//! What the healer needs to know without reading every layout: how many
//! writes were committed with a chunk recorded not durable (the gateway
//! acknowledged the PUT with fewer than k+m chunks written). The count is
//! kept in the same batch as the row that carries such a placement, so a
//! healer that reads it before its sweep's scan either sees the row in the
//! scan or sees the count move on its next round.

use rocksdb::WriteBatch;

use super::*;

impl MetaStore {
    /// Adds one to the count of writes with a chunk not durable, in `batch`.
    pub(crate) fn note_undurable(&self, batch: &mut WriteBatch) -> Result<()> {
        let n = undurable_count(self.get_cursor(UNDURABLE_CURSOR)?.as_deref());
        let key = format!("cursor/{UNDURABLE_CURSOR}");
        batch.put_cf(
            self.cf(CF_CLUSTER)?,
            key.as_bytes(),
            n.wrapping_add(1).to_be_bytes(),
        );
        Ok(())
    }
}
