use std::process::ExitCode;

/// mimalloc: the webhook path allocates for every JSON value, SQL statement and row;
/// with glibc's malloc that took about as much CPU as the gateway's own code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    gateway::outbound::install_crypto();
    gateway::cli::main().await
}
