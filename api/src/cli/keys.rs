//! `gateway keys rotate`

use crate::config::Config;
use crate::notify::endpoints;
use crate::tenants::audit::Actor;
use crate::tenants::{keyrotation, stripe_key};
use anyhow::{Result, bail};
use clap::Subcommand;
use std::io::Write;

#[derive(Subcommand)]
pub enum Command {
    /// Re-encrypt every sealed value (webhook secrets, Stripe API keys, notification
    /// secrets) under PAYMENT_CONFIG_ENC_KEY (idempotent; safe to interrupt and run again). Keep the old key in PAYMENT_CONFIG_ENC_KEY_PREVIOUS until done.
    Rotate,
}

pub async fn run(command: Command, config: &Config) -> Result<()> {
    match command {
        Command::Rotate => rotate(config).await,
    }
}

async fn rotate(config: &Config) -> Result<()> {
    let db = super::open(config).await?;
    let ring = &config.keys;
    // Every sealed value: webhook secrets, Stripe API keys, notification secrets.
    let secrets = keyrotation::rotate_webhook_secrets(&db, ring, progress).await?;
    eprintln!();
    let api_keys = stripe_key::rotate_all(&db, ring, progress).await?;
    eprintln!();
    let endpoints = endpoints::rotate_all(&db, ring, progress).await?;
    eprintln!();
    let kinds = [
        ("webhook secrets", &secrets),
        ("Stripe API keys", &api_keys),
        ("notification endpoint secrets", &endpoints),
    ];
    keyrotation::record(&db, ring, &Actor::cli(), &kinds).await?;
    let mut failed = 0;
    for (kind, summary) in kinds {
        println!(
            "{kind}: {} re-encrypted under key {}, {} already under it, {} failed (of {})",
            summary.rotated,
            ring.current_id(),
            summary.already_current,
            summary.failed.len(),
            summary.total
        );
        for why in &summary.failed {
            println!("  {why}");
        }
        failed += summary.failed.len();
    }
    if failed > 0 {
        bail!(
            "{failed} sealed value(s) could not be decrypted: list their old key in PAYMENT_CONFIG_ENC_KEY_PREVIOUS and run again"
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
