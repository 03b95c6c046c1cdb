//! `assent backup` and `assent copy`: an online SQLite backup, and every row of one database
//! moved into another (SQLite ⇄ PostgreSQL). The work is the store's; this is the command line.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use assent_auth::SecretKey;
use assent_store::{CopyOptions, DatabaseUrl, PoolOptions, Store};
use clap::Args;

use crate::config::StorageConfig;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write; it must not exist. The server may keep running.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

/// Writes a consistent copy of the configured SQLite database to a new file.
pub fn backup(storage: &StorageConfig, args: &BackupArgs) -> anyhow::Result<()> {
    if DatabaseUrl::parse(&storage.database_url)?.backend() != assent_store::Backend::Sqlite {
        bail!(
            "assent backup copies SQLite databases; back up PostgreSQL with pg_dump \
             (see docs/operations.md)"
        );
    }
    let store =
        Store::connect(&storage.database_url, &small_pool()).context("cannot open the database")?;
    store
        .backup(&args.to)
        .with_context(|| format!("cannot back up to {}", args.to.display()))?;
    println!("Backed up to {}.", args.to.display());
    Ok(())
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to read: `sqlite://<path>` or `postgres://…`. It is only read.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The database to write: it is migrated, and must be empty.
    #[arg(long, value_name = "URL")]
    to: String,
    /// The key that sealed the source's webhook secrets (base64), if not in
    /// `<data dir>/secret.key`. The copy stops before writing anything if it does not open one.
    #[arg(
        long,
        env = "ASSENT_SECRET_KEY",
        value_name = "BASE64",
        hide_env_values = true
    )]
    secret_key: Option<String>,
    /// Rows per insert.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Check everything and report what would be copied; write nothing.
    #[arg(long)]
    dry_run: bool,
}

fn small_pool() -> PoolOptions {
    PoolOptions {
        max_connections: 2,
        ..PoolOptions::default()
    }
}

fn load_key(storage: &StorageConfig, given: Option<&str>) -> anyhow::Result<SecretKey> {
    if let Some(text) = given {
        return SecretKey::from_base64(text).context("ASSENT_SECRET_KEY is not a valid key");
    }
    let path = storage.data_dir.join("secret.key");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no --secret-key given and {} cannot be read: the copy needs the key of the server \
             that wrote the source",
            path.display()
        )
    })?;
    SecretKey::from_base64(&text)
        .with_context(|| format!("the key file {} is corrupt", path.display()))
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    match DatabaseUrl::parse(url).ok()? {
        DatabaseUrl::Sqlite(path) => Some(path),
        DatabaseUrl::Postgres(_) => None,
    }
}

/// Copies every row of `--from` into `--to`, then verifies it.
pub fn copy(storage: &StorageConfig, args: &CopyArgs) -> anyhow::Result<()> {
    let key = load_key(storage, args.secret_key.as_deref())?;
    DatabaseUrl::parse(&args.to).context("--to")?;
    let source_path = sqlite_path(&args.from);
    if let Some(path) = &source_path
        && !path.exists()
    {
        bail!("--from: {} does not exist", path.display());
    }
    if source_path.is_some() && source_path == sqlite_path(&args.to) {
        bail!("--from and --to are the same database");
    }
    let source = Store::connect(&args.from, &small_pool()).context("cannot open --from")?;
    // A dry run creates nothing: a SQLite target that does not exist yet is simply empty.
    let target_missing = sqlite_path(&args.to).is_some_and(|p| !p.exists());
    let target = if args.dry_run && target_missing {
        None
    } else {
        Some(Store::connect(&args.to, &small_pool()).context("cannot open --to")?)
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} rows ({per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let started = std::time::Instant::now();
    let report = source.copy_to(
        target.as_ref(),
        &key,
        CopyOptions {
            batch: args.batch as usize,
            dry_run: args.dry_run,
        },
        &mut |p| {
            if let Some(bar) = &bar {
                bar.set_length(p.all_rows);
                bar.set_position(p.all_done);
                bar.set_message(p.table.to_owned());
            }
        },
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report.context("the copy failed; the target holds none of it")?;
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    for table in &report.tables {
        println!(
            "{:<24} {:>10} rows  {}",
            table.table, table.rows, table.checksum
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    if report.dry_run {
        println!(
            "Dry run: {rows} rows in {} tables would be copied; nothing was written.",
            report.tables.len()
        );
    } else {
        println!(
            "Copied and verified {rows} rows in {} tables in {seconds:.1} s ({:.0} rows/s).",
            report.tables.len(),
            rows as f64 / seconds.max(0.001)
        );
    }
    Ok(())
}
