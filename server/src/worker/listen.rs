//! Cross-process wake-ups on PostgreSQL: one LISTEN connection per process
//! wakes its workers when any process enqueues, and drops the caches'
//! entries another process changed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use app::jobs::db as q;

/// On PostgreSQL, wakes this process's workers whenever any process enqueues
/// (LISTEN on the queue's channel); reconnects after errors. On SQLite (one
/// process) the in-process wake-up is enough and this returns at once.
pub async fn listen_for_enqueues(
    db: app::db::Db,
    wake: Arc<Notify>,
    caches: app::tracks::cache::TrackCaches,
) {
    use app::tracks::cache::CHANGED_CHANNEL;
    use secrecy::ExposeSecret;
    if db.backend() != app::db::Backend::Postgres {
        return;
    }
    loop {
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect(db.url().expose_secret()).await?;
            l.listen_all([q::WAKE_CHANNEL, CHANGED_CHANNEL]).await?;
            loop {
                let n = l.recv().await?;
                if n.channel() == CHANGED_CHANNEL {
                    caches.heard(n.payload()).await;
                } else {
                    wake.notify_waiters();
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        if let Err(e) = listener.await {
            tracing::warn!(error = %e, "queue LISTEN connection lost; reconnecting");
        }
        // Jobs enqueued while disconnected are found by the regular poll;
        // changes missed meanwhile must not be served from the caches.
        wake.notify_waiters();
        caches.forget(None).await;
        caches.tracks.invalidate_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
