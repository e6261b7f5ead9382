//! The database handle: one sqlx `Any` pool over SQLite (embedded default) or
//! PostgreSQL, the per-backend migrations, and the readiness check.
//!
//! Queries are written once with `$N` placeholders, which both drivers accept;
//! the rare statement that must differ asks `Db::backend()`.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Statements slower than this are logged (warn, target `sqlx::query`, with
/// their first words and duration) and counted on the dashboard.
pub const SLOW_STATEMENT: Duration = Duration::from_millis(100);

pub mod breaker;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Connection pool settings (defaults from seed 001: max 20, min 5, idle 10 s, acquire 3 s).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    pub idle_timeout: Duration,
    pub acquire_timeout: Duration,
    /// SQLite's `synchronous`: `FULL` (a commit survives a power cut) or
    /// `NORMAL` (a power cut may undo the last commits; see the README).
    pub sqlite_full_sync: bool,
    /// Start on a PostgreSQL that runs with `fsync = off` (a crash of its
    /// machine can corrupt it): refused unless this is set.
    pub allow_unsafe_postgres: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 20,
            min_connections: 5,
            idle_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(3),
            sqlite_full_sync: true,
            allow_unsafe_postgres: false,
        }
    }
}

/// Whether a PostgreSQL reporting `fsync` (its `SHOW fsync`) may be used:
/// with `fsync = off`, a power cut or OS crash can corrupt the whole
/// database, which no promise of wavekeep's survives.
pub fn postgres_durability(fsync: &str, allow_unsafe: bool) -> Result<(), String> {
    if fsync.trim().eq_ignore_ascii_case("off") {
        let why = "PostgreSQL runs with fsync = off: a power cut or OS crash can corrupt the \
                   database and lose acknowledged uploads";
        if allow_unsafe {
            tracing::error!("{why}; starting anyway (WAVEKEEP_ALLOW_UNSAFE_POSTGRES)");
        } else {
            return Err(format!(
                "{why}. Turn fsync on, or set WAVEKEEP_ALLOW_UNSAFE_POSTGRES=1 for a throwaway database"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnknownScheme,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Unsafe(String),
}

#[cfg(test)]
mod durability_tests {
    #[test]
    fn postgres_without_fsync_is_refused_unless_allowed() {
        assert!(super::postgres_durability("on", false).is_ok());
        let refused = super::postgres_durability("off", false).expect_err("refused");
        assert!(refused.contains("fsync = off"), "{refused}");
        assert!(
            refused.contains("WAVEKEEP_ALLOW_UNSAFE_POSTGRES"),
            "{refused}"
        );
        assert!(super::postgres_durability("off", true).is_ok());
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// The job queue's bookkeeping (claims, completions). On PostgreSQL its
    /// connections commit without waiting for the WAL flush: a claim or
    /// completion lost in a crash only makes the job run again, which
    /// at-least-once delivery allows; job effects use `pool`.
    jobs_pool: AnyPool,
    backend: Backend,
    /// Kept for connections outside the pool (PostgreSQL LISTEN).
    url: std::sync::Arc<secrecy::SecretString>,
    /// SQLite's one write lock, taken in turn in this process (see `write_turn`).
    writes: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Whether the database answers (see `breaker`).
    breaker: std::sync::Arc<breaker::Breaker>,
    /// Transactions of this process known to hold SQLite's write lock
    /// across slow work (storage I/O): see `LockHeld`.
    holders: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Says, while it lives, that a transaction of this process holds SQLite's
/// write lock and may keep it a while without committing (it writes or
/// removes a stored file meanwhile): the breaker's probe must not take that
/// for another program holding the lock.
#[derive(Debug)]
pub struct LockHeld(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for LockHeld {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A place in the in-process queue of writers (SQLite); dropping it ends the turn.
pub type WriteTurn = Option<tokio::sync::OwnedSemaphorePermit>;

/// A write transaction in this process's write turn (`Db::begin_write`).
/// The turn ends only once the transaction has: committed, rolled back, or
/// (dropped open, on an early return, an error or a cancelled request)
/// rolled back by a task that keeps the turn until SQLite has let the lock
/// go. A plain dropped transaction rolls back later, on its connection's
/// thread, and the next writer in turn would meet its lock.
pub struct WriteTx {
    tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
    turn: WriteTurn,
}

impl WriteTx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.tx.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.tx.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        self.tx
            .as_ref()
            .expect("a WriteTx holds its transaction until it ends")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.tx
            .as_mut()
            .expect("a WriteTx holds its transaction until it ends")
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        let turn = self.turn.take();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = tx.rollback().await;
                    drop(turn);
                });
            }
            // No runtime left (shutting down): sqlx's own rollback on drop.
            Err(_) => drop(tx),
        }
    }
}

impl Db {
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(DbError::UnknownScheme)?;
        let options: AnyConnectOptions = url
            .parse::<AnyConnectOptions>()?
            .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
        let full_sync = settings.sqlite_full_sync;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections.min(settings.max_connections))
            .acquire_timeout(settings.acquire_timeout);
        pool_options = match backend {
            // A SQLite connection is an open file, kept once opened: closing
            // idle ones saves nothing, closing the last one checkpoints and
            // deletes the WAL while new ones wait at the door, and without
            // an idle timeout or lifetime sqlx runs no reaper task (whose
            // loop can spin on a racy idle count: sqlx#3645).
            Backend::Sqlite => pool_options.idle_timeout(None).max_lifetime(None),
            Backend::Postgres => pool_options.idle_timeout(Some(settings.idle_timeout)),
        };
        let pool = pool_options
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; foreign keys are
                        // off by default in SQLite; busy_timeout waits for the write lock.
                        conn.execute(if full_sync {
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                        } else {
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                        })
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        if backend == Backend::Postgres {
            let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&pool).await?;
            postgres_durability(&fsync, settings.allow_unsafe_postgres).map_err(DbError::Unsafe)?;
        }
        let jobs_pool = match backend {
            Backend::Sqlite => pool.clone(),
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    .min_connections(0)
                    .idle_timeout(Some(settings.idle_timeout))
                    .acquire_timeout(settings.acquire_timeout)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("SET synchronous_commit = off").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Db {
            pool,
            jobs_pool,
            backend,
            url: std::sync::Arc::new(url.to_string().into()),
            writes: (backend == Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1))),
            breaker: Default::default(),
            holders: Default::default(),
        })
    }

    /// Waits for this process's turn to write, on SQLite (PostgreSQL: none
    /// needed). SQLite lets one connection write at a time, and a connection
    /// that finds the lock taken sleeps in its busy handler in steps of 1 to
    /// 100 ms: with many uploads finishing together that made a slow tail.
    /// Writers queue here instead, in arrival order, and hold the turn for
    /// one short transaction: uploads, the job queue's bookkeeping and the
    /// jobs' results, transcripts, and the writes a request makes on its
    /// way (a key's last use, a play position, a download, a change). A
    /// writer outside the turn still works, only less fairly; a turn is
    /// never taken while holding one (there is one) or a connection.
    pub async fn write_turn(&self) -> WriteTurn {
        match &self.writes {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Takes this process's write turn, then begins a transaction in it.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx: Some(tx), turn })
    }

    /// Marks the write lock as held by a transaction of ours (see `LockHeld`);
    /// taken once the transaction's first write has returned.
    pub fn lock_held(&self) -> LockHeld {
        self.holders
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        LockHeld(self.holders.clone())
    }

    /// Whether a transaction of ours says it holds the write lock.
    pub fn lock_held_here(&self) -> bool {
        self.holders.load(std::sync::atomic::Ordering::Acquire) > 0
    }

    /// This process's turn to write if nobody has it now (SQLite), else `None`.
    pub fn try_write_turn(&self) -> WriteTurn {
        self.writes.as_ref()?.clone().try_acquire_owned().ok()
    }

    /// Takes, for the rest of the transaction on `conn`, the lock that
    /// serializes everything that links or removes the stored file with
    /// content `sha256`: an ingest linking it and rows pointing at it, a purge
    /// or sweep checking that no row does and removing it. On PostgreSQL a
    /// transaction-scoped advisory lock on the hash; on SQLite the database's
    /// write lock (one writer at a time covers every hash). Must be the
    /// transaction's first statement on SQLite, so its reads see the latest
    /// commits.
    pub async fn lock_content(
        &self,
        conn: &mut sqlx::AnyConnection,
        sha256: &str,
    ) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Postgres => {
                let mut key = [0u8; 8];
                let digits = sha256.as_bytes();
                for (i, k) in key.iter_mut().enumerate() {
                    let hi = digits.get(2 * i).copied().unwrap_or(b'0');
                    let lo = digits.get(2 * i + 1).copied().unwrap_or(b'0');
                    *k = (hex_value(hi) << 4) | hex_value(lo);
                }
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(i64::from_be_bytes(key))
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Sqlite => {
                // A write statement takes the write lock even when it changes nothing.
                sqlx::query("UPDATE users SET id = id WHERE id = -1")
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// The connection URL (a secret: it may hold a password).
    pub fn url(&self) -> &secrecy::SecretString {
        &self.url
    }

    /// Whether the database answers, as this process sees it.
    pub fn breaker(&self) -> &breaker::Breaker {
        &self.breaker
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for the queue's own bookkeeping (see the field).
    pub fn jobs_pool(&self) -> &AnyPool {
        &self.jobs_pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending up-migration.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Reverts migrations down to (not including) `target` version; 0 reverts all.
    pub async fn revert_to(&self, target: i64) -> Result<(), DbError> {
        self.backend.migrator().undo(&self.pool, target).await?;
        Ok(())
    }

    /// Latest migration version this binary knows.
    pub fn latest_migration(&self) -> i64 {
        self.backend
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// True when the database answers (within 2 s) and every migration of
    /// this binary is applied.
    pub async fn is_ready(&self) -> bool {
        if self.breaker.is_open() {
            return false;
        }
        let applied = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE",
            )
            .fetch_one(&self.pool),
        )
        .await;
        matches!(applied, Ok(Ok(Some(v))) if v >= self.latest_migration())
    }

    pub async fn close(&self) {
        self.jobs_pool.close().await;
        self.pool.close().await;
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Milliseconds since the unix epoch: every timestamp column stores this.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// True when an insert or update failed on a unique index.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// A scratch SQLite database for unit tests: its pool, URL and file, with
/// a table `t (n INTEGER)`; `remove_scratch` deletes it.
#[cfg(all(test, feature = "ssr"))]
pub(crate) async fn scratch_sqlite(tag: &str) -> (Db, String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("wk-{tag}-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Db::connect(&url, &PoolSettings::default())
        .await
        .expect("open");
    sqlx::query("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        .execute(db.pool())
        .await
        .expect("table");
    (db, url, path)
}

#[cfg(all(test, feature = "ssr"))]
pub(crate) async fn remove_scratch(db: Db, path: &std::path::Path) {
    db.close().await;
    for ext in ["db", "db-wal", "db-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
}

#[cfg(all(test, feature = "ssr"))]
mod write_tx_tests {
    use super::*;
    use sqlx::Connection;

    /// A write transaction dropped open (an early return, a cancelled
    /// request) keeps the write turn until SQLite's lock is free again: the
    /// next writer in turn never meets it (it did: a 503 "database is
    /// busy" at once, with no wait, for the next edit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_write_transaction_frees_the_lock_before_the_turn() {
        let (db, url, path) = scratch_sqlite("writetx").await;
        // Another connection that never waits for the lock.
        let mut other = sqlx::SqliteConnection::connect(&url).await.expect("open");
        other
            .execute("PRAGMA busy_timeout = 0")
            .await
            .expect("no wait");
        for round in 0..100 {
            {
                let mut tx = db.begin_write().await.expect("begin");
                sqlx::query("UPDATE t SET n = n + 1 WHERE n < 0")
                    .execute(&mut *tx)
                    .await
                    .expect("update");
                // Dropped open.
            }
            let _turn = db.write_turn().await;
            other
                .execute("BEGIN IMMEDIATE")
                .await
                .unwrap_or_else(|e| panic!("round {round}: the lock was still held: {e}"));
            other.execute("ROLLBACK").await.expect("rollback");
        }
        drop(other);
        remove_scratch(db, &path).await;
    }
}
