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
//! Secrets are never printed: only their ids (a hash of each).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use shale_common::cluster_auth::{ClusterSecret, SecretSet, read_secrets_file, write_secrets_file};

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
