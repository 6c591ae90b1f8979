//! The keys: `PAYMENT_CONFIG_ENC_KEY` (and the previous ones), `JWT_SECRET`, and the
//! development keys that stand in for them when they are not set.

use super::{ConfigError, Environment, Source, bad};
use crate::vault::{KeyRing, VaultKey};
use std::fmt;
use std::path::{Path, PathBuf};

/// Bytes that must never be printed: `Debug` shows only their length. Wiped from
/// memory when dropped.
#[derive(Clone)]
pub struct SecretBytes(Vec<u8>);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl SecretBytes {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {}])", self.0.len())
    }
}

/// `PAYMENT_CONFIG_ENC_KEY` (or a development key) and the previous keys.
pub(super) fn key_ring(
    src: &Source,
    env: Environment,
    data_dir: &Path,
    development_keys: &mut Vec<DevelopmentKey>,
) -> Result<KeyRing, ConfigError> {
    const NAME: &str = "PAYMENT_CONFIG_ENC_KEY";
    let current = match src.get(NAME) {
        Some(hex) => VaultKey::from_hex(&hex).map_err(|e| bad(NAME, e.to_string()))?,
        None if env == Environment::Production => {
            return Err(bad(NAME, "must be set in production (64 hex characters)"));
        }
        None => {
            let key = DevelopmentKey::read_or_make(
                NAME,
                data_dir,
                "dev-payment-config-enc.key",
                VaultKey::generate_hex,
            )
            .map_err(|e| bad(NAME, e))?;
            let hex = key.value.clone();
            development_keys.push(key);
            VaultKey::from_hex(&hex)
                .map_err(|e| bad(NAME, format!("the development key file is damaged: {e}")))?
        }
    };
    let mut previous = Vec::new();
    if let Some(list) = src.get("PAYMENT_CONFIG_ENC_KEY_PREVIOUS") {
        let keys = list.split(',').map(str::trim).filter(|s| !s.is_empty());
        for (i, hex) in keys.enumerate() {
            previous.push(VaultKey::from_hex(hex).map_err(|e| {
                bad(
                    "PAYMENT_CONFIG_ENC_KEY_PREVIOUS",
                    format!("key {}: {e}", i + 1),
                )
            })?);
        }
    }
    Ok(KeyRing::new(current, previous))
}

pub(super) fn jwt_secret(
    src: &Source,
    env: Environment,
    data_dir: &Path,
    development_keys: &mut Vec<DevelopmentKey>,
) -> Result<SecretBytes, ConfigError> {
    let bytes = match src.get("JWT_SECRET") {
        Some(s) if s.len() >= 32 => s.into_bytes(),
        Some(s) => {
            return Err(bad(
                "JWT_SECRET",
                format!("must be at least 32 bytes, got {}", s.len()),
            ));
        }
        None if env == Environment::Production => {
            return Err(bad(
                "JWT_SECRET",
                "must be set in production (at least 32 bytes)",
            ));
        }
        None => {
            let key = DevelopmentKey::read_or_make(
                "JWT_SECRET",
                data_dir,
                "dev-jwt-secret",
                VaultKey::generate_hex,
            )
            .map_err(|e| bad("JWT_SECRET", e))?;
            let bytes = key.value.clone().into_bytes();
            development_keys.push(key);
            bytes
        }
    };
    Ok(SecretBytes(bytes))
}

/// A key that stands in for an unset setting in development: read from a file beside
/// the database, or made now and written there only once the database is known not
/// to need another (`persist`).
#[derive(Clone)]
pub struct DevelopmentKey {
    /// The setting it stands in for.
    pub setting: &'static str,
    pub path: PathBuf,
    value: String,
    /// Made now: not yet in its file.
    pub fresh: bool,
}

impl fmt::Debug for DevelopmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.setting, self.path.display())
    }
}

impl DevelopmentKey {
    fn read_or_make(
        setting: &'static str,
        dir: &Path,
        name: &str,
        make: fn() -> String,
    ) -> Result<Self, String> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return Ok(Self {
                    setting,
                    path,
                    value: text.trim().to_string(),
                    fresh: false,
                });
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "cannot read the development key {}: {e}",
                    path.display()
                ));
            }
            Err(_) => {}
        }
        Ok(Self {
            setting,
            path,
            value: make(),
            fresh: true,
        })
    }

    /// Writes a key made now to its file (readable by its owner only). Fails when the
    /// file appeared meanwhile (another process made its own): run again.
    pub fn persist(&self) -> Result<(), String> {
        if !self.fresh {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        write_private(&self.path, &self.value).map_err(|e| {
            format!(
                "{}: cannot write the development key {}: {e}",
                self.setting,
                self.path.display()
            )
        })
    }
}

fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(value.as_bytes())
}
