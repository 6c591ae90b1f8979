//! Decrypted webhook secrets by tenant slug, for the webhook path: each lookup is
//! trusted for at most `SECRET_CACHE_TTL_MS`, so that a change made by the CLI or
//! another replica is honoured within a second without any restart — or, while every
//! change is announced to this process (`changes::Changes::listen`), until it changes.
//! The cache reads the database itself; the change feed tells it what to forget.

use super::secrets::{Lookup, load};
use crate::vault::KeyRing;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The tenant a connected account is linked to: id and slug.
type Linked = Option<(i64, String)>;

/// How long a cached lookup is trusted while changes are announced (PostgreSQL, with
/// its `LISTEN` connection up): a safety net, since each change forgets its tenant.
pub const ANNOUNCED_TTL: Duration = Duration::from_secs(60);

/// Decrypted secrets by tenant slug, each trusted for at most `ttl` — or, while changes
/// are announced (see `announced`), for `ANNOUNCED_TTL`.
pub struct SecretCache {
    db: DatabaseConnection,
    ring: KeyRing,
    ttl: Duration,
    /// True while this process hears every change (the PostgreSQL listener is up).
    announced: std::sync::atomic::AtomicBool,
    /// Bumped by every forgetting: a lookup read before a change is not kept after it.
    generation: std::sync::atomic::AtomicU64,
    entries: RwLock<HashMap<String, Cached>>,
    /// One load at a time per slug: when an entry runs out under a flood, one request
    /// reads the database and the others wait for its answer, instead of a thousand
    /// reads queueing for the pool (and for `STORAGE_TIMEOUT_MS`).
    loading: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Connected account → the tenant linked to it (id, slug), for the Connect
    /// endpoint: trusted as long as a lookup, forgotten with any change.
    accounts: RwLock<HashMap<String, (Instant, Linked)>>,
}

impl SecretCache {
    pub fn new(db: DatabaseConnection, ring: KeyRing, ttl: Duration) -> Self {
        Self {
            db,
            ring,
            ttl,
            announced: std::sync::atomic::AtomicBool::new(false),
            generation: std::sync::atomic::AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            loading: std::sync::Mutex::new(HashMap::new()),
            accounts: RwLock::new(HashMap::new()),
        }
    }

    /// The tenant linked to a connected account (id, slug), if any.
    pub async fn account(&self, account: &str) -> Result<Linked, DbErr> {
        let ttl = self.trusted_for();
        if let Some((at, linked)) = self.accounts.read().expect("cache lock").get(account)
            && at.elapsed() < ttl
        {
            return Ok(linked.clone());
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let linked = super::connect::tenant_for_account(&self.db, account).await?;
        let mut accounts = self.accounts.write().expect("cache lock");
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            if accounts.len() > 100_000 {
                accounts.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            accounts.insert(account.to_string(), (Instant::now(), linked.clone()));
        }
        Ok(linked)
    }

    fn forget_accounts(&self) {
        self.accounts.write().expect("cache lock").clear();
    }

    fn trusted_for(&self) -> Duration {
        if self.announced.load(std::sync::atomic::Ordering::Acquire) {
            ANNOUNCED_TTL.max(self.ttl)
        } else {
            self.ttl
        }
    }

    fn fresh(&self, slug: &str) -> Option<Arc<Lookup>> {
        let ttl = self.trusted_for();
        self.entries
            .read()
            .expect("cache lock")
            .get(slug)
            .filter(|c| c.fetched.elapsed() < ttl)
            .map(|c| c.lookup.clone())
    }

    /// Whether every change is announced to this process from now on. Either way the
    /// cache starts afresh: what it holds may predate a change nobody announced.
    pub fn set_announced(&self, announced: bool) {
        self.announced
            .store(announced, std::sync::atomic::Ordering::Release);
        let mut entries = self.entries.write().expect("cache lock");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        entries.clear();
        drop(entries);
        self.forget_accounts();
    }

    /// Forgets what an announcement names: `slug:SLUG` or `tenant:ID`.
    pub fn forget_announced(&self, what: &str) {
        if let Some(slug) = what.strip_prefix("slug:") {
            self.invalidate(slug);
        } else if let Some(id) = what.strip_prefix("tenant:").and_then(|t| t.parse().ok()) {
            let mut entries = self.entries.write().expect("cache lock");
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            entries.retain(|_, c| c.lookup.tenant_id() != Some(id));
            drop(entries);
            self.forget_accounts();
        } else {
            self.set_announced(self.announced.load(std::sync::atomic::Ordering::Acquire));
        }
    }

    pub async fn lookup(&self, slug: &super::TenantSlug) -> Result<Arc<Lookup>, DbErr> {
        if let Some(hit) = self.fresh(slug.as_str()) {
            return Ok(hit);
        }
        let turn = self
            .loading
            .lock()
            .expect("loading lock")
            .entry(slug.as_str().to_string())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        // Another request may have loaded it while this one waited.
        if let Some(hit) = self.fresh(slug.as_str()) {
            return Ok(hit);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let loaded = load(&self.db, &self.ring, slug).await;
        {
            let mut loading = self.loading.lock().expect("loading lock");
            // Forget slugs nobody is loading (unknown slugs must not pile up).
            if loading.len() > 1024 {
                loading.retain(|_, m| Arc::strong_count(m) > 1);
            }
        }
        let lookup = Arc::new(loaded?);
        let mut entries = self.entries.write().expect("cache lock");
        if self.generation.load(std::sync::atomic::Ordering::Acquire) != generation {
            // A change was announced while this was read: answer it, keep nothing.
            return Ok(lookup);
        }
        if entries.len() > 100_000 {
            let ttl = self.trusted_for();
            entries.retain(|_, c| c.fetched.elapsed() < ttl);
        }
        entries.insert(
            slug.as_str().to_string(),
            Cached {
                fetched: Instant::now(),
                lookup: lookup.clone(),
            },
        );
        Ok(lookup)
    }

    /// Forgets a tenant, so that this process honours its own change at once.
    pub fn invalidate(&self, slug: &str) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        entries.remove(slug);
        drop(entries);
        // A tenant's slug changes with its link to an account (the trigger on its row
        // announces `slug:`): the accounts are forgotten with it.
        self.forget_accounts();
    }
}

struct Cached {
    fetched: Instant,
    lookup: Arc<Lookup>,
}
