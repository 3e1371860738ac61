//! A real SMTP listener on 127.0.0.1 for end-to-end tests.
//!
//! It speaks just enough SMTP for a well-behaved client (EHLO/HELO, MAIL FROM,
//! RCPT TO, DATA, RSET, NOOP, QUIT; no AUTH, no TLS), keeps every accepted
//! message, and offers helpers to read the headers and the decoded text and
//! HTML parts of a `multipart/alternative` message.
//!
//! The listener runs on its own thread with its own runtime, so it works from
//! `#[test]` and `#[tokio::test]` alike and outlives neither: it stops when the
//! [`SmtpSink`] is dropped.
//!
//! ```ignore
//! let sink = SmtpSink::start();
//! // serve with SMTP_URL = sink.url()
//! let mail = sink.wait_for_to("ann@example.com").await;
//! let link = mail.first_link("http://127.0.0.1:").unwrap();
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How long the `wait_*` helpers wait by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// One message as received: the envelope and the raw DATA (dot-unstuffed, CRLF line ends).
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

/// The SMTP listener. Dropping it stops it.
pub struct SmtpSink {
    addr: SocketAddr,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SmtpSink {
    /// Binds a free port on 127.0.0.1 and starts accepting connections.
    pub fn start() -> SmtpSink {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind SMTP sink");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let store = Arc::clone(&messages);
        std::thread::Builder::new()
            .name(format!("smtp-sink-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("SMTP sink runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("SMTP sink listener");
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            let store = Arc::clone(&store);
                            tokio::spawn(async move {
                                let _ = session(stream, store).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = rx => {}
                    }
                });
            })
            .expect("spawn SMTP sink thread");
        SmtpSink {
            addr,
            messages,
            shutdown: Some(tx),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`, for `SMTP_URL` / `Mailer::from_config`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.messages.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    /// Forgets the messages received so far.
    pub fn clear(&self) {
        self.messages.lock().unwrap().clear();
    }

    /// Messages received so far whose envelope recipient or `To:` header is `addr`
    /// (case-insensitive).
    pub fn messages_to(&self, addr: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| m.is_for(addr))
            .collect()
    }

    /// Waits (up to [`DEFAULT_WAIT`]) until at least `n` messages have arrived, and
    /// returns them all. Panics on timeout.
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            let all = self.messages();
            if all.len() >= n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP sink: waited {DEFAULT_WAIT:?} for {n} message(s), got {}",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to [`DEFAULT_WAIT`]) for the first message to `addr` and returns it.
    /// Panics on timeout.
    pub async fn wait_for_to(&self, addr: &str) -> ReceivedMail {
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            if let Some(m) = self.messages_to(addr).into_iter().next() {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP sink: waited {DEFAULT_WAIT:?} for a message to {addr}; got {} other(s)",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`SmtpSink::wait_for`] for plain `#[test]` functions (do not call it from
    /// inside an async runtime that must keep running meanwhile).
    pub fn wait_for_blocking(&self, n: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            let all = self.messages();
            if all.len() >= n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP sink: waited {DEFAULT_WAIT:?} for {n} message(s), got {}",
                all.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`SmtpSink::wait_for_to`] for plain `#[test]` functions.
    pub fn wait_for_to_blocking(&self, addr: &str) -> ReceivedMail {
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            if let Some(m) = self.messages_to(addr).into_iter().next() {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP sink: waited {DEFAULT_WAIT:?} for a message to {addr}; got {} other(s)",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Longest line accepted from a client; anything longer ends the session.
const MAX_LINE: usize = 64 * 1024;
/// Largest message accepted.
const MAX_DATA: usize = 16 * 1024 * 1024;

async fn session(stream: TcpStream, store: Arc<Mutex<Vec<ReceivedMail>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 localhost test SMTP sink ready\r\n")
        .await?;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read_line(&mut reader, &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let upper = text.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        let reply: &[u8] = match verb {
            "EHLO" => b"250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n",
            "HELO" => b"250 localhost\r\n",
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                mail_from = Some(path_arg(&text["MAIL FROM:".len()..]));
                rcpt_to.clear();
                b"250 OK\r\n"
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if mail_from.is_none() {
                    b"503 MAIL first\r\n"
                } else {
                    rcpt_to.push(path_arg(&text["RCPT TO:".len()..]));
                    b"250 OK\r\n"
                }
            }
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    b"503 need MAIL and RCPT first\r\n"
                } else {
                    write
                        .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(data) = read_data(&mut reader).await? else {
                        return Ok(());
                    };
                    store.lock().unwrap().push(ReceivedMail {
                        mail_from: mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        data,
                    });
                    b"250 OK: queued\r\n"
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            "" => b"500 empty command\r\n",
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads one line (up to and including `\n`); 0 at end of stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let n = reader.read_until(b'\n', line).await?;
    if line.len() > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long",
        ));
    }
    Ok(n)
}

/// Reads DATA up to the lone `.` line; undoes dot-stuffing. `None` if the client left.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut data: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read_line(reader, &mut line).await? == 0 {
            return Ok(None);
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"." {
            return Ok(Some(String::from_utf8_lossy(&data).into_owned()));
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        data.extend_from_slice(content);
        data.extend_from_slice(b"\r\n");
        if data.len() > MAX_DATA {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "message too large",
            ));
        }
    }
}

/// `<a@b>` (with optional ESMTP parameters after it) → `a@b`.
fn path_arg(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if start < end => arg[start + 1..end].to_string(),
        _ => arg.split_whitespace().next().unwrap_or("").to_string(),
    }
}

// ---------------------------------------------------------------------------
// Reading a received message
// ---------------------------------------------------------------------------

/// A parsed MIME entity: unfolded headers and the still-encoded body.
struct Entity {
    headers: Vec<(String, String)>,
    body: String,
}

impl Entity {
    fn parse(raw: &str) -> Entity {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = match raw.find("\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None if raw.starts_with('\n') => ("", &raw[1..]),
            None => (raw.as_str(), ""),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Entity {
            headers,
            body: body.to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type, lowercase, without parameters (`text/plain` when absent).
    fn content_type(&self) -> String {
        self.header("Content-Type")
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_else(|| "text/plain".to_string())
    }

    fn param(&self, header: &str, name: &str) -> Option<String> {
        let value = self.header(header)?;
        value.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }

    /// Sub-entities of a multipart entity (empty for a single part).
    fn parts(&self) -> Vec<Entity> {
        if !self.content_type().starts_with("multipart/") {
            return Vec::new();
        }
        let Some(boundary) = self.param("Content-Type", "boundary") else {
            return Vec::new();
        };
        let delimiter = format!("--{boundary}");
        let mut parts = Vec::new();
        let mut current: Option<Vec<&str>> = None;
        for line in self.body.split('\n') {
            let trimmed = line.trim_end();
            if trimmed == delimiter || trimmed == format!("{delimiter}--") {
                if let Some(lines) = current.take() {
                    parts.push(Entity::parse(&lines.join("\n")));
                }
                if trimmed.ends_with("--") && trimmed != delimiter {
                    break;
                }
                current = Some(Vec::new());
            } else if let Some(lines) = current.as_mut() {
                lines.push(line);
            }
        }
        parts
    }

    /// The body with its transfer encoding undone, as UTF-8 text.
    fn decoded_body(&self) -> String {
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "base64" => decode_base64(&self.body),
            "quoted-printable" => decode_quoted_printable(&self.body),
            _ => self.body.clone().into_bytes(),
        };
        let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
        text.trim_end_matches('\n').to_string()
    }

    /// Depth-first search for the first leaf of the given media type.
    fn find(&self, media_type: &str) -> Option<String> {
        if self.content_type().starts_with("multipart/") {
            return self.parts().iter().find_map(|p| p.find(media_type));
        }
        (self.content_type() == media_type).then(|| self.decoded_body())
    }
}

impl ReceivedMail {
    fn entity(&self) -> Entity {
        Entity::parse(&self.data)
    }

    /// A top-level header, unfolded and with RFC 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.entity().header(name).map(decode_encoded_words)
    }

    /// The `To:` header.
    pub fn to(&self) -> String {
        self.header("To").unwrap_or_default()
    }

    /// The `From:` header.
    pub fn from(&self) -> String {
        self.header("From").unwrap_or_default()
    }

    /// The `Subject:` header, decoded.
    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The top-level media type, e.g. `multipart/alternative`.
    pub fn content_type(&self) -> String {
        self.entity().content_type()
    }

    /// True if `addr` is an envelope recipient or appears in the `To:` header.
    pub fn is_for(&self, addr: &str) -> bool {
        let addr = addr.to_ascii_lowercase();
        self.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&addr))
            || self.to().to_ascii_lowercase().contains(&addr)
    }

    /// The decoded `text/plain` part (the body itself for a single-part message).
    pub fn text_part(&self) -> Option<String> {
        self.entity().find("text/plain")
    }

    /// The decoded `text/html` part.
    pub fn html_part(&self) -> Option<String> {
        self.entity().find("text/html")
    }

    /// The first URL in the text part that starts with `prefix`, up to the next
    /// whitespace, quote or angle bracket (trailing `.`/`,`/`)` dropped).
    pub fn first_link(&self, prefix: &str) -> Option<String> {
        find_link(&self.text_part()?, prefix)
    }

    /// Same as [`ReceivedMail::first_link`], searching the HTML part
    /// (with `&amp;` turned back into `&`).
    pub fn first_html_link(&self, prefix: &str) -> Option<String> {
        find_link(&self.html_part()?, prefix).map(|l| l.replace("&amp;", "&"))
    }
}

fn find_link(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
        .unwrap_or(rest.len());
    let link = rest[..end].trim_end_matches(['.', ',', ')', ';']);
    Some(link.to_string())
}

fn decode_base64(s: &str) -> Vec<u8> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        if c == b'=' {
            break;
        }
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let s = s.replace("\r\n", "\n");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'=' {
            // Soft line break: `=` at end of line (trailing whitespace allowed).
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            if j >= bytes.len() {
                i = j;
                continue;
            }
            if bytes[j] == b'\n' {
                i = j + 1;
                continue;
            }
            if i + 2 < bytes.len() {
                if let (Some(h), Some(l)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
            out.push(b'=');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?...?=`) in a header value.
/// Only UTF-8 and ASCII-compatible charsets are expected here.
fn decode_encoded_words(value: &str) -> String {
    /// `=?charset?enc?text?=` at the start of `s` → (decoded, bytes consumed).
    fn word(s: &str) -> Option<(String, usize)> {
        let inner = s.strip_prefix("=?")?;
        let (_charset, after) = inner.split_once('?')?;
        let (enc, after) = after.split_once('?')?;
        let end = after.find("?=")?;
        let text = &after[..end];
        let bytes = match enc.to_ascii_uppercase().as_str() {
            "B" => decode_base64(text),
            "Q" => decode_quoted_printable(&text.replace('_', " ")),
            _ => return None,
        };
        let consumed = s.len() - after.len() + end + 2;
        Some((String::from_utf8_lossy(&bytes).into_owned(), consumed))
    }

    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        match word(&rest[start..]) {
            Some((decoded, consumed)) => {
                // Whitespace between two adjacent encoded words is not part of the text.
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &rest[start + consumed..];
                last_was_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}
