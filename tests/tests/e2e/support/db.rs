//! The test's own database: made fresh for each test, queried as JSON rows, and given
//! faults on demand.

use super::{Backend, random_hex};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// A database made for one test.
#[derive(Clone)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Arc<TempDir>,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("gateway-test-{}", random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = Arc::new(TempDir::new());
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}/gateway.db?mode=rwc", dir.0.display()),
            Backend::Postgres => {
                let server = postgres_server_url();
                let name = format!("gw_{}", random_hex(8));
                let admin = Database::connect(format!("{server}/postgres"))
                    .await
                    .expect("connect to the test PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                admin.close().await.ok();
                format!("{server}/{name}")
            }
        };
        Self {
            backend,
            url,
            _dir: dir,
        }
    }

    /// A SQLite database in `dir` (a small filesystem a test mounted, say).
    pub fn sqlite_in(dir: &std::path::Path) -> Self {
        Self {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}/gateway.db?mode=rwc", dir.display()),
            _dir: Arc::new(TempDir::new()),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self._dir.0
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Makes every insert of a payment fail: a processing failure on demand.
    pub async fn break_payments(&self) {
        self.fail_inserts_into("payments").await
    }

    pub async fn repair_payments(&self) {
        self.repair_inserts_into("payments").await
    }

    /// Makes every insert into `table` fail with "injected failure".
    pub async fn fail_inserts_into(&self, table: &str) {
        let db = self.connect().await;
        let trigger = format!("injected_failure_{table}");
        match self.backend {
            Backend::Sqlite => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {trigger} BEFORE INSERT ON {table} \
                     BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                ))
                .await
                .unwrap();
            }
            Backend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
                )
                .await
                .unwrap();
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {trigger} BEFORE INSERT ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION injected_failure()"
                ))
                .await
                .unwrap();
            }
        }
        db.close().await.ok();
    }

    pub async fn repair_inserts_into(&self, table: &str) {
        let db = self.connect().await;
        let trigger = format!("injected_failure_{table}");
        let sql = match self.backend {
            Backend::Sqlite => format!("DROP TRIGGER {trigger}"),
            Backend::Postgres => format!("DROP TRIGGER {trigger} ON {table}"),
        };
        db.execute_unprepared(&sql).await.unwrap();
        db.close().await.ok();
    }

    /// The space the database takes on disk, in bytes.
    pub async fn size(&self) -> u64 {
        match self.backend {
            Backend::Sqlite => ["gateway.db", "gateway.db-wal", "gateway.db-shm"]
                .iter()
                .filter_map(|f| std::fs::metadata(self.dir().join(f)).ok())
                .map(|m| m.len())
                .sum(),
            Backend::Postgres => {
                let rows = self
                    .query("SELECT CAST(pg_database_size(current_database()) AS BIGINT) AS n")
                    .await;
                rows[0]["n"].as_i64().unwrap() as u64
            }
        }
    }

    /// Rows of a query as JSON objects.
    pub async fn query(&self, sql: &str) -> Vec<Value> {
        let db = self.connect().await;
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql.to_string()))
            .await
            .unwrap();
        let out = rows
            .into_iter()
            .map(|row| {
                let mut obj = serde_json::Map::new();
                for col in row.column_names() {
                    let v = if let Ok(v) = row.try_get::<Option<i64>>("", &col) {
                        json!(v)
                    } else if let Ok(v) = row.try_get::<Option<bool>>("", &col) {
                        json!(v)
                    } else if let Ok(v) = row.try_get::<Option<String>>("", &col) {
                        json!(v)
                    } else if let Ok(v) = row.try_get::<Option<i32>>("", &col) {
                        json!(v)
                    } else {
                        Value::Null
                    };
                    obj.insert(col, v);
                }
                Value::Object(obj)
            })
            .collect();
        db.close().await.ok();
        out
    }
}

/// A tmpfs of a given size, mounted for one test and unmounted after it: a disk that
/// fills up on demand. Needs root (CI runs as root); `None` where mounting is refused.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Self> {
        let path = std::env::temp_dir().join(format!("gateway-tmpfs-{}", random_hex(6)));
        std::fs::create_dir_all(&path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { path })
    }

    /// Gives the filesystem more room, in place, as an operator would.
    pub fn grow(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
