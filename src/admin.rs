//! `shale admin`: operate a running cluster through a gateway's admin API.
//!
//! Every command is one SigV4-signed HTTP request to a gateway
//! (`/?shale-admin=<operation>`, see `shale_s3_gateway::admin`), made with a
//! root key, the way the aws CLI signs S3 requests: the endpoint and the
//! credentials come from flags or from `SHALE_ENDPOINT`, `SHALE_ACCESS_KEY`
//! and `SHALE_SECRET_KEY`. Answers are JSON; the commands print them as text
//! (or as JSON with `--json`).

use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use shale_common::admin_client::AdminClient;
use shale_s3_gateway::admin::answer::{self, text};

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// `shale admin …`.
#[derive(Args)]
pub struct AdminArgs {
    /// The gateway's S3 endpoint (http only).
    #[arg(long, env = "SHALE_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// A root access key.
    #[arg(long, env = "SHALE_ACCESS_KEY")]
    access_key: Option<String>,
    /// Its secret.
    #[arg(long, env = "SHALE_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Region to sign for (the gateway's region).
    #[arg(long, env = "SHALE_REGION", default_value = "us-east-1")]
    region: String,
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// One screen: region, metadata replicas with role and lag, nodes with zone, state (drain progress), last heartbeat, disks, capacity and health; scrub, heal and GC progress.
    Status,
    /// Buckets.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Storage nodes.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Access keys: create (for a user, or a key of its own), list,
    /// grant, disable, enable, rotate, delete.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Users: create, list, delete, grant, and their IAM policies.
    #[command(subcommand)]
    User(UserCommand),
    /// The built-in key service of SSE-KMS: its keys.
    #[command(subcommand)]
    Kms(KmsCommand),
    /// Server-side encryption: the master keys and the re-sealing of
    /// objects' keys after a rotation.
    #[command(subcommand)]
    Sse(SseCommand),
    /// The metadata group (talks to the replicas directly): status,
    /// add-replica, remove-replica, campaign.
    Metadata(crate::admin_meta::MetadataArgs),
    /// The cluster's secrets file, which every role signs its internal
    /// requests with: create, list, and rotate (add, use, retire).
    ClusterSecret(crate::admin_secret::SecretArgs),
    /// The metadata replicas' secrets key file, which access-key secrets
    /// are sealed under at rest: create, list, and rotate (add, use,
    /// retire).
    SecretsKey(crate::admin_secret::SecretsKeyArgs),
    /// The gateways' master key file, which the keys of objects stored
    /// with server-side encryption (SSE-S3) are sealed under: create,
    /// list, and rotate (add, use, retire).
    MasterKey(crate::admin_secret::MasterKeyArgs),
    /// Linked regions (one deployment, one bucket namespace): list, add,
    /// remove. Link every region with every other, in each region.
    #[command(subcommand)]
    Region(RegionCommand),
    /// Bucket replication: status (backlog, lag, failures), retry of
    /// FAILED versions.
    #[command(subcommand)]
    Replication(ReplicationCommand),
}

#[derive(Subcommand)]
enum ReplicationCommand {
    /// One screen: per source and destination bucket, the backlog, the
    /// oldest pending version, lag p50/p99 of the last minutes,
    /// throughput, failures and the last error.
    Status { bucket: Option<String> },
    /// Put the FAILED versions (of BUCKET, or of every bucket) back in the
    /// queue.
    Retry { bucket: Option<String> },
    /// Replicate what was in BUCKET before its rules (S3's Batch
    /// Replication): every version and marker without a replication
    /// status is queued, page by page, with a progress bar. Run again
    /// after a crash, it goes on where it stopped.
    Resync {
        bucket: String,
        /// Only versions written before this: a date (2026-12-01T00:00:00Z)
        /// or an age (90s, 30m, 12h, 7d).
        #[arg(long)]
        older_than: Option<String>,
        /// Start from the first key, not where the last run stopped.
        #[arg(long)]
        restart: bool,
    },
}

/// `--older-than`: a date, or an age before now; Unix ms.
fn older_than_ms(text: &str) -> Result<i64> {
    let now = time::OffsetDateTime::now_utc();
    let unit = |c: char| match c {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    };
    if let Some(last) = text.chars().last()
        && let Some(secs) = unit(last)
        && let Ok(n) = text[..text.len() - 1].parse::<i64>()
    {
        let at = now - time::Duration::seconds(n.saturating_mul(secs));
        return Ok((at.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            anyhow::anyhow!(
                "--older-than {text}: a date (RFC 3339) or an age (90s, 30m, 12h, 7d): {e}"
            )
        })?;
    Ok((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// `shale admin replication resync`: pages until done, with a progress
/// bar on stderr.
async fn resync(
    args: &AdminArgs,
    bucket: &str,
    older_than: Option<&str>,
    restart: bool,
) -> Result<()> {
    let older = older_than.map(older_than_ms).transpose()?;
    let total = call(
        args,
        "GET",
        "replication-resync-total",
        &[("bucket", bucket.to_owned())],
    )
    .await?["versions"]
        .as_u64()
        .unwrap_or(0);
    let (mut scanned, mut queued) = (0u64, 0u64);
    let mut first = true;
    loop {
        let mut params = vec![("bucket", bucket.to_owned())];
        if let Some(t) = older {
            params.push(("older_than_ms", t.to_string()));
        }
        if restart && first {
            params.push(("restart", "true".to_owned()));
        }
        first = false;
        let page = call(args, "POST", "replication-resync", &params).await?;
        scanned += page["scanned"].as_u64().unwrap_or(0);
        queued += page["queued"].as_u64().unwrap_or(0);
        let done = page["done"] == true;
        let shown = if done {
            total.max(scanned)
        } else {
            scanned.min(total)
        };
        let pct = if total == 0 {
            100
        } else {
            shown * 100 / total.max(1)
        };
        let bar: String = (0..30)
            .map(|i| if i * 100 / 30 < pct { '#' } else { '.' })
            .collect();
        eprint!("\r[{bar}] {pct:>3}% {shown}/{total} versions looked at, {queued} queued");
        if done {
            eprintln!();
            break;
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"bucket": bucket, "scanned": scanned, "queued": queued})
        );
    } else {
        println!("{queued} versions of {bucket} queued for replication ({scanned} looked at)");
    }
    Ok(())
}

#[derive(Subcommand)]
enum RegionCommand {
    /// This region and the regions it is linked with.
    List,
    /// Link a region (or this one, by its own name: every region lists
    /// itself too): its S3 endpoint, and the root key to sign with there.
    Add {
        name: String,
        /// Its S3 endpoint, http://HOST:PORT.
        endpoint: String,
        /// The root key requests to it are signed with (default: this
        /// command's; keys are the same in every region).
        #[arg(long)]
        link_key: Option<String>,
        /// It is the deployment's namespace region (the registry of bucket
        /// names, and the identities): exactly one region is.
        #[arg(long)]
        namespace: bool,
    },
    /// Unlink a region.
    Remove { name: String },
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Every bucket.
    List,
    /// A bucket's region, creation time, objects, bytes and grants.
    Info { bucket: String },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Place no new chunks on the node and move its chunks off (it keeps
    /// serving reads meanwhile); `status` shows it drained once done.
    Drain { node: u32 },
    /// Make a draining (or removed) node active again.
    Undrain { node: u32 },
    /// Take the node out of the cluster. Refused while objects still have
    /// chunks on it (drain it first).
    Remove {
        node: u32,
        /// Remove it even if it holds chunks (or cannot be asked): they are
        /// lost from it until the healer rebuilds them elsewhere.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make an access key: a key of user --user, or (without it) a key
    /// that is a user of its own, with grants; prints its secret (once).
    Create {
        /// A name for the key.
        #[arg(long)]
        name: String,
        /// BUCKET:read|write|owner (repeat for more buckets); not with
        /// --user (grant the user instead).
        #[arg(long = "grant", value_name = "BUCKET:PERMISSION")]
        grants: Vec<String>,
        /// The user the key belongs to.
        #[arg(long)]
        user: Option<String>,
    },
    /// Every key, its user and its grants (no secrets).
    List,
    /// Delete a key (root keys cannot be deleted here).
    Delete { access_key: String },
    /// Give a key's user read, write or owner on a bucket, or take it away
    /// (none).
    Grant {
        access_key: String,
        bucket: String,
        #[arg(value_parser = ["read", "write", "owner", "none"])]
        permission: String,
    },
    /// Disable a key: it signs nothing (InvalidAccessKeyId) until enabled.
    Disable { access_key: String },
    /// Enable a disabled key.
    Enable { access_key: String },
    /// Make a new key for the key's user and disable this one; prints the
    /// new secret (once). Delete the old key once nothing uses it.
    Rotate { access_key: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Make a user (1 to 64 of A-Z a-z 0-9 + = , . @ _ -); give it keys
    /// with `key create --user`.
    Create { name: String },
    /// Every user with its keys and grants (a key made without --user is
    /// listed as a user of its own, named after it).
    List,
    /// Delete a user that has no keys left.
    Delete { name: String },
    /// Give a user read, write or owner on a bucket, or take it away
    /// (none).
    Grant {
        name: String,
        bucket: String,
        #[arg(value_parser = ["read", "write", "owner", "none"])]
        permission: String,
    },
    /// The user's IAM policy.
    #[command(subcommand)]
    Policy(UserPolicyCommand),
}

#[derive(Subcommand)]
enum SseCommand {
    /// The master keys this gateway holds and the re-sealing progress:
    /// objects' keys still sealed under an older key (`stale left`, 0
    /// once an older master key or KMS key version can be retired).
    Status,
    /// Start a re-sealing pass now (one runs every 30 s anyway).
    Reseal,
}

#[derive(Subcommand)]
enum KmsCommand {
    /// KMS keys: create, list, enable, disable, rotate.
    #[command(subcommand)]
    Key(KmsKeyCommand),
}

#[derive(Subcommand)]
enum KmsKeyCommand {
    /// Make a key (its material sealed under the gateways' master key);
    /// prints its id and ARN, which `--sse-kms-key-id` takes.
    Create {
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Every key: id, ARN, enabled, versions.
    List,
    /// Let the key seal and open again.
    Enable { id: String },
    /// Stop the key: new objects cannot use it and the objects it sealed
    /// cannot be read until it is enabled again (every gateway within 5 s).
    Disable { id: String },
    /// A new version of the key seals new objects' keys; the older
    /// versions keep opening what they sealed.
    Rotate { id: String },
}

#[derive(Subcommand)]
enum UserPolicyCommand {
    /// Set the user's IAM policy from FILE (`-`: standard input).
    Set { name: String, file: String },
    /// Print the user's IAM policy.
    Get { name: String },
    /// Delete the user's IAM policy.
    Delete { name: String },
}

/// The text of a policy file (`-`: standard input).
fn read_policy(file: &str) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("reading {file}: {e}"))?;
    }
    Ok(text)
}

/// Runs one `shale admin` command.
pub async fn run(args: AdminArgs) -> Result<()> {
    if let AdminCommand::Metadata(m) = &args.command {
        return crate::admin_meta::run(m.clone()).await;
    }
    if let AdminCommand::ClusterSecret(s) = &args.command {
        return crate::admin_secret::run(s.clone());
    }
    if let AdminCommand::SecretsKey(s) = &args.command {
        return crate::admin_secret::run_secrets_key(s.clone());
    }
    if let AdminCommand::MasterKey(s) = &args.command {
        return crate::admin_secret::run_master_key(s.clone());
    }
    if args.access_key.is_none() || args.secret_key.is_none() {
        bail!(
            "a root access key is needed: --access-key and --secret-key (or SHALE_ACCESS_KEY and SHALE_SECRET_KEY)"
        );
    }
    if let AdminCommand::Replication(ReplicationCommand::Resync {
        bucket,
        older_than,
        restart,
    }) = &args.command
    {
        return resync(&args, bucket, older_than.as_deref(), *restart).await;
    }
    let (method, op, params): (&str, &str, Vec<(&str, String)>) = match &args.command {
        AdminCommand::Metadata(_)
        | AdminCommand::ClusterSecret(_)
        | AdminCommand::SecretsKey(_)
        | AdminCommand::MasterKey(_) => {
            return Ok(()); // answered above
        }
        AdminCommand::Status => ("GET", "status", vec![]),
        AdminCommand::Region(RegionCommand::List) => ("GET", "region-list", vec![]),
        AdminCommand::Replication(ReplicationCommand::Status { bucket }) => (
            "GET",
            "replication-status",
            bucket.iter().map(|b| ("bucket", b.clone())).collect(),
        ),
        AdminCommand::Replication(ReplicationCommand::Resync { .. }) => return Ok(()),
        AdminCommand::Replication(ReplicationCommand::Retry { bucket }) => (
            "POST",
            "replication-retry",
            bucket.iter().map(|b| ("bucket", b.clone())).collect(),
        ),
        AdminCommand::Region(RegionCommand::Add {
            name,
            endpoint,
            link_key,
            namespace,
        }) => {
            let mut p = vec![
                ("name", name.clone()),
                ("endpoint", endpoint.clone()),
                ("namespace", namespace.to_string()),
            ];
            if let Some(k) = link_key {
                p.push(("access_key", k.clone()));
            }
            ("POST", "region-add", p)
        }
        AdminCommand::Region(RegionCommand::Remove { name }) => {
            ("POST", "region-remove", vec![("name", name.clone())])
        }
        AdminCommand::Bucket(BucketCommand::List) => ("GET", "bucket-list", vec![]),
        AdminCommand::Bucket(BucketCommand::Info { bucket }) => {
            ("GET", "bucket-info", vec![("bucket", bucket.clone())])
        }
        AdminCommand::Node(NodeCommand::Drain { node }) => {
            ("POST", "node-drain", vec![("node", node.to_string())])
        }
        AdminCommand::Node(NodeCommand::Undrain { node }) => {
            ("POST", "node-undrain", vec![("node", node.to_string())])
        }
        AdminCommand::Node(NodeCommand::Remove { node, force }) => (
            "POST",
            "node-remove",
            vec![("node", node.to_string()), ("force", force.to_string())],
        ),
        AdminCommand::Key(KeyCommand::Create { name, grants, user }) => {
            let mut p = vec![("name", name.clone())];
            p.extend(grants.iter().map(|g| ("grant", g.clone())));
            p.extend(user.iter().map(|u| ("user", u.clone())));
            ("POST", "key-create", p)
        }
        AdminCommand::Key(KeyCommand::Disable { access_key }) => (
            "POST",
            "key-disable",
            vec![("access_key", access_key.clone())],
        ),
        AdminCommand::Key(KeyCommand::Enable { access_key }) => (
            "POST",
            "key-enable",
            vec![("access_key", access_key.clone())],
        ),
        AdminCommand::Key(KeyCommand::Rotate { access_key }) => (
            "POST",
            "key-rotate",
            vec![("access_key", access_key.clone())],
        ),
        AdminCommand::User(UserCommand::Create { name }) => {
            ("POST", "user-create", vec![("name", name.clone())])
        }
        AdminCommand::User(UserCommand::List) => ("GET", "user-list", vec![]),
        AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::Create { description })) => (
            "POST",
            "kms-key-create",
            vec![("description", description.clone())],
        ),
        AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::List)) => ("GET", "kms-key-list", vec![]),
        AdminCommand::Sse(SseCommand::Status) => ("GET", "status", vec![]),
        AdminCommand::Sse(SseCommand::Reseal) => ("POST", "sse-reseal", vec![]),
        AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::Enable { id })) => {
            ("POST", "kms-key-enable", vec![("id", id.clone())])
        }
        AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::Disable { id })) => {
            ("POST", "kms-key-disable", vec![("id", id.clone())])
        }
        AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::Rotate { id })) => {
            ("POST", "kms-key-rotate", vec![("id", id.clone())])
        }
        AdminCommand::User(UserCommand::Delete { name }) => {
            ("POST", "user-delete", vec![("name", name.clone())])
        }
        AdminCommand::User(UserCommand::Grant {
            name,
            bucket,
            permission,
        }) => (
            "POST",
            "key-grant",
            vec![
                ("user", name.clone()),
                ("bucket", bucket.clone()),
                ("permission", permission.clone()),
            ],
        ),
        AdminCommand::User(UserCommand::Policy(UserPolicyCommand::Set { name, file })) => (
            "POST",
            "user-policy-set",
            vec![("name", name.clone()), ("policy", read_policy(file)?)],
        ),
        AdminCommand::User(UserCommand::Policy(UserPolicyCommand::Get { name })) => {
            ("GET", "user-policy-get", vec![("name", name.clone())])
        }
        AdminCommand::User(UserCommand::Policy(UserPolicyCommand::Delete { name })) => {
            ("POST", "user-policy-delete", vec![("name", name.clone())])
        }
        AdminCommand::Key(KeyCommand::List) => ("GET", "key-list", vec![]),
        AdminCommand::Key(KeyCommand::Delete { access_key }) => (
            "POST",
            "key-delete",
            vec![("access_key", access_key.clone())],
        ),
        AdminCommand::Key(KeyCommand::Grant {
            access_key,
            bucket,
            permission,
        }) => (
            "POST",
            "key-grant",
            vec![
                ("access_key", access_key.clone()),
                ("bucket", bucket.clone()),
                ("permission", permission.clone()),
            ],
        ),
    };
    let answer = call(&args, method, op, &params).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    match &args.command {
        AdminCommand::Metadata(_)
        | AdminCommand::ClusterSecret(_)
        | AdminCommand::SecretsKey(_)
        | AdminCommand::MasterKey(_)
        | AdminCommand::Replication(ReplicationCommand::Resync { .. }) => {}
        AdminCommand::Status => print_status(&answer),
        AdminCommand::Region(RegionCommand::List) => {
            println!("this region: {}", text(&answer["region"]));
            for r in answer["regions"].as_array().into_iter().flatten() {
                let ns = if r["namespace"] == true {
                    "\tnamespace"
                } else {
                    ""
                };
                println!(
                    "{}\t{}\t{}{ns}",
                    text(&r["name"]),
                    text(&r["endpoint"]),
                    text(&r["access_key"])
                );
            }
        }
        AdminCommand::Region(_) => println!("{answer}"),
        AdminCommand::Replication(ReplicationCommand::Status { .. }) => print_replication(&answer),
        AdminCommand::Replication(ReplicationCommand::Retry { .. }) => {
            println!(
                "{} FAILED versions put back in the queue",
                answer["retried"]
            );
        }
        AdminCommand::Bucket(BucketCommand::List) => {
            for b in answer.as_array().into_iter().flatten() {
                println!("{}\t{}", text(&b["name"]), text(&b["region"]));
            }
        }
        AdminCommand::Key(KeyCommand::List) => {
            for k in answer.as_array().into_iter().flatten() {
                let disabled = if k["disabled"] == true {
                    "\tdisabled"
                } else {
                    ""
                };
                println!(
                    "{}\t{}\tuser {}\t{}{disabled}",
                    text(&k["access_key"]),
                    text(&k["name"]),
                    text(&k["user"]),
                    grants(&k["grants"])
                );
            }
        }
        AdminCommand::Key(KeyCommand::Create { .. } | KeyCommand::Rotate { .. }) => {
            println!("access key: {}", text(&answer["access_key"]));
            println!("secret key: {}", text(&answer["secret_key"]));
            println!("name:       {}", text(&answer["name"]));
            println!("user:       {}", text(&answer["user"]));
            if let Some(old) = answer["disabled_key"].as_str() {
                println!("disabled:   {old} (delete it once nothing uses it)");
            } else {
                println!("grants:     {}", grants(&answer["grants"]));
            }
        }
        AdminCommand::User(UserCommand::List) => {
            for u in answer.as_array().into_iter().flatten() {
                let keys: Vec<String> = u["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| {
                        let off = if k["disabled"] == true {
                            " (disabled)"
                        } else {
                            ""
                        };
                        format!("{}{off}", text(&k["access_key"]))
                    })
                    .collect();
                let policy = if u["policy"] == true { "\tpolicy" } else { "" };
                println!(
                    "{}\tkeys {}\t{}{policy}",
                    text(&u["name"]),
                    keys.join(","),
                    grants(&u["grants"])
                );
            }
        }
        AdminCommand::User(UserCommand::Create { .. }) => {
            println!("user:         {}", text(&answer["name"]));
            println!("arn:          {}", text(&answer["arn"]));
            println!("canonical id: {}", text(&answer["canonical_id"]));
        }
        AdminCommand::User(UserCommand::Policy(UserPolicyCommand::Get { .. })) => {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        AdminCommand::User(_) => println!("ok: {answer}"),
        AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::List)) => {
            for k in answer.as_array().into_iter().flatten() {
                let state = if k["enabled"] == true {
                    "enabled"
                } else {
                    "disabled"
                };
                println!(
                    "{}\t{state}\tversions {}\t{}\t{}",
                    text(&k["id"]),
                    k["versions"],
                    text(&k["arn"]),
                    text(&k["description"])
                );
            }
        }
        AdminCommand::Sse(SseCommand::Status) => print_encryption(&answer["encryption"]),
        AdminCommand::Sse(SseCommand::Reseal) => {
            println!("a re-sealing pass starts now");
            print_encryption(&answer);
        }
        AdminCommand::Kms(_) => {
            let state = if answer["enabled"] == true {
                "enabled"
            } else {
                "disabled"
            };
            println!("id:       {}", text(&answer["id"]));
            println!("arn:      {}", text(&answer["arn"]));
            println!("state:    {state}");
            println!("versions: {}", answer["versions"]);
        }
        AdminCommand::Bucket(BucketCommand::Info { .. }) => {
            println!("bucket:   {}", text(&answer["name"]));
            println!("region:   {}", text(&answer["region"]));
            println!(
                "created:  {}",
                time_of(answer["created_ms"].as_i64().unwrap_or(0))
            );
            let more = if answer["counted_all"].as_bool() == Some(false) {
                " (at least)"
            } else {
                ""
            };
            println!(
                "objects:  {}{more}, {}",
                answer["objects"],
                bytes(answer["bytes"].as_u64())
            );
            let g: Vec<String> = answer["grants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| match g["user"].as_str() {
                    Some(user) => format!("user {user}: {}", text(&g["permission"])),
                    None => format!(
                        "{} ({}): {}",
                        text(&g["access_key"]),
                        text(&g["name"]),
                        text(&g["permission"])
                    ),
                })
                .collect();
            println!(
                "grants:   {}",
                if g.is_empty() {
                    "none (root keys only)".to_string()
                } else {
                    g.join(", ")
                }
            );
        }
        AdminCommand::Node(_) | AdminCommand::Key(_) => {
            println!("ok: {answer}");
        }
    }
    Ok(())
}

fn grants(v: &Value) -> String {
    answer::grants(v, ",")
}

fn bytes(n: Option<u64>) -> String {
    n.map_or_else(|| "-".into(), answer::bytes)
}

fn time_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

fn print_status(v: &Value) {
    println!("region:    {}", text(&v["region"]));
    print_metadata_group(&v["metadata"]);
    println!("gateway:   answering (this endpoint)");
    println!(
        "map epoch: {} (this gateway places by {})    buckets: {}",
        v["epoch"], v["gateway_epoch"], v["buckets"]
    );
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    let up = nodes.iter().filter(|n| n["up"] == true).count();
    let (mut cap, mut avail, mut used, mut corrupt) = (0u64, 0u64, 0u64, 0u64);
    println!();
    println!(
        "{:<5} {:<22} {:<10} {:<16} {:>9} {:>9} {:>11} {:>11} {:>8}",
        "NODE", "ADDRESS", "ZONE", "STATE", "HEARTBEAT", "CHUNKS", "USED", "FREE", "CORRUPT"
    );
    for n in &nodes {
        let disks = n["disks"].as_array().cloned().unwrap_or_default();
        let chunks: u64 = disks.iter().filter_map(|d| d["chunks"].as_u64()).sum();
        let u: u64 = disks.iter().filter_map(|d| d["used_bytes"].as_u64()).sum();
        let a: u64 = disks
            .iter()
            .filter_map(|d| d["available_bytes"].as_u64())
            .sum();
        let c: u64 = disks
            .iter()
            .filter_map(|d| d["capacity_bytes"].as_u64())
            .sum();
        let bad = n["corrupt_chunks"].as_u64().unwrap_or(0);
        used += u;
        avail += a;
        cap += c;
        corrupt += bad;
        let mut state = text(&n["state"]);
        if n["drained"] == true {
            state = "drained".into();
        } else if let Some(left) = n["drain_chunks_left"].as_u64() {
            state = format!("{state} ({left} left)");
        }
        let beat = match n["last_heartbeat_ms_ago"].as_i64() {
            Some(ms) => format!("{:.1}s ago", ms as f64 / 1000.0),
            None => "never".into(),
        };
        let errors: Vec<String> = disks
            .iter()
            .filter_map(|d| {
                d["error"]
                    .as_str()
                    .map(|e| format!("{}: {e}", text(&d["path"])))
            })
            .collect();
        println!(
            "{:<5} {:<22} {:<10} {:<16} {:>9} {:>9} {:>11} {:>11} {:>8}",
            text(&n["id"]),
            text(&n["addr"]),
            if text(&n["zone"]).is_empty() {
                "-".into()
            } else {
                text(&n["zone"])
            },
            state,
            beat,
            chunks,
            bytes(Some(u)),
            bytes(Some(a)),
            bad
        );
        for e in errors {
            println!("      disk error: {e}");
        }
    }
    println!();
    println!(
        "nodes: {} ({up} up)   capacity: {}   used by chunks: {}   free: {}   corrupt chunks: {corrupt}",
        nodes.len(),
        bytes(Some(cap)),
        bytes(Some(used)),
        bytes(Some(avail)),
    );
    let scrubs: Vec<&Value> = nodes
        .iter()
        .map(|n| &n["scrub"])
        .filter(|x| x.is_object())
        .collect();
    if !scrubs.is_empty() {
        let sum = |k: &str| scrubs.iter().filter_map(|x| x[k].as_u64()).sum::<u64>();
        println!(
            "scrub ({} nodes answering): {} passes   {} chunks ({}) verified   corrupt: {}",
            scrubs.len(),
            sum("passes"),
            sum("chunks_checked"),
            bytes(Some(sum("bytes_checked"))),
            sum("corrupt")
        );
    }
    print_workers(v);
}

/// The `heal` and `gc` blocks of the status screen (this gateway's workers).
fn print_workers(v: &Value) {
    let h = &v["heal"];
    if h.is_object() {
        let n = |k: &str| h[k].as_u64().unwrap_or(0);
        let last = match h["last_sweep_unix_ms"].as_u64() {
            Some(ms) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                format!(
                    "{:.1}s ago, took {:.1}s",
                    now.saturating_sub(ms) as f64 / 1000.0,
                    n("last_sweep_ms") as f64 / 1000.0
                )
            }
            None => "none yet".into(),
        };
        println!();
        println!("heal (this gateway):");
        println!(
            "  backlog: {} chunks   unavailable: {}   healed: {} (moved {})   marked durable: {}   failed: {}",
            n("backlog"),
            n("unavailable"),
            n("healed"),
            n("moved"),
            n("marked_durable"),
            n("failed")
        );
        let lost = h["lost_nodes"]
            .as_array()
            .map(|l| l.iter().map(|x| x.to_string()).collect::<Vec<_>>())
            .unwrap_or_default();
        println!(
            "  drain: {} chunks left, {} moved   rebalance: {} planned, {} moved   lost nodes: {}",
            n("drain_backlog"),
            n("drained"),
            n("rebalance_backlog"),
            n("rebalanced"),
            if lost.is_empty() {
                "none".into()
            } else {
                lost.join(", ")
            }
        );
        println!(
            "  rounds: {} ({} sweeps, {} quiet: nothing changed)   last sweep: {last}",
            n("rounds"),
            n("sweeps"),
            n("quiet_rounds")
        );
    }
    if v["encryption"].is_object() {
        println!();
        print_encryption(&v["encryption"]);
    }
    let g = &v["gc"];
    if g.is_object() {
        let n = |k: &str| g[k].as_u64().unwrap_or(0);
        println!();
        println!("gc (this gateway):");
        println!(
            "  due: {} entries   done: {}   chunks deleted: {}   delete failures: {}",
            n("due"),
            n("entries_done"),
            n("chunks_deleted"),
            n("chunk_failures")
        );
        println!(
            "  orphans deleted: {}   orphan candidates: {}   orphan sweeps: {} (last {} ms)   skipped as quiet: {}",
            n("orphans_deleted"),
            n("orphan_candidates"),
            n("orphan_sweeps"),
            n("last_orphan_sweep_ms"),
            n("orphan_quiet")
        );
    }
}

/// The `encryption` section of the status: master keys and re-sealing.
fn print_encryption(e: &Value) {
    let keys: Vec<String> = e["master_keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if keys.is_empty() {
        println!("master keys: none (SSE-S3 and SSE-KMS refused)");
        return;
    }
    println!("master keys: {} (the first seals)", keys.join(", "));
    let r = &e["rekey"];
    if r.is_object() {
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        let last = r["last_pass_unix_ms"]
            .as_i64()
            .map(time_of)
            .unwrap_or_else(|| "none yet".into());
        println!(
            "re-sealing: {}passes {} (quiet checks {})   keys sealed again {}   KMS key versions {}   stale left {}   failures {}   last pass {last}",
            if r["running"] == true {
                "running   "
            } else {
                ""
            },
            n("passes"),
            n("quiet"),
            n("resealed"),
            n("kms_resealed"),
            n("stale_left"),
            n("failed"),
        );
    }
}

/// The metadata group: the leader, then one line per replica with its
/// role and how many log entries it is behind the leader.
fn print_metadata_group(m: &Value) {
    let replicas = m["replicas"].as_array().cloned().unwrap_or_default();
    match m["leader"].as_u64() {
        Some(id) => println!(
            "metadata:  {} replica(s), leader {id} (term {}, last log {})",
            replicas.len(),
            text(&m["term"]),
            text(&m["last_log"])
        ),
        None => println!(
            "metadata:  no leader answering ({} replica(s) configured)",
            replicas.len()
        ),
    }
    println!(
        "  {:<8} {:<22} {:<13} {:<10} {:>10} {:>8}",
        "REPLICA", "ADDRESS", "ROLE", "STATE", "APPLIED", "LAG"
    );
    for r in &replicas {
        println!(
            "  {:<8} {:<22} {:<13} {:<10} {:>10} {:>8}",
            text(&r["id"]),
            text(&r["addr"]),
            text(&r["role"]),
            if r["reachable"] == true {
                text(&r["state"])
            } else {
                "unreachable".into()
            },
            text(&r["applied"]),
            text(&r["lag"])
        );
    }
}

/// `shale admin replication status` as one screen.
fn print_replication(answer: &Value) {
    println!("region: {}", text(&answer["region"]));
    let pairs = answer["pairs"].as_array().cloned().unwrap_or_default();
    if pairs.is_empty() {
        println!("no replication in this region");
        return;
    }
    println!(
        "{:<24} {:<24} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10} {:>11} {:>7} {:>7}",
        "bucket",
        "destination",
        "backlog",
        "bytes",
        "oldest",
        "lag p50",
        "lag p99",
        "copied",
        "throughput",
        "retries",
        "failed"
    );
    let ms = |v: &Value| match v.as_u64() {
        Some(n) if n >= 10_000 => format!("{:.0} s", n as f64 / 1000.0),
        Some(n) => format!("{n} ms"),
        None => "-".into(),
    };
    for p in &pairs {
        println!(
            "{:<24} {:<24} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10} {:>9}/s {:>7} {:>7}",
            text(&p["bucket"]),
            text(&p["destination"]),
            p["pending"],
            bytes(p["pending_bytes"].as_u64()),
            ms(&p["oldest_pending_ms"]),
            ms(&p["lag_p50_ms"]),
            ms(&p["lag_p99_ms"]),
            p["replicated"],
            bytes(p["bytes_per_sec"].as_u64()),
            p["retries"],
            p["failed"].as_u64().unwrap_or(0) + p["failed_pending"].as_u64().unwrap_or(0),
        );
        let rules: Vec<&str> = p["rules"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !rules.is_empty() {
            println!("    rules: {}", rules.join(", "));
        }
        if let Some(e) = p["last_error"].as_str() {
            println!("    last error: {e}");
        }
    }
}

/// Sends one signed admin request and returns its JSON answer.
async fn call(
    args: &AdminArgs,
    method: &str,
    op: &str,
    params: &[(&str, String)],
) -> Result<Value> {
    let client = AdminClient::new(
        &args.endpoint,
        args.access_key.as_deref().unwrap_or_default(),
        args.secret_key.as_deref().unwrap_or_default(),
        &args.region,
        TIMEOUT,
    );
    Ok(client.call(method, op, params).await?)
}
