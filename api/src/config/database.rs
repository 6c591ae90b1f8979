//! Where the database is: `DATABASE_URL`, and `DATABASE_DIRECT_URL` beside a pooler.

use super::{ConfigError, Environment, Source, bad};
use std::path::{Path, PathBuf};

/// The directory of a SQLite file URL (`sqlite://./data/g.db?mode=rwc` → `./data`).
pub(super) fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    let dir = Path::new(path).parent()?;
    Some(if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    })
}

pub(super) fn database_url(
    src: &Source,
    env: Environment,
    data_dir: &Path,
) -> Result<String, ConfigError> {
    let url = match src.get("DATABASE_URL") {
        Some(url) => url,
        None if env == Environment::Production => {
            return Err(bad("DATABASE_URL", "must be set in production"));
        }
        None => format!("sqlite://{}/gateway.db?mode=rwc", data_dir.display()),
    };
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(bad(
            "DATABASE_URL",
            "must start with sqlite: or postgres://",
        ));
    }
    Ok(url)
}

/// `DATABASE_DIRECT_URL`: only beside a PostgreSQL `DATABASE_URL`.
pub(super) fn database_direct_url(
    src: &Source,
    sqlite: bool,
) -> Result<Option<String>, ConfigError> {
    let Some(url) = src.get("DATABASE_DIRECT_URL") else {
        return Ok(None);
    };
    if sqlite {
        return Err(bad(
            "DATABASE_DIRECT_URL",
            "is for PostgreSQL behind a pooler; DATABASE_URL is SQLite",
        ));
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad("DATABASE_DIRECT_URL", "must start with postgres://"));
    }
    Ok(Some(url))
}
