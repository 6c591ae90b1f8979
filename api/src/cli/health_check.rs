//! `gateway health-check [URL]`: asks a gateway's `/ready` and exits 0 when it is ready,
//! 1 otherwise — for container health checks, where the image has no curl.

use crate::config::Config;
use crate::outbound::Destinations;
use anyhow::{Context, Result, bail};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// What to ask; by default this machine's gateway on its BIND_ADDR/PORT port.
    url: Option<String>,
}

pub async fn run(args: Args, config: &Config) -> Result<()> {
    let url = args
        .url
        .unwrap_or_else(|| format!("http://127.0.0.1:{}/ready", config.bind_addr.port()));
    let response = crate::outbound::client(Duration::from_secs(3), Destinations::Trusted)
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url}: {} {body}", status.as_u16());
    }
    println!("{url}: {} {body}", status.as_u16());
    Ok(())
}
