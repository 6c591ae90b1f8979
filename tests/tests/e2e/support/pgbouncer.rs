//! Debian's PgBouncer in transaction pooling mode, in front of the tests' PostgreSQL:
//! started per test on a free loopback port, stopped when dropped.

use super::db::{TempDir, postgres_server_url};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PgBouncer {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl PgBouncer {
    /// Starts one. `ignore_options`: told to let startup `options` through unread
    /// (`ignore_startup_parameters`), as some operators set it; otherwise it refuses them.
    pub fn start(ignore_options: bool) -> Self {
        let server = postgres_server_url();
        let (host, port) = server
            .rsplit('@')
            .next()
            .and_then(|h| h.split_once(':'))
            .expect("TEST_POSTGRES_URL is postgres://user@host:port");
        let dir = TempDir::new();
        let listen = free_port();
        let ignore = match ignore_options {
            true => "ignore_startup_parameters = options, extra_float_digits\n",
            false => "",
        };
        std::fs::write(dir.0.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let ini = dir.0.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host={host} port={port}\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {}\npool_mode = transaction\n\
                 max_client_conn = 400\ndefault_pool_size = 20\n{ignore}",
                dir.0.join("users.txt").display()
            ),
        )
        .unwrap();
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("pgbouncer is missing: scripts/test.sh installs Debian's package");
        let mut command = Command::new(bin);
        // PgBouncer will not run as root; it switches to `postgres` itself when told.
        if is_root() {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pgbouncer did not listen on {listen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port: listen,
            child,
            _dir: dir,
        }
    }

    /// The URL of `database` through this PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
