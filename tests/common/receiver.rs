//! Real HTTP receivers on 127.0.0.1 for webhook tests.
//!
//! A [`Receiver`] listens on a free port, speaks plain HTTP/1.1 (keep-alive,
//! `Content-Length` and chunked bodies, `Expect: 100-continue`), records every
//! request — method, path, headers with lowercased names, the raw body bytes and
//! when it arrived — and answers according to its [`Mode`]:
//!
//! - `Ok`: `200 ok`;
//! - `FailThenOk(n)`: `500` to the first `n` requests, then `200 ok`;
//! - `Never`: reads the request and never answers (the connection stays open
//!   until the client gives up);
//! - `Gone`: `410 Gone`.
//!
//! Like the SMTP sink, it runs on its own thread with its own runtime, so it works
//! from any test, and stops when dropped.
//!
//! ```ignore
//! let rx = Receiver::start(Mode::Ok);
//! // create a webhook pointing at rx.url()
//! let got = rx.wait_for(1, Duration::from_secs(10)).await;
//! let body: serde_json::Value = got[0].json();
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How a receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `200` with the body `ok`.
    Ok,
    /// `500` the first `n` times, then `200 ok`.
    FailThenOk(usize),
    /// Never answers; holds the connection open until the client closes it.
    Never,
    /// `410 Gone`.
    Gone,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names lowercased, values as sent, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body exactly as received (chunked encoding undone).
    pub body: Vec<u8>,
    /// Wall-clock time of arrival.
    pub received_at: SystemTime,
    /// Monotonic time of arrival, to measure gaps between requests.
    pub received_instant: Instant,
    /// The status answered; `None` for a request never answered.
    pub answered: Option<u16>,
}

impl Recorded {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "receiver got a body that is not JSON ({e}): {}",
                self.text()
            )
        })
    }
}

struct Shared {
    mode: Mode,
    /// Requests answered (or held) since the mode was set.
    seen: usize,
    requests: Vec<Recorded>,
}

/// A local HTTP receiver. Dropping it stops it.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Binds a free port on 127.0.0.1 and starts answering in `mode`.
    pub fn start(mode: Mode) -> Receiver {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            mode,
            seen: 0,
            requests: Vec::new(),
        }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("http-receiver-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("receiver runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("receiver listener");
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            let state = Arc::clone(&state);
                            tokio::spawn(async move {
                                let _ = connection(stream, state).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = rx => {}
                    }
                });
            })
            .expect("spawn receiver thread");
        Receiver {
            addr,
            shared,
            shutdown: Some(tx),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/hook`: where a webhook should point.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub fn count(&self) -> usize {
        self.shared.lock().unwrap().requests.len()
    }

    /// Answers in `mode` from now on (a `FailThenOk` count starts over).
    pub fn set_mode(&self, mode: Mode) {
        let mut s = self.shared.lock().unwrap();
        s.mode = mode;
        s.seen = 0;
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.shared.lock().unwrap().requests.clear();
    }

    /// Waits until at least `n` requests have arrived and returns them all; panics
    /// after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.requests();
            if all.len() >= n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "receiver {}: waited {timeout:?} for {n} request(s), got {}",
                self.url(),
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `done` holds for the requests received so far and returns them;
    /// panics with `what` after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.requests();
            if done(&all) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "receiver {}: waited {timeout:?} for {what}; got {} request(s): {:?}",
                self.url(),
                all.len(),
                all.iter().map(Recorded::text).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Longest request line or header line accepted.
const MAX_LINE: usize = 16 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 200;
/// Largest body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one line up to and including `\n`; empty at end of stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut limited = reader.take(MAX_LINE as u64 + 1);
    limited.read_until(b'\n', &mut line).await?;
    if line.len() > MAX_LINE {
        return Err(invalid("line too long"));
    }
    Ok(line)
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Serves requests on one connection until the client closes it.
async fn connection(stream: TcpStream, shared: Arc<Mutex<Shared>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        // The request line (blank lines before it are tolerated, as RFC 9112 asks).
        let request_line = loop {
            let line = read_line(&mut reader).await?;
            if line.is_empty() {
                return Ok(());
            }
            let line = trim_crlf(&line);
            if !line.is_empty() {
                break String::from_utf8_lossy(line).into_owned();
            }
        };
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let version = parts.next().unwrap_or("HTTP/1.1").to_string();

        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let line = read_line(&mut reader).await?;
            if line.is_empty() {
                return Ok(());
            }
            let line = trim_crlf(&line);
            if line.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(line);
            if text.starts_with([' ', '\t']) {
                // Obsolete line folding: part of the previous value.
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(text.trim());
                }
                continue;
            }
            let Some((name, value)) = text.split_once(':') else {
                return Err(invalid("malformed header"));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            if headers.len() > MAX_HEADERS {
                return Err(invalid("too many headers"));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };

        if header("expect").is_some_and(|v| v == "100-continue") {
            write.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut reader).await?
        } else if let Some(len) = header("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| invalid("bad content-length"))?;
            if len > MAX_BODY {
                return Err(invalid("body too large"));
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).await?;
            body
        } else {
            Vec::new()
        };
        let closes = header("connection").is_some_and(|v| v.contains("close"))
            || (version == "HTTP/1.0"
                && !header("connection").is_some_and(|v| v.contains("keep-alive")));

        // Decide the answer and record the request under one lock.
        let answer = {
            let mut s = shared.lock().unwrap();
            let answer: Option<(u16, &str, &str)> = match s.mode {
                Mode::Ok => Some((200, "OK", "ok")),
                Mode::FailThenOk(n) if s.seen < n => {
                    Some((500, "Internal Server Error", "failing on purpose"))
                }
                Mode::FailThenOk(_) => Some((200, "OK", "ok")),
                Mode::Never => None,
                Mode::Gone => Some((410, "Gone", "this hook is gone")),
            };
            s.seen += 1;
            s.requests.push(Recorded {
                method,
                path,
                headers: headers.clone(),
                body,
                received_at: SystemTime::now(),
                received_instant: Instant::now(),
                answered: answer.map(|(status, _, _)| status),
            });
            answer
        };

        let Some((status, reason, text)) = answer else {
            // Never answer: keep reading (and discarding) until the client leaves.
            let mut discard = [0u8; 4096];
            loop {
                if reader.read(&mut discard).await? == 0 {
                    return Ok(());
                }
            }
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n{text}",
            text.len(),
            if closes { "Connection: close\r\n" } else { "" }
        );
        write.write_all(response.as_bytes()).await?;
        write.flush().await?;
        if closes {
            let _ = write.shutdown().await;
            return Ok(());
        }
    }
}

/// Reads a chunked body (and its trailers), returning the decoded bytes.
async fn read_chunked<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader).await?;
        if line.is_empty() {
            return Err(invalid("connection closed inside a chunked body"));
        }
        let line = String::from_utf8_lossy(trim_crlf(&line)).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                let trailer = read_line(reader).await?;
                if trailer.is_empty() || trim_crlf(&trailer).is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        // The CRLF after the chunk data.
        let _ = read_line(reader).await?;
    }
}
