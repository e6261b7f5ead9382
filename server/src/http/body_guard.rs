//! Request bodies that cannot hold a connection or memory for ever.
//!
//! Every request body is read through [`Guarded`]:
//! * **Slow senders are cut off.** Time is cut into windows of `idle`
//!   (30 s by default); a window that ends while the client has nothing to
//!   send and brought fewer than `min_rate × idle` bytes ends the body with
//!   an error. A client trickling a byte a minute (or nothing at all) is
//!   dropped within two windows; a reader that was busy elsewhere is never
//!   blamed, because the check only runs when the client has nothing ready.
//! * **No greedy reader buffers the whole body.** After each chunk the
//!   stream yields once, so a parser that reads "everything that is ready"
//!   in one go (multer does) takes one chunk at a time instead of pulling a
//!   fast client's whole body into memory.
//!
//! The layer leaves bodies that are known to be empty alone.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::Stream;
use http::Request;
use http_body::Body as _;

/// What a guarded body tolerates.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Length of one window (and the longest a client may send nothing).
    pub idle: Duration,
    /// Bytes per second a client must average over a window.
    pub min_rate: u64,
}

impl BodyLimits {
    fn min_per_window(&self) -> u64 {
        (self.min_rate.saturating_mul(self.idle.as_millis() as u64) / 1000).max(1)
    }
}

pin_project_lite::pin_project! {
    /// A body stream with the checks above. `unread`, when set, counts the
    /// bytes handed on that the consumer has not yet taken as field data
    /// (see [`Unread`]).
    pub struct Guarded<S> {
        #[pin]
        inner: S,
        #[pin]
        window_end: tokio::time::Sleep,
        limits: BodyLimits,
        window_bytes: u64,
        just_yielded_chunk: bool,
        // Yield after each chunk (off when an outer guard already does).
        fair: bool,
        unread: Option<Unread>,
        done: bool,
    }
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limits: BodyLimits) -> Self {
        Guarded {
            inner,
            window_end: tokio::time::sleep(limits.idle),
            limits,
            window_bytes: 0,
            just_yielded_chunk: false,
            fair: true,
            unread: None,
            done: false,
        }
    }

    /// Only the unread-bytes cap, for a body the request guard already
    /// watches (no second window, no second yield).
    pub fn counting(inner: S, unread: Unread) -> Self {
        let mut g = Guarded::new(
            inner,
            BodyLimits {
                idle: Duration::from_secs(365 * 24 * 3600),
                min_rate: 0,
            },
        );
        g.fair = false;
        g.unread = Some(unread);
        g
    }

    /// Also fails once more than `unread.cap` bytes went to the consumer
    /// without it reporting them taken.
    pub fn with_unread(mut self, unread: Unread) -> Self {
        self.unread = Some(unread);
        self
    }
}

/// Bytes a parser has read from the body but not yet handed out as field
/// data: what it buffers while looking for a part's headers or a boundary.
/// The consumer calls [`Unread::taken`] for every field and chunk it gets;
/// past `cap` the body fails, so a part header that never ends cannot fill
/// memory.
#[derive(Debug, Clone)]
pub struct Unread {
    count: Arc<AtomicU64>,
    cap: u64,
}

impl Unread {
    pub fn new(cap: u64) -> Self {
        Unread {
            count: Arc::default(),
            cap,
        }
    }

    pub fn taken(&self) {
        self.count.store(0, Ordering::Relaxed);
    }

    /// The error a body fails with when `cap` was passed (for callers that
    /// map it to a status).
    pub fn is_overflow(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut e: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(cur) = e {
            if cur.to_string().contains(UNREAD_OVERFLOW) {
                return true;
            }
            e = cur.source();
        }
        false
    }
}

const UNREAD_OVERFLOW: &str = "a multipart part's headers are too large";

impl<S, E> Stream for Guarded<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if *this.just_yielded_chunk {
            // One chunk per turn: let the consumer take it before more comes in.
            *this.just_yielded_chunk = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                *this.window_bytes += chunk.len() as u64;
                if this.window_end.is_elapsed() {
                    // The window is over and the client kept up: a new one.
                    *this.window_bytes = 0;
                    let next = tokio::time::Instant::now() + this.limits.idle;
                    this.window_end.as_mut().reset(next);
                }
                if let Some(u) = this.unread.as_ref() {
                    let n = u.count.fetch_add(chunk.len() as u64, Ordering::Relaxed)
                        + chunk.len() as u64;
                    if n > u.cap {
                        *this.done = true;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            UNREAD_OVERFLOW,
                        ))));
                    }
                }
                *this.just_yielded_chunk = *this.fair;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                *this.done = true;
                Poll::Ready(Some(Err(io::Error::other(e))))
            }
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.window_end.as_mut().poll(cx).is_ready() {
                    if *this.window_bytes < this.limits.min_per_window() {
                        *this.done = true;
                        let secs = this.limits.idle.as_secs().max(1);
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "the client sent too little for {secs} s (at least {} bytes a second are expected)",
                                this.limits.min_rate.max(1)
                            ),
                        ))));
                    }
                    *this.window_bytes = 0;
                    let next = tokio::time::Instant::now() + this.limits.idle;
                    this.window_end.as_mut().reset(next);
                    // Registers the new deadline with this task.
                    let _ = this.window_end.as_mut().poll(cx);
                }
                Poll::Pending
            }
        }
    }
}

/// Every request body that may carry bytes, read through [`Guarded`].
pub fn guard_request(limits: BodyLimits, req: Request<Body>) -> Request<Body> {
    if req.body().is_end_stream() {
        return req;
    }
    req.map(|body| Body::from_stream(Guarded::new(body.into_data_stream(), limits)))
}

/// The layer that applies [`guard_request`]: a plain tower service that
/// rewraps the body and hands the request on, adding nothing (no boxed
/// future, no allocation) to a request without a body.
#[derive(Debug, Clone, Copy)]
pub struct GuardBodies(pub BodyLimits);

impl<S> tower::Layer<S> for GuardBodies {
    type Service = GuardedService<S>;

    fn layer(&self, inner: S) -> GuardedService<S> {
        GuardedService {
            inner,
            limits: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GuardedService<S> {
    inner: S,
    limits: BodyLimits,
}

impl<S> tower::Service<Request<Body>> for GuardedService<S>
where
    S: tower::Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> S::Future {
        self.inner.call(guard_request(self.limits, req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn limits(idle_ms: u64, min_rate: u64) -> BodyLimits {
        BodyLimits {
            idle: Duration::from_millis(idle_ms),
            min_rate,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_cut_off() {
        let silent = futures::stream::pending::<Result<Bytes, io::Error>>();
        let mut g = Box::pin(Guarded::new(silent, limits(1000, 1)));
        let started = tokio::time::Instant::now();
        let item = g.next().await;
        assert!(matches!(item, Some(Err(e)) if e.kind() == io::ErrorKind::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(1000));
        assert!(g.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_and_a_steady_sender_is_not() {
        // One byte every 400 ms against 100 bytes/s over 1 s windows.
        let trickle = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Some((Ok::<_, io::Error>(Bytes::from_static(b"x")), n + 1))
        });
        let mut g = Box::pin(Guarded::new(trickle, limits(1000, 100)));
        let mut got = 0;
        loop {
            match g.next().await {
                Some(Ok(_)) => got += 1,
                Some(Err(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                    break;
                }
                None => panic!("the trickle ended by itself"),
            }
            assert!(got < 20, "a trickling client was never cut off");
        }
        // 1 KiB every 100 ms is well above the rate: 50 chunks all arrive.
        let steady = futures::stream::iter(0..50).then(|_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, io::Error>(Bytes::from(vec![0u8; 1024]))
        });
        let g = Guarded::new(steady, limits(1000, 100));
        let all: Vec<_> = g.collect().await;
        assert_eq!(all.len(), 50);
        assert!(all.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn unread_bytes_are_capped() {
        let chunks = futures::stream::iter(
            (0..10).map(|_| Ok::<_, io::Error>(Bytes::from(vec![b'a'; 1000]))),
        );
        let unread = Unread::new(2500);
        let g = Guarded::new(chunks, limits(60_000, 1)).with_unread(unread.clone());
        let all: Vec<_> = g.collect().await;
        // Nobody reported anything taken: the third chunk passes the cap.
        assert_eq!(all.len(), 3);
        let err = all[2].as_ref().expect_err("overflow");
        assert!(Unread::is_overflow(err));
    }
}
