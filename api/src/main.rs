use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    gateway::cli::main().await
}
