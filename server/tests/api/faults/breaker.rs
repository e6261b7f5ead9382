//! The database stops answering under load and comes back: PostgreSQL
//! behind a TCP proxy the test cuts (never the machine's server: other
//! tests share it), SQLite with its write lock held by another program.
//! While it is down, requests that need it get 503 + `Retry-After` fast
//! (p99 under 100 ms when run alone; never a wait for the pool), the
//! cached listing is still served, `/readyz` says why; within 5 s of its
//! return everything answers again, and every job queued before the outage
//! still finishes. (A write already running when the outage begins is never
//! cut off: on SQLite it waits for the lock and lands once it is free.)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{spawn_state, Backend, TestApp};

/// A loopback TCP proxy to `target` that can be cut (every connection
/// closed, new ones refused) and restored on the same port.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    pub(crate) async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        Proxy {
            port,
            target,
            task: Some(tokio::spawn(forward(listener, target))),
        }
    }

    pub(crate) fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    pub(crate) async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the proxy's port again");
        self.task = Some(tokio::spawn(forward(listener, self.target)));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Accepts and pipes; aborting this task drops the listener and every
/// connection with it (the `JoinSet` aborts its tasks when dropped).
async fn forward(listener: TcpListener, target: SocketAddr) {
    let mut pipes = tokio::task::JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        pipes.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while pipes.try_join_next().is_some() {}
    }
}

/// How the test takes the database away.
enum Outage {
    Proxy(Proxy),
    /// A connection of another program holding SQLite's write lock.
    Lock(String, Option<sqlx::SqliteConnection>),
}

impl Outage {
    async fn begin(&mut self) {
        match self {
            Outage::Proxy(p) => p.cut(),
            Outage::Lock(url, held) => {
                let mut c = sqlx::SqliteConnection::connect(url)
                    .await
                    .expect("lock holder");
                c.execute("BEGIN IMMEDIATE")
                    .await
                    .expect("take the write lock");
                *held = Some(c);
            }
        }
    }

    async fn end(&mut self) {
        match self {
            Outage::Proxy(p) => p.restore().await,
            Outage::Lock(_, held) => {
                if let Some(mut c) = held.take() {
                    c.execute("ROLLBACK").await.expect("release the lock");
                    let _ = c.close().await;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// The public listing, cached in memory.
    Cached,
    /// The user's API keys: a read from the database.
    Read,
    /// A new API key: a write.
    Write,
}

#[derive(Debug, Clone)]
struct Sample {
    kind: Kind,
    sent: Instant,
    took: Duration,
    status: u16,
    retry_after: bool,
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(((v.len() as f64) * 0.99) as usize)
        .or(v.last())
        .copied()
        .unwrap_or_default()
}

async fn the_database_going_away_answers_503_fast_and_recovers(b: Backend) {
    let app = TestApp::with(b, |s| s.job_lease = Duration::from_secs(3)).await;
    // The process under test: on PostgreSQL it reaches the database
    // through the proxy, on SQLite it is the app itself.
    let (state, mut outage) = match b {
        Backend::Postgres => {
            let mut url = reqwest::Url::parse(&app.database_url).expect("url");
            let target: SocketAddr = format!(
                "{}:{}",
                url.host_str().unwrap_or("127.0.0.1"),
                url.port().unwrap_or(5432)
            )
            .parse()
            .expect("target");
            let proxy = Proxy::start(target).await;
            url.set_port(Some(proxy.port)).expect("port");
            let state = server::build_state(
                (*app.state.settings).clone(),
                url.as_str(),
                "127.0.0.1:0".parse().expect("addr"),
            )
            .await
            .expect("state through the proxy");
            (state, Outage::Proxy(proxy))
        }
        Backend::Sqlite => (
            app.state.clone(),
            Outage::Lock(app.database_url.clone(), None),
        ),
    };
    let server = spawn_state(state).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();

    // A user, a key, and a few uploads whose jobs are queued as it goes.
    let res = client
        .post(format!("{base}/api/register"))
        .form(&[
            ("email", "ana@example.com"),
            ("password", "a long test password"),
        ])
        .send()
        .await
        .expect("register");
    assert!(res.status().is_success(), "{}", res.status());
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("wk_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let key: serde_json::Value = client
        .post(format!("{base}/api/v1/api-keys"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": "robot"}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("key json");
    let key = key["secret"].as_str().expect("secret").to_string();
    let wav = std::fs::read(crate::audio::wav(1.0)).expect("wav");
    for i in 0..4 {
        let form = reqwest::multipart::Form::new()
            .text("title", format!("Before {i}"))
            .text("visibility", "public")
            .part(
                "audio",
                reqwest::multipart::Part::bytes([wav.clone(), vec![i as u8; 1]].concat())
                    .file_name("before.wav"),
            );
        let res = client
            .post(format!("{base}/api/v1/tracks"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
    }
    let warm = client
        .get(format!("{base}/api/v1/tracks"))
        .send()
        .await
        .expect("listing");
    assert_eq!(warm.status(), reqwest::StatusCode::OK);

    // Load, open loop: a request every 5 ms whatever the earlier ones are
    // doing (so requests blocked behind the outage do not hold the next
    // ones back), rotating over the three kinds.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (client, base, cookie) = (client.clone(), base.clone(), cookie.clone());
        let (samples, stop) = (samples.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent_all = tokio::task::JoinSet::new();
            let mut every = tokio::time::interval(Duration::from_millis(5));
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                every.tick().await;
                let kind = [Kind::Cached, Kind::Read, Kind::Write][n % 3];
                n += 1;
                let req = match kind {
                    Kind::Cached => client.get(format!("{base}/api/v1/tracks")),
                    Kind::Read => client
                        .get(format!("{base}/api/v1/api-keys"))
                        .header("cookie", &cookie),
                    Kind::Write => client
                        .post(format!("{base}/api/v1/api-keys"))
                        .header("cookie", &cookie)
                        .json(&serde_json::json!({"name": format!("k{n}")})),
                };
                let samples = samples.clone();
                sent_all.spawn(async move {
                    let sent = Instant::now();
                    let res = tokio::time::timeout(Duration::from_secs(40), req.send()).await;
                    let took = sent.elapsed();
                    let (status, retry_after) = match res {
                        Ok(Ok(r)) => (r.status().as_u16(), r.headers().contains_key("retry-after")),
                        _ => (0, false),
                    };
                    samples.lock().expect("samples").push(Sample {
                        kind,
                        sent,
                        took,
                        status,
                        retry_after,
                    });
                });
                while sent_all.try_join_next().is_some() {}
            }
            while sent_all.join_next().await.is_some() {}
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    let cut = Instant::now();
    outage.begin().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let why = ready.text().await.expect("text");
    assert!(why.contains("database"), "{why}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let back = Instant::now();
    outage.end().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.expect("load");
    let samples = samples.lock().expect("samples").clone();

    let before: Vec<&Sample> = samples.iter().filter(|s| s.sent + s.took < cut).collect();
    assert!(
        before.iter().all(|s| s.status == 200 || s.status == 201),
        "before the outage: {:?}",
        before.iter().find(|s| s.status >= 300)
    );
    // Answered while the database was away.
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.sent >= cut && s.sent + s.took < back)
        .collect();
    let failed: Vec<&Sample> = during.iter().copied().filter(|s| s.status == 503).collect();
    assert!(
        failed.len() >= 10,
        "requests that needed the database failed fast: {} of {}",
        failed.len(),
        during.len()
    );
    assert!(
        failed.iter().all(|s| s.retry_after),
        "503s carry Retry-After"
    );
    assert!(
        during
            .iter()
            .all(|s| s.status == 503 || s.status == 200 || s.status == 201),
        "only 503 or a real answer: {:?}",
        during.iter().find(|s| ![200, 201, 503].contains(&s.status))
    );
    // Alone, the p99 is well under 100 ms (the figure this prints, kept in
    // bench/RESULTS.md); inside the whole suite on two cores the client and
    // the server share starved threads, so the assertion is what the
    // breaker is for: nobody waits out the pool's 3 s acquire timeout.
    let fail_p99 = p99(failed.iter().map(|s| s.took).collect());
    assert!(
        fail_p99 < Duration::from_millis(500),
        "p99 of the failing requests: {fail_p99:?}"
    );
    let cached: Vec<&Sample> = during
        .iter()
        .copied()
        .filter(|s| s.kind == Kind::Cached)
        .collect();
    assert!(!cached.is_empty());
    assert!(
        cached.iter().all(|s| s.status == 200),
        "the cached listing is served during the outage"
    );
    // Back within 5 s: every request sent later than that succeeds.
    let settled = back + Duration::from_secs(5);
    let late: Vec<&Sample> = samples.iter().filter(|s| s.sent >= settled).collect();
    assert!(late.len() > 10, "load after the return: {}", late.len());
    assert!(
        late.iter().all(|s| s.status == 200 || s.status == 201),
        "5 s after the database returned: {:?}",
        late.iter().find(|s| s.status != 200 && s.status != 201)
    );
    let first_ok = samples
        .iter()
        .filter(|s| s.sent >= back && s.kind != Kind::Cached && s.status < 300)
        .map(|s| s.sent + s.took - back)
        .min()
        .expect("a request succeeded after the return");
    eprintln!(
        "{b:?}: {} failed fast during the outage (p99 {fail_p99:?}), first success {first_ok:?} after the return",
        failed.len()
    );

    // No job lost: every job queued before the outage ends succeeded.
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE state NOT IN ('succeeded', 'cancelled')",
        )
        .fetch_one(app.state.db.pool())
        .await
        .expect("jobs");
        let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'dead'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("dead jobs");
        assert_eq!(dead, 0, "no job died of the outage");
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{open} jobs not finished after the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM track_versions WHERE status = 'ready'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("tracks");
    assert_eq!(ready, 4, "every upload became a ready track");
    server.stop().await;
}

crate::both_backends!(the_database_going_away_answers_503_fast_and_recovers);
