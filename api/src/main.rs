use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc: the webhook path allocates for every JSON value, SQL statement and row;
/// with glibc's malloc that took about as much CPU as the gateway's own code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the runtime's leftover tasks get once a command has finished. A pool's
/// maintenance task caught by shutdown was seen spinning for minutes in a CLI that
/// had printed its answer: the process must end however such a task behaves.
const SHUTDOWN: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    gateway::outbound::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let code = runtime.block_on(gateway::cli::main());
    gateway::cli::logs::flush();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    runtime.shutdown_timeout(SHUTDOWN);
    code
}
