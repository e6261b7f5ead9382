//! `wavekeep`: parses the command line and hands over to the library.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use server::config::{ApiKeyCommand, Cli, Command, Config, StorageCommand};

fn main() -> ExitCode {
    // The sandboxed decoder: no runtime, no configuration, just a pipe.
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("media-worker") {
        let memory_mb = args.next().and_then(|a| a.parse().ok()).unwrap_or(2048);
        return server::media::sandbox::child_main(memory_mb);
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async_main()),
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The log filter applies to what is printed; slow statements reach the
    // dashboard whatever it says.
    let filter = EnvFilter::try_new(&cli.config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(
            server::telemetry::SlowStatements.with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("sqlx::query", tracing::Level::WARN),
            ),
        )
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&config).await,
        Command::Migrate { revert_to } => migrate(&config, revert_to).await,
        Command::CreateAdmin { email } => create_admin(&config, &email).await,
        Command::ApiKey {
            command:
                ApiKeyCommand::Create {
                    email,
                    name,
                    calls,
                    transcribe_calls,
                },
        } => {
            let scope = match calls.as_deref() {
                Some(s) => Some(
                    app::calls::CallScope::parse(s).map_err(|e| anyhow::anyhow!("--calls: {e}"))?,
                ),
                None => None,
            };
            let state = state(&config).await?;
            let key = app::auth::service::create_api_key_for_email(&state, &email, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if scope.is_some() || transcribe_calls {
                let owner =
                    app::auth::db::user_id_by_email(&state.db, &email.trim().to_lowercase())
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .unwrap_or_default();
                if let Some(scope) = &scope {
                    app::calls::set_scope(&state.db, owner, key.key.id, Some(scope))
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                if transcribe_calls {
                    app::calls::set_transcribe(&state.db, owner, key.key.id, true)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
            println!("{}", key.secret);
            eprintln!(
                "Created key \"{}\" ({}…) for {email}. It is shown only once.",
                key.key.name, key.key.prefix
            );
            Ok(())
        }
        Command::Storage {
            command: StorageCommand::Migrate { to, jobs },
        } => migrate_storage(&config, &to, jobs).await,
        Command::Import {
            dir,
            email,
            visibility,
            tags,
            dry_run,
            jobs,
        } => {
            let visibility = match visibility.as_deref() {
                None => None,
                Some(v) => Some(
                    app::tracks::Visibility::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
                        anyhow::anyhow!("--visibility must be private, unlisted or public")
                    })?,
                ),
            };
            let state = state(&config).await?;
            let owner_id = app::auth::db::user_id_by_email(&state.db, &email.trim().to_lowercase())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let opts = server::uploads::import::ImportOptions {
                owner_id,
                visibility,
                tags: tags.map(|t| t.chars().take(500).collect()),
                dry_run,
                jobs,
            };
            eprintln!("Importing the audio files under {}…", dir.display());
            let s = server::uploads::import::import(&state, &dir, &opts).await?;
            if dry_run {
                eprintln!(
                    "Dry run: {} files would be imported, {} already there, {} other files passed over.",
                    s.would_import, s.skipped, s.passed_over
                );
            } else {
                eprintln!(
                    "Imported {} files ({:.1} MB), {} already there, {} other files passed over, {} failed.",
                    s.imported,
                    s.imported_bytes as f64 / 1e6,
                    s.skipped,
                    s.passed_over,
                    s.failed.len()
                );
            }
            for (path, why) in &s.failed {
                eprintln!("  {}: {why}", path.display());
            }
            if !s.failed.is_empty() {
                anyhow::bail!("{} files were not imported", s.failed.len());
            }
            Ok(())
        }
    }
}

async fn migrate_storage(config: &Config, to: &str, jobs: usize) -> anyhow::Result<()> {
    let dest = config
        .storage
        .settings_at(to)
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    eprintln!(
        "Copying the stored files under {} to {}…",
        config.data_dir.display(),
        dest.location()
    );
    let s = server::storage::migrate::migrate(&config.data_dir, &dest, jobs).await?;
    eprintln!(
        "Copied {} files ({:.1} MB), {} already there, {} failed.",
        s.copied,
        s.copied_bytes as f64 / 1e6,
        s.skipped,
        s.failed.len()
    );
    for (key, why) in &s.failed {
        eprintln!("  {key}: {why}");
    }
    if !s.failed.is_empty() {
        anyhow::bail!(
            "{} files were not copied; run the command again",
            s.failed.len()
        );
    }
    eprintln!(
        "Done. Start wavekeep with WAVEKEEP_STORAGE={} to serve from it.",
        dest.location()
    );
    Ok(())
}

async fn state(config: &Config) -> anyhow::Result<server::ServerState> {
    server::build_state(config.settings(), &config.database_url(), config.addr)
        .await
        .context("opening the database")
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let state = state(config).await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {}", config.addr))?;
    let db = state.db.clone();
    if let Some(addr) = config.metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for /metrics on {addr}"))?;
        tracing::info!(%addr, "serving /metrics without authentication on its own listener");
        tokio::spawn(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(|| async { server::http::metrics::text() }),
            );
            if let Err(e) = axum::serve(metrics, app).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    server::serve(state, listener, server::shutdown_signal()).await?;
    db.close().await;
    Ok(())
}

async fn migrate(config: &Config, revert_to: Option<i64>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let settings = config.settings();
    let db = app::db::Db::connect(&config.database_url(), &settings.pool).await?;
    match revert_to {
        Some(v) => {
            db.revert_to(v).await?;
            eprintln!(
                "Reverted migrations newer than {v} ({} database).",
                db.backend().name()
            );
        }
        None => {
            db.migrate().await?;
            eprintln!(
                "Migrated the {} database to {}.",
                db.backend().name(),
                db.latest_migration()
            );
        }
    }
    db.close().await;
    Ok(())
}

async fn create_admin(config: &Config, email: &str) -> anyhow::Result<()> {
    let password = read_password()?;
    let state = state(config).await?;
    let id = app::auth::service::create_admin(&state.db, email, &password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("Admin {email} is ready (user id {id}).");
    Ok(())
}

/// Prompts twice on a terminal; otherwise reads one line from stdin.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        anyhow::ensure!(!pw.is_empty(), "no password on standard input");
        Ok(pw)
    }
}
