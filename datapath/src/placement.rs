//! Placement: which nodes hold the shards of a segment.
//!
//! Rendezvous (highest-random-weight) hashing over the cluster map: every
//! node gets a score `blake3(segment key, node id)` and the `k + m` best
//! distinct nodes take shards 0..k+m in score order. Adding a node moves only
//! the shards it wins. The result is recorded in the object's metadata, so a
//! later change of the cluster map never loses track of a chunk.
//!
//! Zones: the nodes are taken in score order, at most one per zone while
//! every zone has one, then at most two, and so on. So with at least `k + m`
//! zones the shards of a segment land in `k + m` distinct zones (losing a
//! zone loses one shard), and with fewer they are spread as evenly as the
//! zones allow, always on distinct nodes. A node without a zone label is a
//! zone of its own, so a cluster without zones places exactly as plain
//! rendezvous hashing does.
//!
//! Which nodes are candidates at all is [`candidates`]: active nodes whose
//! heartbeat lease holds and whose disks are not full.

use std::collections::HashMap;

use shale_common::{NodeId, NodeInfo};
use shale_metadata::ClusterView;

/// The failure domain of a node: its zone, or the node alone.
fn domain(n: &NodeInfo) -> (&str, u32) {
    if n.zone.is_empty() {
        ("", n.id)
    } else {
        (n.zone.as_str(), 0)
    }
}

/// The `count` nodes chosen for the segment named `segment_key`, in shard
/// order, spread over zones (see the module docs). Fewer nodes than `count`
/// yields all of them.
pub fn place<'a>(segment_key: &str, nodes: &'a [NodeInfo], count: usize) -> Vec<&'a NodeInfo> {
    let mut scored: Vec<([u8; 32], &NodeInfo)> = nodes
        .iter()
        .map(|n| {
            let mut h = blake3::Hasher::new();
            h.update(segment_key.as_bytes());
            h.update(&n.id.to_le_bytes());
            (*h.finalize().as_bytes(), n)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    let mut chosen: Vec<&NodeInfo> = Vec::with_capacity(count.min(scored.len()));
    let mut per_zone: HashMap<(&str, u32), usize> = HashMap::new();
    let mut taken = vec![false; scored.len()];
    // Round r takes, in score order, nodes of zones holding fewer than r.
    let mut round = 1;
    while chosen.len() < count && chosen.len() < scored.len() {
        for (i, (_, n)) in scored.iter().enumerate() {
            if chosen.len() == count {
                break;
            }
            let held = per_zone.entry(domain(n)).or_default();
            if !taken[i] && *held < round {
                *held += 1;
                taken[i] = true;
                chosen.push(*n);
            }
        }
        round += 1;
    }
    chosen
}

/// Nodes for new chunks, from the cluster map: `usable` are active, up and
/// not known full (`full`); `standby` are the other nodes that are still
/// members (active but down or full, or draining). A segment that finds fewer
/// usable nodes than it has shards names standby nodes for the rest, as
/// chunks not written (recorded as not durable, for the healer), as long as
/// `k + 1` chunks are durable: a 4+2 cluster of six nodes keeps taking
/// writes with one node down or draining. Removed nodes are never named.
pub fn candidates(view: &ClusterView, full: &[NodeId]) -> (Vec<NodeInfo>, Vec<NodeInfo>) {
    let mut usable = Vec::new();
    let mut standby = Vec::new();
    for r in &view.nodes {
        match r.state {
            shale_metadata::NodeState::Removed => {}
            shale_metadata::NodeState::Draining => standby.push(r.info.clone()),
            shale_metadata::NodeState::Active if !r.is_up(view.now_ms) => {
                standby.push(r.info.clone())
            }
            shale_metadata::NodeState::Active if !full.contains(&r.info.id) => {
                usable.push(r.info.clone())
            }
            // A full node keeps its place when too few have room: its chunk
            // is not written, and the healer rebuilds it once there is room.
            shale_metadata::NodeState::Active => standby.push(r.info.clone()),
        }
    }
    (usable, standby)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoned(zones: u32, per_zone: u32) -> Vec<NodeInfo> {
        (0..zones * per_zone)
            .map(|i| NodeInfo {
                id: i + 1,
                addr: format!("127.0.0.1:{}", 7000 + i),
                zone: format!("z{}", i % zones),
            })
            .collect()
    }

    fn zones_of(chosen: &[&NodeInfo]) -> HashMap<String, usize> {
        let mut z = HashMap::new();
        for n in chosen {
            *z.entry(n.zone.clone()).or_default() += 1;
        }
        z
    }

    #[test]
    fn enough_zones_means_one_shard_per_zone() {
        // 6 zones of 3 nodes: every segment gets 6 distinct zones.
        let ns = zoned(6, 3);
        for i in 0..200 {
            let chosen = place(&format!("seg-{i}"), &ns, 6);
            assert_eq!(chosen.len(), 6);
            assert!(zones_of(&chosen).values().all(|&c| c == 1), "{chosen:?}");
        }
    }

    #[test]
    fn fewer_zones_than_shards_spreads_evenly_over_distinct_nodes() {
        // 3 zones of 4 nodes: 2 shards per zone, on 6 distinct nodes.
        let ns = zoned(3, 4);
        for i in 0..200 {
            let chosen = place(&format!("seg-{i}"), &ns, 6);
            let mut ids: Vec<u32> = chosen.iter().map(|n| n.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 6);
            assert!(zones_of(&chosen).values().all(|&c| c == 2), "{chosen:?}");
        }
        // 2 zones, one of 1 node and one of 6: the small zone gets 1 shard.
        let mut ns = zoned(1, 6);
        ns.push(NodeInfo {
            id: 99,
            addr: "x:1".into(),
            zone: "alone".into(),
        });
        let chosen = place("s", &ns, 6);
        assert_eq!(chosen.len(), 6);
        assert_eq!(zones_of(&chosen)["alone"], 1);
    }

    #[test]
    fn without_zones_placement_is_plain_rendezvous() {
        // The first k+m by score, as before zones existed: old objects keep
        // their computed placement.
        let ns = nodes(10);
        for i in 0..50 {
            let key = format!("seg-{i}");
            let mut scored: Vec<([u8; 32], u32)> = ns
                .iter()
                .map(|n| {
                    let mut h = blake3::Hasher::new();
                    h.update(key.as_bytes());
                    h.update(&n.id.to_le_bytes());
                    (*h.finalize().as_bytes(), n.id)
                })
                .collect();
            scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<u32> = scored.iter().take(6).map(|s| s.1).collect();
            let got: Vec<u32> = place(&key, &ns, 6).iter().map(|n| n.id).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn candidates_are_active_up_nodes_with_room_and_down_draining_or_full_ones_stand_by() {
        use shale_metadata::{NodeHealth, NodeRecord, NodeState};
        let record = |id: u32, state: NodeState, last: i64| NodeRecord {
            info: NodeInfo {
                id,
                addr: format!("n{id}:1"),
                zone: String::new(),
            },
            state,
            last_heartbeat_ms: last,
            health: Some(NodeHealth {
                down_after_ms: 1000,
                ..Default::default()
            }),
        };
        let view = ClusterView {
            epoch: 1,
            now_ms: 10_000,
            nodes: vec![
                record(1, NodeState::Active, 9_500),
                record(2, NodeState::Active, 5_000),
                record(3, NodeState::Draining, 9_500),
                record(4, NodeState::Removed, 9_500),
                record(5, NodeState::Active, 9_900),
                NodeRecord {
                    health: None,
                    ..record(6, NodeState::Active, 0)
                },
            ],
        };
        let (usable, standby) = candidates(&view, &[5]);
        let ids = |v: &[NodeInfo]| v.iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(&usable), [1, 6]);
        // Node 5 is full: it keeps a place only as an unwritten chunk.
        assert_eq!(ids(&standby), [2, 3, 5]);
    }

    fn nodes(n: u32) -> Vec<NodeInfo> {
        (1..=n)
            .map(|id| NodeInfo {
                id,
                addr: format!("127.0.0.1:{}", 7000 + id),
                zone: String::new(),
            })
            .collect()
    }

    #[test]
    fn distinct_and_stable() {
        let ns = nodes(10);
        let a = place("obj.p1.s0", &ns, 6);
        let b = place("obj.p1.s0", &ns, 6);
        assert_eq!(a, b);
        let mut ids: Vec<u32> = a.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 6);
    }

    #[test]
    fn adding_a_node_moves_few_shards() {
        let before = nodes(10);
        let after = nodes(11);
        let mut moved = 0;
        for i in 0..200 {
            let key = format!("seg-{i}");
            let a: Vec<u32> = place(&key, &before, 6).iter().map(|n| n.id).collect();
            let b: Vec<u32> = place(&key, &after, 6).iter().map(|n| n.id).collect();
            moved += a.iter().filter(|id| !b.contains(id)).count();
        }
        // Each segment loses at most the one shard node 11 wins.
        assert!(moved <= 200, "moved {moved}");
        assert!(moved > 0);
    }

    #[test]
    fn spreads_first_shard_over_all_nodes() {
        let ns = nodes(6);
        let mut firsts = std::collections::HashSet::new();
        for i in 0..100 {
            firsts.insert(place(&format!("s{i}"), &ns, 6)[0].id);
        }
        assert_eq!(firsts.len(), 6);
    }
}
