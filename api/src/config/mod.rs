//! Typed settings, read from the environment and validated once at start-up.
//!
//! A bad value stops start-up with one line naming the setting and why. The keys
//! (and the development keys made when they are not set) are read in `keys`.

mod database;
mod keys;

use database::{database_direct_url, database_url, sqlite_dir};
pub use keys::{DevelopmentKey, SecretBytes};
use keys::{jwt_secret, key_ring};

use crate::vault::KeyRing;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// Sustained requests per second.
    pub per_second: u64,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per tenant: Stripe sends every tenant's events from the same few addresses.
    pub webhook: Quota,
    /// Per client address.
    pub status: Quota,
    /// Per API key.
    pub orders: Quota,
    /// Per client address, for operations and admin routes.
    pub other: Quota,
    /// Per client address, for admin login (password guessing).
    pub login: Quota,
    /// Failed API keys a client address may send a minute (`RATE_LIMIT_KEY_GUESSES_PER_MIN`).
    pub key_guesses_per_minute: u32,
}

#[derive(Debug, Clone)]
pub struct Processing {
    /// How long a claimed event is left to its claimer before another sweep takes it.
    pub lease: Duration,
    pub max_attempts: i32,
    pub retry_base: Duration,
    pub sweep_interval: Duration,
    pub batch_size: usize,
    /// Parallel appliers; events of one tenant always go to the same one.
    pub workers: usize,
    /// Inbox writers: transactions storing (and applying) groups of deliveries at once.
    pub inbox_writers: usize,
}

/// How connections are held: what a slow or idle client may cost.
#[derive(Debug, Clone)]
pub struct Connections {
    /// Open connections at most; more wait in the kernel's accept queue.
    pub max: usize,
    /// A client that has not sent a request's whole header block this long after it
    /// connected, or after its previous answer (an idle keep-alive connection), is
    /// disconnected.
    pub header_timeout: Duration,
    /// A request whose body has not arrived this long after its headers is answered
    /// 408 and closed (`BODY_TIMEOUT_SECS`), on every route.
    pub body_timeout: Duration,
    /// Open connections one client address (IPv4, or IPv6 /64) may hold
    /// (`MAX_CONNECTIONS_PER_IP`); trusted proxies are not counted.
    pub max_per_ip: usize,
    /// The trusted proxies, whose connections are many clients' (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
}

/// Stripe's API, for recovery and diagnosis; alerts.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Where Stripe's API is (`STRIPE_API_BASE`); tests point it at a local fake.
    pub stripe_api_base: String,
    /// How often events are fetched from Stripe for each tenant with a key; 0 = never.
    pub recovery_interval: Option<Duration>,
    /// The gateway's public address, e.g. `https://pay.example.com`: what Stripe's
    /// endpoint URLs must start with (`endpoint_missing`).
    pub public_base_url: Option<String>,
    /// Where error findings are posted (Slack/Teams-compatible JSON).
    pub alert_webhook_url: Option<String>,
    pub alert_interval: Duration,
}

/// Notifications to restaurant backends.
#[derive(Debug, Clone)]
pub struct Notifications {
    /// The first retry's delay; it doubles, to at most 6 hours, for up to 3 days.
    pub retry_base: Duration,
    /// Allow endpoints on loopback and private networks (tests only).
    pub allow_private: bool,
    /// An order paid longer ago than this whose notification no endpoint has answered
    /// 2xx is a finding (`paid_not_acknowledged`), alerted.
    pub ack_deadline: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    /// The PostgreSQL server itself, when `DATABASE_URL` leads to a transaction pooler
    /// (PgBouncer): what needs a session of its own — `LISTEN`, the migration lock, the
    /// inbox writers' session settings — connects here (`DATABASE_DIRECT_URL`).
    pub database_direct_url: Option<String>,
    pub database_max_connections: u32,
    pub bind_addr: SocketAddr,
    /// Where `/metrics` is served, when not on the main listener (`METRICS_BIND_ADDR`).
    pub metrics_bind_addr: Option<SocketAddr>,
    pub keys: KeyRing,
    pub jwt_secret: SecretBytes,
    /// How long an admin token lives.
    pub admin_token_ttl_secs: i64,
    /// Password checks (argon2, ~19 MiB each) at once; past that, logins get 429
    /// (`LOGIN_CONCURRENCY`, the number of cores by default).
    pub login_concurrency: usize,
    pub webhook_tolerance_secs: i64,
    pub webhook_max_body_bytes: usize,
    /// How long a decrypted tenant secret is trusted before it is read again: what the
    /// CLI or another replica changes is honoured within this time.
    pub secret_cache_ttl: Duration,
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`, CIDRs).
    pub trusted_proxies: Vec<IpNet>,
    pub connections: Connections,
    /// How long rejected deliveries (and their per-minute counts) are kept.
    pub rejected_retention: Duration,
    /// How long verified events stay in the log, by when the gateway received them
    /// (`EVENT_RETENTION_DAYS`, at least 30: Stripe retries and recovery reach 30 days
    /// back, and a stored event is what makes a late copy a duplicate).
    pub event_retention: Duration,
    /// The longest anything waits for storage (a connection, a lock, a commit) before
    /// the request is answered 503: well under Stripe's 10 s delivery timeout.
    pub storage_timeout: Duration,
    pub processing: Processing,
    pub watch: Watch,
    pub notifications: Notifications,
    pub log_format: LogFormat,
    /// The settings that fell back to development keys (beside the SQLite file).
    pub development_keys: Vec<DevelopmentKey>,
}

/// `LOG_FORMAT`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object a line, start-up warnings and errors included.
    Json,
}

impl LogFormat {
    pub fn load(src: &Source) -> Result<Self, ConfigError> {
        match src.get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("") | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(bad(
                "LOG_FORMAT",
                format!("{other:?} is neither \"text\" nor \"json\""),
            )),
        }
    }
}

/// Reads settings through a function, so tests need not touch the process environment.
type Getter<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

pub struct Source<'a> {
    get: Getter<'a>,
}

impl<'a> Source<'a> {
    pub fn env() -> Self {
        Self {
            get: Box::new(|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
        }
    }

    pub fn from_fn(get: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { get: Box::new(get) }
    }

    fn get(&self, key: &str) -> Option<String> {
        (self.get)(key)
    }

    fn parse<T: std::str::FromStr>(&self, key: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| bad(key, format!("{v:?} is not valid: {e}"))),
        }
    }

    fn positive(&self, key: &'static str, default: u64) -> Result<u64, ConfigError> {
        let v = self.parse(key, default)?;
        if v == 0 {
            return Err(bad(key, "must be greater than 0"));
        }
        Ok(v)
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&Source::env())
    }

    /// Every setting, one section at a time; the first bad one stops with its name.
    pub fn load(src: &Source) -> Result<Self, ConfigError> {
        let environment = environment(src)?;
        let data_dir = PathBuf::from(src.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = database_url(src, environment, &data_dir)?;
        let sqlite = database_url.starts_with("sqlite:");
        let database_direct_url = database_direct_url(src, sqlite)?;
        // Development keys belong to the database whose secrets they seal: beside its
        // SQLite file, whichever directory the command is run from.
        let data_dir = match (src.get("DATA_DIR"), sqlite_dir(&database_url)) {
            (None, Some(dir)) => dir,
            _ => data_dir,
        };
        let mut development_keys = Vec::new();
        let keys = key_ring(src, environment, &data_dir, &mut development_keys)?;
        let jwt_secret = jwt_secret(src, environment, &data_dir, &mut development_keys)?;
        Ok(Self {
            environment,
            database_max_connections: src
                .positive("DATABASE_MAX_CONNECTIONS", if sqlite { 4 } else { 16 })?
                .min(1000) as u32,
            database_url,
            database_direct_url,
            bind_addr: bind_addr(src)?,
            metrics_bind_addr: metrics_bind_addr(src)?,
            keys,
            jwt_secret,
            login_concurrency: src
                .positive(
                    "LOGIN_CONCURRENCY",
                    std::thread::available_parallelism().map_or(2, |n| n.get()) as u64,
                )?
                .min(1024) as usize,
            admin_token_ttl_secs: src
                .positive("ADMIN_TOKEN_TTL_SECS", 3600)?
                .min(7 * 24 * 3600) as i64,
            webhook_tolerance_secs: src.positive("WEBHOOK_TOLERANCE_SECS", 300)? as i64,
            webhook_max_body_bytes: src.positive("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)? as usize,
            secret_cache_ttl: Duration::from_millis(src.parse("SECRET_CACHE_TTL_MS", 500)?),
            rate_limits: rate_limits(src)?,
            trusted_proxies: trusted_proxies(src)?,
            connections: Connections {
                max: src.positive("MAX_CONNECTIONS", 10_000)?.min(1_000_000) as usize,
                header_timeout: Duration::from_secs(src.positive("HEADER_TIMEOUT_SECS", 10)?),
                body_timeout: Duration::from_secs(src.positive("BODY_TIMEOUT_SECS", 10)?.min(3600)),
                max_per_ip: src.positive("MAX_CONNECTIONS_PER_IP", 256)?.min(1_000_000) as usize,
                trusted_proxies: trusted_proxies(src)?,
            },
            storage_timeout: Duration::from_millis(
                src.positive("STORAGE_TIMEOUT_MS", 3000)?.min(60_000),
            ),
            rejected_retention: Duration::from_secs(
                src.positive("REJECTED_RETENTION_DAYS", 7)?.min(3650) * 24 * 3600,
            ),
            event_retention: event_retention(src)?,
            processing: processing(src, sqlite)?,
            watch: watch(src)?,
            notifications: Notifications {
                retry_base: Duration::from_millis(src.positive("NOTIFY_RETRY_BASE_MS", 5000)?),
                allow_private: src.parse("NOTIFY_ALLOW_PRIVATE", false)?,
                ack_deadline: Duration::from_secs(src.positive("ACK_DEADLINE_SECS", 600)?),
            },
            log_format: LogFormat::load(src)?,
            development_keys,
        })
    }
}

fn environment(src: &Source) -> Result<Environment, ConfigError> {
    match src.get("GATEWAY_ENV").as_deref() {
        None | Some("development") => Ok(Environment::Development),
        Some("production") => Ok(Environment::Production),
        Some(other) => Err(bad(
            "GATEWAY_ENV",
            format!("{other:?} is neither \"production\" nor \"development\""),
        )),
    }
}

/// `EVENT_RETENTION_DAYS`: 90 unless set; at least 30.
fn event_retention(src: &Source) -> Result<Duration, ConfigError> {
    let days = src.positive("EVENT_RETENTION_DAYS", 90)?;
    if days < 30 {
        return Err(bad(
            "EVENT_RETENTION_DAYS",
            format!(
                "{days} is under 30: Stripe retries and recovery reach 30 days back, and only \
                 a stored event makes a late copy of it a duplicate"
            ),
        ));
    }
    Ok(Duration::from_secs(days.min(3650) * 24 * 3600))
}

/// `METRICS_BIND_ADDR`: where `/metrics` is served instead of the main listener.
fn metrics_bind_addr(src: &Source) -> Result<Option<SocketAddr>, ConfigError> {
    src.get("METRICS_BIND_ADDR")
        .map(|addr| {
            addr.parse().map_err(|_| {
                bad(
                    "METRICS_BIND_ADDR",
                    format!("{addr:?} is not host:port (e.g. 127.0.0.1:9100)"),
                )
            })
        })
        .transpose()
}

fn bind_addr(src: &Source) -> Result<SocketAddr, ConfigError> {
    match (src.get("BIND_ADDR"), src.get("PORT")) {
        (Some(addr), _) => addr.parse().map_err(|_| {
            bad(
                "BIND_ADDR",
                format!("{addr:?} is not host:port (e.g. 0.0.0.0:3000)"),
            )
        }),
        (None, Some(port)) => {
            let port: u16 = port
                .parse()
                .map_err(|_| bad("PORT", format!("{port:?} is not a port number")))?;
            Ok(SocketAddr::from(([0, 0, 0, 0], port)))
        }
        (None, None) => Ok(SocketAddr::from(([0, 0, 0, 0], 3000))),
    }
}

fn trusted_proxies(src: &Source) -> Result<Vec<IpNet>, ConfigError> {
    const NAME: &str = "TRUSTED_PROXIES";
    let Some(list) = src.get(NAME) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            // A bare address is a network of one.
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    bad(
                        NAME,
                        format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8) or an address"),
                    )
                })
        })
        .collect()
}

fn url(src: &Source, name: &'static str) -> Result<Option<String>, ConfigError> {
    match src.get(name) {
        None => Ok(None),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(Some(url.trim_end_matches('/').to_string()))
        }
        Some(url) => Err(bad(name, format!("{url:?} is not an http(s) URL"))),
    }
}

fn watch(src: &Source) -> Result<Watch, ConfigError> {
    let recovery = src.parse("RECOVERY_INTERVAL_SECS", 600u64)?;
    Ok(Watch {
        stripe_api_base: url(src, "STRIPE_API_BASE")?
            .unwrap_or_else(|| "https://api.stripe.com".into()),
        recovery_interval: (recovery > 0).then(|| Duration::from_secs(recovery)),
        public_base_url: url(src, "PUBLIC_BASE_URL")?,
        alert_webhook_url: url(src, "ALERT_WEBHOOK_URL")?,
        alert_interval: Duration::from_secs(src.positive("ALERT_INTERVAL_SECS", 60)?),
    })
}

fn rate_limits(src: &Source) -> Result<RateLimits, ConfigError> {
    let quota = |name: &'static str, burst_name: &'static str, per_second, burst| {
        Ok::<_, ConfigError>(Quota {
            per_second: src.positive(name, per_second)?,
            burst: src.positive(burst_name, burst)?.min(u32::MAX as u64) as u32,
        })
    };
    Ok(RateLimits {
        webhook: quota(
            "RATE_LIMIT_WEBHOOK_PER_SEC",
            "RATE_LIMIT_WEBHOOK_BURST",
            1000,
            2000,
        )?,
        status: quota(
            "RATE_LIMIT_STATUS_PER_SEC",
            "RATE_LIMIT_STATUS_BURST",
            20,
            100,
        )?,
        orders: quota(
            "RATE_LIMIT_ORDERS_PER_SEC",
            "RATE_LIMIT_ORDERS_BURST",
            100,
            500,
        )?,
        other: quota(
            "RATE_LIMIT_OTHER_PER_SEC",
            "RATE_LIMIT_OTHER_BURST",
            50,
            200,
        )?,
        login: quota("RATE_LIMIT_LOGIN_PER_SEC", "RATE_LIMIT_LOGIN_BURST", 1, 10)?,
        key_guesses_per_minute: src
            .positive("RATE_LIMIT_KEY_GUESSES_PER_MIN", 20)?
            .min(1_000_000) as u32,
    })
}

fn processing(src: &Source, sqlite: bool) -> Result<Processing, ConfigError> {
    Ok(Processing {
        lease: Duration::from_millis(src.positive("PROCESSING_LEASE_MS", 10_000)?),
        max_attempts: src.positive("PROCESSING_MAX_ATTEMPTS", 10)?.min(1000) as i32,
        retry_base: Duration::from_millis(src.positive("PROCESSING_RETRY_BASE_MS", 2_000)?),
        sweep_interval: Duration::from_millis(src.positive("PROCESSING_SWEEP_MS", 1_000)?),
        batch_size: src.positive("PROCESSING_BATCH_SIZE", 128)?.min(1000) as usize,
        // SQLite has one writer: more appliers would only queue for it.
        workers: if sqlite {
            1
        } else {
            src.positive("PROCESSING_WORKERS", 6)?.min(64) as usize
        },
        // SQLite has one writer; on PostgreSQL a second and third group are written
        // while the first one's commit waits for the disk.
        inbox_writers: if sqlite {
            1
        } else {
            src.positive("INBOX_WRITERS", 3)?.min(32) as usize
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(&Source::from_fn(move |k| map.get(k).cloned()))
    }

    const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
    const JWT: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn production_refuses_to_start_without_keys() {
        let err = load(&[
            ("GATEWAY_ENV", "production"),
            ("DATABASE_URL", "postgres://x"),
        ])
        .unwrap_err();
        assert_eq!(err.setting, "PAYMENT_CONFIG_ENC_KEY");
        let err = load(&[
            ("GATEWAY_ENV", "production"),
            ("DATABASE_URL", "postgres://x"),
            ("PAYMENT_CONFIG_ENC_KEY", KEY),
        ])
        .unwrap_err();
        assert_eq!(err.setting, "JWT_SECRET");
        assert!(
            load(&[
                ("GATEWAY_ENV", "production"),
                ("DATABASE_URL", "postgres://x"),
                ("PAYMENT_CONFIG_ENC_KEY", KEY),
                ("JWT_SECRET", JWT)
            ])
            .is_ok()
        );
    }

    #[test]
    fn malformed_settings_name_themselves() {
        let base = [("PAYMENT_CONFIG_ENC_KEY", KEY), ("JWT_SECRET", JWT)];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = base.to_vec();
            v.push(extra);
            load(&v).unwrap_err().to_string()
        };
        assert!(
            with(("PAYMENT_CONFIG_ENC_KEY", "abc"))
                .starts_with("PAYMENT_CONFIG_ENC_KEY: must be 64 hexadecimal")
        );
        assert!(
            with(("PAYMENT_CONFIG_ENC_KEY_PREVIOUS", "zz"))
                .starts_with("PAYMENT_CONFIG_ENC_KEY_PREVIOUS: key 1")
        );
        assert!(with(("BIND_ADDR", "nowhere")).starts_with("BIND_ADDR:"));
        assert!(with(("PORT", "70000")).starts_with("PORT:"));
        assert!(
            with(("WEBHOOK_TOLERANCE_SECS", "0"))
                .starts_with("WEBHOOK_TOLERANCE_SECS: must be greater than 0")
        );
        assert!(with(("GATEWAY_ENV", "staging")).starts_with("GATEWAY_ENV:"));
        assert!(with(("DATABASE_URL", "mysql://x")).starts_with("DATABASE_URL:"));
        assert!(with(("JWT_SECRET", "short")).starts_with("JWT_SECRET: must be at least 32 bytes"));
        assert!(with(("TRUSTED_PROXIES", "10.0.0.0/8, lb")).starts_with("TRUSTED_PROXIES: \"lb\""));
    }

    #[test]
    fn bind_addr_wins_over_port() {
        let c = load(&[
            ("PAYMENT_CONFIG_ENC_KEY", KEY),
            ("JWT_SECRET", JWT),
            ("PORT", "4000"),
            ("BIND_ADDR", "127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(c.bind_addr.port(), 5000);
        let c = load(&[
            ("PAYMENT_CONFIG_ENC_KEY", KEY),
            ("JWT_SECRET", JWT),
            ("PORT", "4000"),
        ])
        .unwrap();
        assert_eq!(c.bind_addr.port(), 4000);
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = load(&[("PAYMENT_CONFIG_ENC_KEY", KEY), ("JWT_SECRET", JWT)]).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains(JWT));
        assert!(!printed.contains(KEY));
    }
}
