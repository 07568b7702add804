//! `shale-bench`: an S3 load generator. Runs one workload (put, get, mixed,
//! list, multipart, versions) against a Shale endpoint, or against a trivial
//! baseline server started in the same process, and prints one JSON line on
//! stdout and one line for people on stderr. Exits non-zero on any error.
//!
//! Example: `shale-bench --mode get --size 4KiB --concurrency 32 --duration 20s`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use shale_benches::loadgen::client::Endpoint;
use shale_benches::loadgen::run::{Mode, Plan, Stop, Versioning};
use shale_benches::loadgen::stats::Report;
use shale_benches::loadgen::units::{Mix, parse_duration, parse_mix, parse_size};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// The S3 endpoint given by --endpoint.
    Shale,
    /// A trivial in-process server (PUT = write + fsync a file, GET from memory).
    Baseline,
}

#[derive(Parser, Debug)]
#[command(
    name = "shale-bench",
    version,
    about = "An S3 load generator for Shale"
)]
struct Args {
    /// S3 endpoint (plain HTTP, path-style).
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// What to measure: the endpoint, or the baseline server.
    #[arg(long, value_enum, default_value = "shale")]
    target: Target,
    /// Access key [default: $SHALE_ROOT_ACCESS_KEY, else $AWS_ACCESS_KEY_ID].
    #[arg(long)]
    access_key: Option<String>,
    /// Secret key [default: $SHALE_ROOT_SECRET_KEY, else $AWS_SECRET_ACCESS_KEY].
    #[arg(long)]
    secret_key: Option<String>,
    /// Signing region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket to use, created if missing.
    #[arg(long, default_value = "shale-bench")]
    bucket: String,
    /// Workload.
    #[arg(long, value_enum, default_value = "put")]
    mode: Mode,
    /// Object size: 4KiB, 1MiB, 64MiB, 1GiB or plain bytes.
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    size: u64,
    /// Concurrent workers, one connection each (multipart: four each).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Length of the timed phase (20s, 500ms, 2m) [default: 20s].
    #[arg(long, value_parser = parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Run exactly this many operations instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// Operation weights of mixed mode.
    #[arg(long, default_value = "get=70,put=20,delete=10", value_parser = parse_mix)]
    mix: Mix,
    /// Distinct objects get/mixed read and list/versions list, PUT before timing
    /// starts [default: get/mixed 100 (at most 1 GiB in all), list/versions 1000].
    #[arg(long)]
    keys: Option<u64>,
    /// PUTs of each of the --keys keys before timing starts, in versions mode.
    #[arg(long, default_value_t = 1)]
    versions_per_key: u64,
    /// Connections that PUT the --keys objects before timing starts
    /// [default: --concurrency].
    #[arg(long)]
    populate_concurrency: Option<usize>,
    /// Set the bucket's versioning (PutBucketVersioning) after creating it
    /// [default: leave it as it is].
    #[arg(long, value_enum)]
    versioning: Option<Versioning>,
    /// Part size of multipart mode.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    part_size: u64,
    /// Longest one operation may take before it counts as an error.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
    /// Parent directory of the baseline's files [default: the system temp dir].
    /// Use the file system of Shale's data dir for a fair ratio.
    #[arg(long)]
    baseline_dir: Option<PathBuf>,
}

fn credential(flag: Option<String>, vars: [&str; 2], what: &str) -> Result<String> {
    if let Some(v) = flag {
        return Ok(v);
    }
    for var in vars {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return Ok(v);
        }
    }
    bail!("no {what}: pass --{what} or set {} or {}", vars[0], vars[1])
}

/// `--keys` unless given: enough distinct objects to spread reads, but no
/// more than 1 GiB to write before timing starts.
fn default_keys(mode: Mode, size: u64) -> u64 {
    match mode {
        Mode::List | Mode::Versions => 1000,
        _ => (1u64 << 30).checked_div(size).unwrap_or(100).clamp(1, 100),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match bench(args).await {
        Ok(code) => code,
        Err(e) => {
            // Set-up failures (bad flags, unreachable endpoint, bucket
            // refused) print no JSON line: there is no measurement.
            eprintln!("shale-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the benchmark `args` describe; `FAILURE` when any operation failed.
async fn bench(args: Args) -> Result<ExitCode> {
    if !(3..=63).contains(&args.bucket.len()) {
        bail!(
            "--bucket {:?}: bucket names are 3 to 63 characters",
            args.bucket
        );
    }
    let plan = Plan {
        mode: args.mode,
        size: args.size,
        concurrency: args.concurrency,
        stop: match (args.count, args.duration) {
            (Some(n), _) => Stop::Count(n),
            (None, Some(d)) => Stop::After(d),
            (None, None) => Stop::After(Duration::from_secs(20)),
        },
        mix: args.mix,
        keys: args
            .keys
            .unwrap_or_else(|| default_keys(args.mode, args.size)),
        part_size: args.part_size,
        bucket: args.bucket.clone(),
        timeout: args.timeout,
        versioning: args.versioning,
        versions_per_key: args.versions_per_key,
        populate_concurrency: args.populate_concurrency.unwrap_or(args.concurrency),
    };
    if plan.keys == 0 && plan.mode.populates() {
        bail!("--keys must be at least 1 in {} mode", plan.mode.name());
    }
    if plan.versions_per_key == 0 {
        bail!("--versions-per-key must be at least 1");
    }
    if plan.versions_per_key > 1 && plan.mode != Mode::Versions {
        bail!("--versions-per-key is for versions mode");
    }

    // The baseline server lives until the end of main.
    let mut _baseline = None;
    let (endpoint, target) = match args.target {
        Target::Baseline => {
            if !matches!(plan.mode, Mode::Put | Mode::Get | Mode::Mixed) {
                bail!("--target baseline serves put, get and mixed only");
            }
            if plan.versioning.is_some() {
                bail!("--target baseline has no versioning");
            }
            let server =
                shale_benches::loadgen::baseline::start(args.baseline_dir.as_deref()).await?;
            let addr = server.addr;
            _baseline = Some(server);
            let endpoint = Endpoint {
                addr,
                authority: addr.to_string(),
                // The baseline ignores auth; the client still signs, so it
                // spends the same CPU as against Shale.
                access_key: "baseline".into(),
                secret_key: "baseline".into(),
                region: args.region.clone(),
            };
            (endpoint, "baseline")
        }
        Target::Shale => {
            let uri: http::Uri = args
                .endpoint
                .parse()
                .with_context(|| format!("--endpoint {:?}", args.endpoint))?;
            if uri.scheme_str() != Some("http") {
                bail!("--endpoint {:?}: only http:// is supported", args.endpoint);
            }
            let authority = uri
                .authority()
                .with_context(|| format!("--endpoint {:?}: no host", args.endpoint))?
                .clone();
            let port = authority.port_u16().unwrap_or(80);
            let addr = tokio::net::lookup_host((authority.host(), port))
                .await
                .with_context(|| format!("--endpoint {:?}: cannot resolve", args.endpoint))?
                .next()
                .with_context(|| format!("--endpoint {:?}: no address", args.endpoint))?;
            let endpoint = Endpoint {
                addr,
                authority: authority.to_string(),
                access_key: credential(
                    args.access_key.clone(),
                    ["SHALE_ROOT_ACCESS_KEY", "AWS_ACCESS_KEY_ID"],
                    "access-key",
                )?,
                secret_key: credential(
                    args.secret_key.clone(),
                    ["SHALE_ROOT_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"],
                    "secret-key",
                )?,
                region: args.region.clone(),
            };
            (endpoint, "shale")
        }
    };

    let (stats, elapsed) =
        shale_benches::loadgen::run::run(Arc::new(endpoint), plan.clone()).await?;
    let report = Report::new(
        plan.mode.name(),
        target,
        plan.size,
        plan.concurrency,
        stats,
        elapsed,
    );
    println!("{}", serde_json::to_string(&report)?);
    eprintln!("{}", report.human());
    Ok(if report.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
