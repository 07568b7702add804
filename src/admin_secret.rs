//! `shale admin cluster-secret …`: the cluster's secrets file, edited in
//! place (no network; every role re-reads its copy within a second).
//!
//! Rotation without downtime, on every host's copy of the file, waiting
//! between the steps until every copy has the change (a role re-reads its
//! file within `RELOAD_EVERY` of it changing):
//! 1. `add`: a new secret, accepted by every role, not yet used to sign;
//! 2. `use ID`: the new secret signs (the old one is still accepted, so
//!    roles that have not re-read yet are still understood);
//! 3. `retire`: only the signing secret is left.
//!
//! Least privilege: metadata replicas and the admin CLI hold the secrets
//! file itself; gateways and storage nodes should be given only their
//! role's keys, `derive --role gateway|storage-node --out FILE` (derived
//! from every secret of the file, in its order). Re-derive after each step
//! of a rotation and give each role its new file.
//!
//! `shale admin secrets-key …` keeps the metadata service's secrets key
//! (what access-key secrets are sealed under) the same way.
//!
//! Secrets are never printed: only their ids (a hash of each).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use shale_common::cluster_auth::{
    ClusterSecret, KeyRing, RoleKeys, SecretSet, read_secrets_file, write_private_file,
    write_secrets_file,
};
use shale_common::sealing::{KeyKind, SealingKey, SealingKeys};

/// `shale admin cluster-secret`.
#[derive(clap::Args, Clone)]
pub struct SecretArgs {
    /// The secrets file (0600; one secret a line, the first signs).
    #[arg(long, env = "SHALE_CLUSTER_SECRET_FILE")]
    file: PathBuf,
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(Subcommand, Clone)]
enum SecretCommand {
    /// Make a new secrets file with one fresh secret (refused if it exists).
    Create,
    /// The ids of the secrets, the signing one first.
    List,
    /// Rotation, step 1: add a fresh secret, accepted but not signing.
    Add,
    /// Rotation, step 2: make the secret ID the signing one.
    Use {
        /// Its id (from `add` or `list`).
        id: String,
    },
    /// Rotation, step 3: drop every secret but the signing one.
    Retire,
    /// Writes the keys of one role (gateway or storage-node), derived from
    /// every secret of the file: what that role needs and nothing more.
    Derive {
        /// gateway or storage-node.
        #[arg(long)]
        role: String,
        /// The role's key file to write (0600, replaced atomically).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs one `shale admin cluster-secret` command.
pub fn run(args: SecretArgs) -> Result<()> {
    let path = args.file.as_path();
    match args.command {
        SecretCommand::Create => {
            if path.exists() {
                bail!(
                    "{}: exists already (rotate it with `add`, `use`, `retire`)",
                    path.display()
                );
            }
            let set = SecretSet::one(ClusterSecret::generate());
            save(path, &set)?;
            println!(
                "created {} with secret {}",
                path.display(),
                set.secrets()[0].id()
            );
        }
        SecretCommand::List => print_ids(&load(path)?),
        SecretCommand::Add => {
            let secret = ClusterSecret::generate();
            let id = secret.id().to_owned();
            let set = load(path)?.with_added(secret);
            save(path, &set)?;
            println!("added secret {id} (accepted, not signing yet)");
            print_ids(&set);
        }
        SecretCommand::Use { id } => {
            let set = load(path)?.with_signing(&id).map_err(anyhow::Error::msg)?;
            save(path, &set)?;
            println!("secret {id} signs now");
            print_ids(&set);
        }
        SecretCommand::Retire => {
            let set = load(path)?.retired();
            save(path, &set)?;
            print_ids(&set);
        }
        SecretCommand::Derive { role, out } => {
            let role = RoleKeys::parse(&role).map_err(anyhow::Error::msg)?;
            let set = load(path)?;
            write_private_file(&out, KeyRing::role_file_text(&set, role).as_bytes())
                .with_context(|| format!("{}: cannot write", out.display()))?;
            println!("wrote the {} keys to {}", role.label(), out.display());
            print_ids(&set);
        }
    }
    Ok(())
}

/// `shale admin secrets-key`.
#[derive(clap::Args, Clone)]
pub struct SecretsKeyArgs {
    /// The secrets key file of the metadata replicas (0600; one key a
    /// line, the first seals).
    #[arg(long, env = "SHALE_SECRETS_KEY_FILE")]
    file: PathBuf,
    #[command(subcommand)]
    command: KeyCommand,
}

/// `shale admin master-key`.
#[derive(clap::Args, Clone)]
pub struct MasterKeyArgs {
    /// The master key file of the gateways (0600; one key a line, the
    /// first seals the keys of new encrypted objects).
    #[arg(long, env = "SHALE_SSE_MASTER_KEY_FILE")]
    file: PathBuf,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand, Clone)]
enum KeyCommand {
    /// Make a new key file with one fresh key (refused if it exists).
    Create,
    /// The ids of the keys, the sealing one first.
    List,
    /// Rotation, step 1: add a fresh key (opens, does not seal yet).
    Add,
    /// Rotation, step 2: make the key ID the sealing one; each replica
    /// seals every secret under it again when it next starts.
    Use {
        /// Its id (from `add` or `list`).
        id: String,
    },
    /// Rotation, step 3, once every replica restarted after `use`: drop
    /// every key but the sealing one.
    Retire,
}

/// Runs one `shale admin secrets-key` command.
pub fn run_secrets_key(args: SecretsKeyArgs) -> Result<()> {
    run_key_file(&args.file, args.command, KeyKind::Secrets)
}

/// Runs one `shale admin master-key` command.
pub fn run_master_key(args: MasterKeyArgs) -> Result<()> {
    run_key_file(&args.file, args.command, KeyKind::Master)
}

fn run_key_file(path: &Path, command: KeyCommand, kind: KeyKind) -> Result<()> {
    let holders = match kind {
        KeyKind::Secrets => "metadata replica",
        KeyKind::Master | KeyKind::Customer | KeyKind::Kms => "gateway",
    };
    let load = || SealingKeys::read_file_kind(path, kind).map_err(anyhow::Error::msg);
    let save = |keys: &SealingKeys| {
        keys.write_file(path)
            .with_context(|| format!("{}: cannot write", path.display()))
    };
    let print = |keys: &SealingKeys| {
        for (i, k) in keys.keys().iter().enumerate() {
            println!(
                "{}  {}",
                k.id(),
                if i == 0 { "seals, opens" } else { "opens" }
            );
        }
    };
    match command {
        KeyCommand::Create => {
            if path.exists() {
                bail!(
                    "{}: exists already (rotate it with `add`, `use`, `retire`)",
                    path.display()
                );
            }
            let keys = SealingKeys::one(SealingKey::generate_kind(kind));
            save(&keys)?;
            println!(
                "created {} with key {}",
                path.display(),
                keys.keys()[0].id()
            );
        }
        KeyCommand::List => print(&load()?),
        KeyCommand::Add => {
            let key = SealingKey::generate_kind(kind);
            let id = key.id().to_owned();
            let keys = load()?.with_added(key);
            save(&keys)?;
            println!("added key {id} (opens, does not seal yet)");
            print(&keys);
        }
        KeyCommand::Use { id } => {
            let keys = load()?.with_sealing(&id).map_err(anyhow::Error::msg)?;
            save(&keys)?;
            println!("key {id} seals now (restart each {holders} to seal again under it)");
            print(&keys);
        }
        KeyCommand::Retire => {
            let keys = load()?.retired();
            save(&keys)?;
            print(&keys);
        }
    }
    Ok(())
}

fn load(path: &Path) -> Result<SecretSet> {
    read_secrets_file(path).map_err(anyhow::Error::msg)
}

fn save(path: &Path, set: &SecretSet) -> Result<()> {
    write_secrets_file(path, set).with_context(|| format!("{}: cannot write", path.display()))
}

fn print_ids(set: &SecretSet) {
    for (i, s) in set.secrets().iter().enumerate() {
        let role = if i == 0 {
            "signs, accepted"
        } else {
            "accepted"
        };
        println!("{}  {role}", s.id());
    }
}
