//! The baseline: a trivial HTTP/1.1 server that does the least any object
//! store must do, so every Shale figure can be read as a ratio to what this
//! machine can do at all. PUT writes the body to one file and fsyncs it;
//! GET answers from memory with as many bytes as the last PUT of that path
//! stored. It ignores auth and understands nothing of S3 beyond that.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running baseline server; stops and removes its files when dropped.
pub struct Baseline {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

struct State {
    dir: PathBuf,
    /// Length of each stored object, by request path.
    lengths: Mutex<HashMap<String, usize>>,
    /// What GETs are answered from: at least as long as the largest object.
    memory: Mutex<Bytes>,
}

/// Starts the baseline server on 127.0.0.1:0 with its files in a new
/// temporary directory under `parent` (the system's temp dir if `None`).
/// Put it on the same file system as Shale's data dir for a fair ratio.
pub async fn start(parent: Option<&Path>) -> Result<Baseline> {
    let dir = match parent {
        Some(p) => tempfile::tempdir_in(p)
            .with_context(|| format!("--baseline-dir {}: cannot create a temp dir", p.display()))?,
        None => tempfile::tempdir().context("creating the baseline's temp dir")?,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        dir: dir.path().to_owned(),
        lengths: Mutex::new(HashMap::new()),
        memory: Mutex::new(Bytes::new()),
    });
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), req));
                // A client that goes away mid-request is no concern of ours.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Baseline {
        addr,
        accept,
        _dir: dir,
    })
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

/// A file name for a request path: only safe characters, never a path.
fn file_name(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    // `/bucket` is a bucket operation: accept it and store nothing.
    let is_object = path.trim_start_matches('/').contains('/');
    let resp = match (req.method().clone(), is_object) {
        (Method::PUT, false) => reply(StatusCode::OK, Bytes::new()),
        (Method::PUT, true) => match put(&state, &path, req.into_body()).await {
            Ok(()) => {
                let mut r = reply(StatusCode::OK, Bytes::new());
                r.headers_mut()
                    .insert(http::header::ETAG, http::HeaderValue::from_static("\"0\""));
                r
            }
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from(format!("{e:#}")),
            ),
        },
        (Method::GET, true) => {
            let len = state
                .lengths
                .lock()
                .expect("no code panics holding this lock")
                .get(&path)
                .copied();
            match len {
                Some(len) => {
                    let memory = state
                        .memory
                        .lock()
                        .expect("no code panics holding this lock")
                        .clone();
                    reply(StatusCode::OK, memory.slice(..len))
                }
                None => reply(StatusCode::NOT_FOUND, Bytes::from_static(b"NoSuchKey")),
            }
        }
        (Method::DELETE, true) => {
            state
                .lengths
                .lock()
                .expect("no code panics holding this lock")
                .remove(&path);
            let file = state.dir.join(file_name(&path));
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(file)).await;
            reply(StatusCode::NO_CONTENT, Bytes::new())
        }
        _ => reply(
            StatusCode::NOT_IMPLEMENTED,
            Bytes::from_static(b"the baseline serves only PUT, GET and DELETE of objects"),
        ),
    };
    Ok(resp)
}

/// Receives the body, writes it to its file and fsyncs before answering.
async fn put(state: &State, path: &str, body: Incoming) -> Result<()> {
    let data = body.collect().await?.to_bytes();
    let len = data.len();
    let file = state.dir.join(file_name(path));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&file)?;
        f.write_all(&data)?;
        f.sync_all()
    })
    .await
    .context("the write task panicked")??;
    {
        let mut memory = state
            .memory
            .lock()
            .expect("no code panics holding this lock");
        if memory.len() < len {
            *memory = Bytes::from(vec![0u8; len]);
        }
    }
    state
        .lengths
        .lock()
        .expect("no code panics holding this lock")
        .insert(path.to_owned(), len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_stay_in_the_dir() {
        assert_eq!(file_name("/b/../../etc/passwd"), "_b_.._.._etc_passwd");
        assert!(!file_name("/a/b").contains('/'));
    }
}
