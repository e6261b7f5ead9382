//! The database's circuit breaker. When the database stops answering
//! (PostgreSQL gone, the SQLite file locked or unreadable), a request that
//! needs it would otherwise wait for the pool's acquire timeout, holding
//! its connection to the client and piling up behind the others. The
//! breaker opens instead: from then on every request that needs the
//! database gets `503` with `Retry-After` at once (the router's guard), and
//! those already waiting are answered too.
//!
//! A probe on a connection of its own (outside the pool, so a full pool is
//! never mistaken for a dead database) asks the database a trivial question
//! ten times a second (SQLite: forty) while it answers; an error opens the
//! breaker at once; two missed answers in a row open it too (no answer in
//! time). On SQLite it also tries the write lock (without waiting): found
//! taken at every try for 200 ms while nobody committed anything, the lock
//! is held by a program that is not writing (another process's open
//! transaction, a backup), every write waits for it, and the breaker
//! opens. Our own writers commit as they go, so however busy they keep the
//! lock they never look like that; the few that keep it across slow work
//! (storing or removing a file) say so (`Db::lock_held`). While open, it asks four times
//! a second and closes the breaker on the first answer. A request that
//! meets a connection error opens it as well (see `AppError::database_down`).
//!
//! The breaker is one process's view of its own connection: each process
//! on a shared PostgreSQL probes for itself, since the question is whether
//! *this* process can reach the database.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::{ConnectOptions, Executor};

use super::{now_ms, Backend, Db};

/// How often the probe asks PostgreSQL while it answers.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How often the probe asks SQLite while it answers (a question there is a
/// few microseconds: its file, no network).
pub const PROBE_EVERY_SQLITE: Duration = Duration::from_millis(25);
/// How long SQLite's write lock may stay taken with nothing committed
/// before the database counts as locked (our own longest transactions are a
/// few milliseconds; a commit's sync on a starved disk tens).
pub const SQLITE_LOCK_PATIENCE: Duration = Duration::from_millis(200);
/// How often it asks while the breaker is open.
pub const PROBE_EVERY_OPEN: Duration = Duration::from_millis(250);
/// An answer slower than this is a missed answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Missed answers in a row that open the breaker (an error opens it at once).
pub const MISSES_TO_OPEN: u32 = 2;

/// Whether the database answers, as this process sees it.
pub struct Breaker {
    /// `true` while open; the guard waits on changes.
    open: tokio::sync::watch::Sender<bool>,
    /// When the current state began (unix ms).
    since: AtomicI64,
    /// Why it opened.
    reason: Mutex<String>,
}

/// The breaker's state, for `/readyz`, /admin and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerStatus {
    pub open: bool,
    /// Why it opened (empty while closed).
    pub reason: String,
    /// How long the current state has lasted.
    pub for_ms: i64,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("open", &self.is_open())
            .finish()
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            open: tokio::sync::watch::Sender::new(false),
            since: AtomicI64::new(now_ms()),
            reason: Mutex::new(String::new()),
        }
    }
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Opens the breaker (when closed) because of `reason`; true when this
    /// call opened it.
    pub fn trip(&self, reason: &str) -> bool {
        let opened = self
            .open
            .send_if_modified(|open| !std::mem::replace(open, true));
        if opened {
            self.since.store(now_ms(), Ordering::Relaxed);
            let reason: String = reason.chars().take(500).collect();
            tracing::error!(%reason, "the database is not answering: requests that need it get 503 until it does");
            metrics::counter!("db_breaker_opened_total").increment(1);
            *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = reason;
        }
        opened
    }

    /// Closes the breaker (when open); true when this call closed it.
    pub fn close(&self) -> bool {
        let closed = self
            .open
            .send_if_modified(|open| std::mem::replace(open, false));
        if closed {
            let was = now_ms() - self.since.swap(now_ms(), Ordering::Relaxed);
            tracing::warn!(down_ms = was, "the database answers again");
            self.reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        closed
    }

    /// Resolves when the breaker is (or becomes) open.
    pub fn opened(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.open.subscribe();
        async move {
            let _ = rx.wait_for(|open| *open).await;
        }
    }

    pub fn status(&self) -> BreakerStatus {
        let open = self.is_open();
        BreakerStatus {
            open,
            reason: if open {
                self.reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            } else {
                String::new()
            },
            for_ms: now_ms() - self.since.load(Ordering::Relaxed),
        }
    }
}

/// The probe: runs until the task is aborted, opening and closing `db`'s
/// breaker as the database stops and starts answering.
pub async fn watch(db: Db) {
    let mut conn: Option<Probe> = None;
    let mut misses = 0u32;
    loop {
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe(&db, &mut conn)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Slow(format!(
                "no answer within {} ms",
                PROBE_TIMEOUT.as_millis()
            ))),
        };
        match outcome {
            Ok(()) => {
                misses = 0;
                db.breaker().close();
            }
            Err(Failure::Down(why)) => {
                conn = None;
                misses = 0;
                db.breaker().trip(&why);
            }
            Err(Failure::Locked(why)) => {
                // The connection is fine and keeps what it saw of the lock.
                misses = 0;
                db.breaker().trip(&why);
            }
            Err(Failure::Slow(why)) => {
                // A connection stuck mid-question is not asked again.
                conn = None;
                misses += 1;
                if misses >= MISSES_TO_OPEN {
                    db.breaker()
                        .trip(&format!("{why}, {misses} times in a row"));
                }
            }
        }
        let pause = if db.breaker().is_open() {
            PROBE_EVERY_OPEN
        } else if db.backend() == Backend::Sqlite {
            PROBE_EVERY_SQLITE
        } else {
            PROBE_EVERY
        };
        tokio::time::sleep(pause).await;
    }
}

/// Why a probe failed.
enum Failure {
    /// The database refused, reset or failed: it is down now.
    Down(String),
    /// No answer in time: down if it lasts.
    Slow(String),
    /// SQLite's write lock held by a program that commits nothing: down.
    Locked(String),
}

/// The probe's own connection, and on SQLite what it last saw of the write lock.
struct Probe {
    conn: sqlx::AnyConnection,
    /// Since when the write lock has been found taken at every try, and the
    /// database's `data_version` then (it changes with every commit made
    /// on another connection).
    locked: Option<(std::time::Instant, i64)>,
}

/// One question on the probe's own connection (made when missing).
async fn probe(db: &Db, conn: &mut Option<Probe>) -> Result<(), Failure> {
    let p = match conn {
        Some(p) => p,
        None => {
            let url = secrecy::ExposeSecret::expose_secret(db.url()).to_string();
            let options: AnyConnectOptions =
                url.parse().map_err(|e| Failure::Down(format!("{e}")))?;
            let mut c = options
                .disable_statement_logging()
                .connect()
                .await
                .map_err(|e| Failure::Down(describe(&e)))?;
            if db.backend() == Backend::Sqlite {
                // The lock is tried, never waited for.
                c.execute("PRAGMA busy_timeout = 0")
                    .await
                    .map_err(|e| Failure::Down(describe(&e)))?;
            }
            conn.insert(Probe {
                conn: c,
                locked: None,
            })
        }
    };
    let c = &mut p.conn;
    match db.backend() {
        Backend::Postgres => {
            c.execute("SELECT 1")
                .await
                .map_err(|e| Failure::Down(describe(&e)))?;
        }
        Backend::Sqlite => {
            // Reads the file (an unreadable or damaged one shows)...
            c.execute("SELECT COUNT(*) FROM sqlite_master")
                .await
                .map_err(|e| Failure::Down(describe(&e)))?;
            // ...and tries the write lock for an instant. Taken, it is
            // either our own writers at work (they commit, which changes
            // `data_version`) or a program holding it without writing.
            // In this process's turn when it is free, so no writer of ours
            // meets the probe's instant of lock and sleeps in its busy handler.
            let _turn = db.try_write_turn();
            match c.execute("BEGIN IMMEDIATE").await {
                Ok(_) => {
                    p.locked = None;
                    c.execute("ROLLBACK")
                        .await
                        .map_err(|e| Failure::Down(describe(&e)))?;
                }
                Err(e) if is_locked(&e) && db.lock_held_here() => {
                    // A transaction of ours holds it while it stores or
                    // removes a file.
                    p.locked = None;
                }
                Err(e) if is_locked(&e) => {
                    let version: i64 = sqlx::query_scalar("PRAGMA data_version")
                        .fetch_one(&mut *c)
                        .await
                        .map_err(|e| Failure::Down(describe(&e)))?;
                    match p.locked {
                        Some((since, seen)) if seen == version => {
                            if since.elapsed() >= SQLITE_LOCK_PATIENCE {
                                return Err(Failure::Locked(format!(
                                    "the SQLite write lock has been held for over {} ms by a \
                                     program that commits nothing (another process's open \
                                     transaction?): every write waits for it",
                                    SQLITE_LOCK_PATIENCE.as_millis()
                                )));
                            }
                        }
                        _ => p.locked = Some((std::time::Instant::now(), version)),
                    }
                }
                Err(e) => return Err(Failure::Down(describe(&e))),
            }
        }
    }
    Ok(())
}

/// SQLite's BUSY or LOCKED, with their extended codes (the low byte).
fn is_locked(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.code().and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6)))
}

/// A connection error in words (never the URL or a password).
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => format!("connection failed: {io}"),
        sqlx::Error::Database(d) => format!("database error: {}", d.message()),
        other => other.to_string(),
    }
}

/// Whether `err` says the database cannot be reached or used at all (as
/// opposed to one bad statement): connection failures, a closed pool, and
/// the codes PostgreSQL and SQLite give for a server going away or a file
/// that cannot be opened, read or locked.
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            // PostgreSQL: class 08 (connection exception), 57P01-57P03
            // (shutting down, cannot connect now).
            code.starts_with("08")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
                // SQLite (the low byte of an extended code, never five
                // characters as PostgreSQL's are): IOERR, CANTOPEN, NOTADB.
                // BUSY and LOCKED are contention, not an outage: the probe
                // judges a lock that lasts.
                || (code.len() < 5
                    && code
                        .parse::<u32>()
                        .is_ok_and(|c| matches!(c & 0xff, 10 | 14 | 26)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// On SQLite the probe opens the breaker for a write lock held by
    /// another program, never for our own writers keeping it busy: many
    /// short transactions back to back, or one that says it holds the lock
    /// across slow work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sqlite_probe_tells_our_writers_from_a_held_lock() {
        let (db, url, path) = crate::db::scratch_sqlite("probe").await;
        let probe = tokio::spawn(watch(db.clone()));
        let opened = tokio::spawn(db.breaker().opened());

        // Eight writers for 1.5 s, each holding the lock 20 ms a transaction:
        // it is nearly always taken, and commits keep coming.
        let until = std::time::Instant::now() + Duration::from_millis(1500);
        let writers: Vec<_> = (0..8i64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut commits = 0;
                    while std::time::Instant::now() < until {
                        let mut tx = db.pool().begin().await.expect("begin");
                        sqlx::query("INSERT INTO t (n) VALUES ($1)")
                            .bind(i)
                            .execute(&mut *tx)
                            .await
                            .expect("insert");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        tx.commit().await.expect("commit");
                        commits += 1;
                    }
                    commits
                })
            })
            .collect();
        let mut commits = 0;
        for w in writers {
            commits += w.await.expect("writer");
        }
        assert!(commits > 20, "the writers wrote: {commits}");
        assert!(
            !opened.is_finished(),
            "busy writers of ours opened the breaker"
        );

        // One of ours holding the lock 800 ms across slow work, saying so.
        {
            let mut tx = db.pool().begin().await.expect("begin");
            sqlx::query("INSERT INTO t (n) VALUES (1)")
                .execute(&mut *tx)
                .await
                .expect("insert");
            let _held = db.lock_held();
            tokio::time::sleep(Duration::from_millis(800)).await;
            tx.commit().await.expect("commit");
        }
        assert!(
            !opened.is_finished(),
            "a declared holder opened the breaker"
        );

        // Another program holds it without writing: open within a second,
        // closed within a second of its release.
        let mut other = sqlx::SqliteConnection::connect(&url).await.expect("open");
        other.execute("BEGIN IMMEDIATE").await.expect("lock");
        let took = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(1), opened)
            .await
            .expect("the breaker opened")
            .expect("join");
        assert!(took.elapsed() >= SQLITE_LOCK_PATIENCE / 2);
        assert!(db.breaker().status().reason.contains("write lock"));
        other.execute("ROLLBACK").await.expect("release");
        let closed = std::time::Instant::now() + Duration::from_secs(1);
        while db.breaker().is_open() {
            assert!(
                std::time::Instant::now() < closed,
                "closed after the release"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        probe.abort();
        drop(other);
        crate::db::remove_scratch(db, &path).await;
    }

    #[test]
    fn opens_and_closes_once_each() {
        let b = Breaker::default();
        assert!(!b.is_open());
        assert!(b.trip("gone"));
        assert!(!b.trip("still gone"), "a second trip changes nothing");
        let s = b.status();
        assert!(s.open);
        assert_eq!(s.reason, "gone");
        assert!(b.close());
        assert!(!b.close());
        assert!(!b.status().open);
        assert!(b.status().reason.is_empty());
    }
}
