//! `gateway keys rotate`

use crate::config::Config;
use crate::tenants::audit::Actor;
use crate::tenants::keyrotation;
use anyhow::{Result, bail};
use clap::Subcommand;
use std::io::Write;

#[derive(Subcommand)]
pub enum Command {
    /// Re-encrypt every stored secret under PAYMENT_CONFIG_ENC_KEY (idempotent; safe to
    /// interrupt and run again). Keep the old key in PAYMENT_CONFIG_ENC_KEY_PREVIOUS until done.
    Rotate,
}

pub async fn run(command: Command, config: &Config) -> Result<()> {
    match command {
        Command::Rotate => rotate(config).await,
    }
}

async fn rotate(config: &Config) -> Result<()> {
    let db = crate::db::open_migrated(config).await?;
    let ring = &config.keys;
    let summary = keyrotation::rotate_all(&db, ring, &Actor::cli(), progress).await?;
    eprintln!();
    println!(
        "{} secret(s): {} re-encrypted under key {}, {} already under it, {} failed",
        summary.total,
        summary.rotated,
        ring.current_id(),
        summary.already_current,
        summary.failed.len()
    );
    for why in &summary.failed {
        println!("  {why}");
    }
    if !summary.failed.is_empty() {
        bail!(
            "{} secret(s) could not be decrypted: list their old key in PAYMENT_CONFIG_ENC_KEY_PREVIOUS and run again",
            summary.failed.len()
        );
    }
    Ok(())
}

fn progress(done: usize, total: usize) {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}
