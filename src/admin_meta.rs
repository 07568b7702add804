//! `shale admin metadata …`: the metadata group's Raft membership.
//!
//! `status` asks every listed replica for its view (role, term, log and
//! applied index) and prints the leader's view of the group with each
//! member's replication lag; `add-replica` adds a replica (as a learner
//! until it has caught up, then as a voter); `remove-replica` removes one;
//! `campaign` makes a replica start an election now (to move the leadership
//! to a replica that has caught up). Membership changes go to the leader,
//! which the client finds itself.

use anyhow::{Result, bail};
use clap::Subcommand;
use shale_metadata::{MembershipChange, MetaClient, RaftStatus};

/// How long `status` waits for one replica's answer.
const REPLICA_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `shale admin metadata`.
#[derive(clap::Args, Clone)]
pub struct MetadataArgs {
    /// The metadata group's replicas (`host:port`, comma-separated).
    #[arg(long, env = "SHALE_METADATA", default_value = "127.0.0.1:7100")]
    metadata: String,
    /// The cluster's secrets file (else `SHALE_CLUSTER_SECRET_FILE` or
    /// `SHALE_CLUSTER_SECRET`): the metadata group answers only its
    /// cluster's roles.
    #[arg(long)]
    cluster_secret_file: Option<std::path::PathBuf>,
    /// The cluster's CA (PEM) when the replicas serve TLS between roles
    /// (`internal_tls`): they are called over https, trusting it.
    #[arg(long, env = "SHALE_INTERNAL_TLS_CA")]
    internal_tls_ca: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: MetadataCommand,
}

#[derive(Subcommand, Clone)]
enum MetadataCommand {
    /// Every replica's Raft state, the leader, and each member's lag.
    Status,
    /// Add a replica (started with this id and address, empty or wiped).
    AddReplica {
        /// Its Raft node id.
        #[arg(long)]
        id: u64,
        /// Its address (`host:port`).
        #[arg(long)]
        addr: String,
    },
    /// Remove a replica from the group.
    RemoveReplica {
        /// Its Raft node id.
        #[arg(long)]
        id: u64,
    },
    /// Make the replica at ADDR start an election now.
    Campaign {
        /// The replica's address (`host:port`).
        #[arg(long)]
        addr: String,
    },
}

/// Runs one `shale admin metadata` command.
pub async fn run(args: MetadataArgs) -> Result<()> {
    let auth = shale_common::cluster_auth::ClusterAuth::configured(
        args.cluster_secret_file.as_deref(),
        "admin",
    )
    .map_err(anyhow::Error::msg)?;
    let auth = match &args.internal_tls_ca {
        Some(ca) => auth.with_tls(shale_common::tls::client_only(ca).map_err(anyhow::Error::msg)?),
        None => auth,
    };
    let client = MetaClient::new(&args.metadata, auth);
    match args.command {
        MetadataCommand::Status => status(&client).await,
        MetadataCommand::AddReplica { id, addr } => {
            let s = client
                .change_membership(&MembershipChange::AddReplica { id, addr })
                .await?;
            println!("replica {id} added");
            print_group(&s);
            Ok(())
        }
        MetadataCommand::RemoveReplica { id } => {
            let s = client
                .change_membership(&MembershipChange::RemoveReplica { id })
                .await?;
            println!("replica {id} removed");
            print_group(&s);
            Ok(())
        }
        MetadataCommand::Campaign { addr } => {
            client.campaign(&addr).await?;
            println!("replica at {addr} started an election");
            Ok(())
        }
    }
}

async fn status(client: &MetaClient) -> Result<()> {
    let mut leader_view: Option<RaftStatus> = None;
    let mut reached = 0;
    for addr in client.addrs() {
        // A replica that hangs (stopped, its host cut off) must not hold the
        // screen up for the client's whole RPC timeout.
        let answer = tokio::time::timeout(REPLICA_WAIT, client.raft_status(addr))
            .await
            .unwrap_or_else(|_| {
                Err(shale_metadata::MetaError::Unavailable(format!(
                    "no answer within {} s",
                    REPLICA_WAIT.as_secs()
                )))
            });
        match answer {
            Ok(s) => {
                reached += 1;
                println!(
                    "replica {} at {addr}: {} term {} last_log {} applied {}",
                    s.id,
                    s.state,
                    s.term,
                    opt(s.last_log),
                    opt(s.applied)
                );
                if s.state == "Leader" {
                    leader_view = Some(s);
                }
            }
            Err(e) => println!("replica at {addr}: unreachable ({e})"),
        }
    }
    if reached == 0 {
        bail!("no metadata replica answered");
    }
    match leader_view {
        Some(s) => {
            println!("leader: {}", s.id);
            print_group(&s);
        }
        None => println!("leader: none among the listed replicas"),
    }
    Ok(())
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn print_group(s: &RaftStatus) {
    for m in &s.members {
        let lag = match (s.last_log, m.matched) {
            (Some(last), Some(matched)) => (last.saturating_sub(matched)).to_string(),
            _ => "-".into(),
        };
        println!(
            "  member {} {} {} matched {} lag {}",
            m.id,
            m.addr,
            if m.voter { "voter" } else { "learner" },
            opt(m.matched),
            lag
        );
    }
}
