//! The connection loop: accepts TCP connections up to a cap and serves each with
//! hyper, closing connections whose client is too slow with its headers or that
//! sit idle between requests.
//!
//! The watchdog of each connection only looks at atomics the connection's reads and
//! writes update, so serving a request costs no extra task wake-up. It sleeps until
//! the earliest moment a timeout could be due — never longer than the header-read
//! timeout, since a request head may start right after it looked — so each timeout
//! fires on time, give or take the timer's resolution.

use super::refusals::{Refusal, Refusals};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, Response};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Largest read buffer of a connection.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How long clients may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read: Duration,
    pub keep_alive: Duration,
    pub max_connections: usize,
}

/// Serves `ep` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish for up to `grace`.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    limits: ConnLimits,
    refusals: Arc<Refusals>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    E: Endpoint + 'static,
{
    let ep: Arc<dyn poem::endpoint::DynEndpoint<Output = Response>> =
        Arc::new(poem::endpoint::ToDynEndpoint(ep.map_to_response()));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                refusals.count(Refusal::ConnectionLimit);
                if last_full_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes \
                         (TELEMETRY_MAX_CONNECTIONS)"
                    );
                    last_full_warning = Some(Instant::now());
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => permit.expect("never closed"),
                    _ = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let ep = ep.clone();
        let stop = stop_rx.clone();
        let refusals = refusals.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, local, ep, limits, refusals, stop).await;
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it is done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after the shutdown grace period");
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    local: Option<std::net::SocketAddr>,
    ep: Arc<dyn poem::endpoint::DynEndpoint<Output = Response>>,
    limits: ConnLimits,
    refusals: Arc<Refusals>,
    mut stop: watch::Receiver<bool>,
) {
    let clock = Arc::new(ConnClock::new());
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        clock: clock.clone(),
    });
    let remote = RemoteAddr(Addr::SocketAddr(peer));
    let local = LocalAddr(
        local
            .map(Addr::SocketAddr)
            .unwrap_or(Addr::Custom("tcp", "".into())),
    );
    let service = hyper::service::service_fn({
        let clock = clock.clone();
        move |req: hyper::Request<hyper::body::Incoming>| {
            let ep = ep.clone();
            let clock = clock.clone();
            let (local, remote) = (local.clone(), remote.clone());
            async move {
                clock.request_started();
                let res = ep
                    .get_response((req, local, remote, poem::http::uri::Scheme::HTTP).into())
                    .await;
                clock.request_finished();
                Ok::<_, Infallible>(hyper::Response::from(res))
            }
        }
    });
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // The read buffer holds a request's head and the body as it streams in: 64 KiB
    // covers the largest accepted header block (32 KiB) and keeps a connection that
    // streams a huge body from growing it to hyper's default of ~400 KiB.
    builder.http1().max_buf_size(READ_BUFFER_BYTES);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    loop {
        let check = tokio::time::sleep(clock.next_check(limits));
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.changed() => break,
            _ = check => match clock.overdue(limits) {
                Some(Overdue::Headers) => {
                    refusals.count(Refusal::HeaderTimeout);
                    tracing::debug!(%peer, "closing a connection whose headers did not arrive in time");
                    return;
                }
                Some(Overdue::Idle) => break,
                None => {}
            },
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

enum Overdue {
    Headers,
    Idle,
}

/// When the connection last moved, and whether a request head is being read.
struct ConnClock {
    origin: Instant,
    /// Milliseconds since `origin` of the last read or write.
    last_io: AtomicU64,
    /// Milliseconds since `origin` (plus one, so 0 means none) when the first bytes
    /// of a request head arrived on an otherwise idle connection.
    head_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl ConnClock {
    fn new() -> Self {
        ConnClock {
            origin: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn on_read(&self, got_bytes: bool) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if got_bytes
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(now + 1, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// How long the watchdog may sleep before a timeout could be due.
    fn next_check(&self, limits: ConnLimits) -> Duration {
        let header = limits.header_read.as_millis() as u64;
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return limits.header_read;
        }
        let now = self.now();
        let head = self.head_since.load(Ordering::Relaxed);
        let wait = if head > 0 {
            (head - 1 + header).saturating_sub(now)
        } else {
            let idle_due =
                self.last_io.load(Ordering::Relaxed) + limits.keep_alive.as_millis() as u64;
            idle_due.saturating_sub(now).min(header)
        };
        Duration::from_millis(wait.max(10))
    }

    fn overdue(&self, limits: ConnLimits) -> Option<Overdue> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.now();
        let head = self.head_since.load(Ordering::Relaxed);
        if head > 0 && now + 1 - head >= limits.header_read.as_millis() as u64 {
            return Some(Overdue::Headers);
        }
        let idle = now.saturating_sub(self.last_io.load(Ordering::Relaxed));
        (head == 0 && idle >= limits.keep_alive.as_millis() as u64).then_some(Overdue::Idle)
    }
}

/// The socket, telling its clock about every read and write.
struct Watched {
    inner: TcpStream,
    clock: Arc<ConnClock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            self.clock.on_read(buf.filled().len() > before);
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, data);
        if res.is_ready() {
            self.clock.on_write();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if res.is_ready() {
            self.clock.on_write();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
