//! The log set-up of every role: `tracing` to stderr, filtered by
//! `SHALE_LOG` (default `info`), with one rule of our own.
//!
//! `s3s` 0.14.1 logs every error it raises itself at ERROR: a missing or
//! bad signature, an invalid bucket name (PyArrow probes
//! `HEAD /$extremelyunlikelytoexist$`), a malformed header. Those are the
//! client's mistakes, answered 4xx; at ERROR they would bury the server's
//! own faults. [`QuietClientErrors`] leaves them to the gateway's own
//! line per request, at debug level (method, URI, status, error code and
//! message); 5xx errors, and anything it cannot read, stay at ERROR.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Installs the subscriber: an env filter from `SHALE_LOG`, then
/// [`QuietClientErrors`], then the formatter (ANSI colours only on a
/// terminal, so a log file stays greppable).
pub fn init() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SHALE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(filter)
        .with(QuietClientErrors)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
}

/// Drops `s3s`'s ERROR events about a client's mistake (an `S3Error`
/// whose status is 4xx): the gateway logs every request at debug level
/// with its answer. (Logging them again from here at debug level would
/// not work: an event raised while another is being dispatched goes
/// nowhere once a scoped subscriber exists, as in tests.)
pub struct QuietClientErrors;

impl<S: Subscriber> Layer<S> for QuietClientErrors {
    fn event_enabled(&self, event: &Event<'_>, _cx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || !meta.target().starts_with("s3s") {
            return true;
        }
        let mut error = ErrorField::default();
        event.record(&mut error);
        let Some(text) = error.text else {
            return true;
        };
        !shale_s3_gateway::error::s3s_error_status(&text).is_some_and(|s| s.is_client_error())
    }
}

/// The `err` or `error` field of an event, as text.
#[derive(Default)]
struct ErrorField {
    text: Option<String>,
}

impl Visit for ErrorField {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "err" | "error") {
            self.text = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "err" | "error") {
            self.text = Some(value.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects the (level, message text) of every event it sees.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<(Level, String)>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
            let mut all = AllFields::default();
            event.record(&mut all);
            if let Ok(mut seen) = self.0.lock() {
                seen.push((*event.metadata().level(), all.0));
            }
        }
    }

    #[derive(Default)]
    struct AllFields(String);

    impl Visit for AllFields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    #[test]
    fn client_errors_from_s3s_are_dropped_server_faults_stay_error() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(QuietClientErrors)
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let client = s3s::S3Error::new(s3s::S3ErrorCode::InvalidBucketName);
            let fault = s3s::S3Error::new(s3s::S3ErrorCode::InternalError);
            tracing::error!(target: "s3s::ops", err = ?client, "failed to prepare");
            tracing::error!(target: "s3s::ops", error = %client);
            tracing::error!(target: "s3s::ops", err = ?fault, "failed to prepare");
            tracing::error!(target: "s3s::service", duration = 1, "no error field");
            tracing::error!(target: "shale", err = ?client, "ours: left alone");
        });
        let seen = seen.0.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.iter().all(|(l, _)| *l == Level::ERROR), "{seen:?}");
        assert!(seen[0].1.contains("InternalError"), "{seen:?}");
        assert!(seen[1].1.contains("no error field"), "{seen:?}");
        assert!(seen[2].1.contains("ours: left alone"), "{seen:?}");
    }
}
