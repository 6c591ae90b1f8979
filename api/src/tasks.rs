//! Background tasks that are started again when they end: the inbox writer, the
//! appliers, the sweep, the upkeep of rejected deliveries. A task that ends (a panic,
//! a bug) is logged and restarted a second later; until then `/ready` names it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a task that ended waits before it is started again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// `RESTART_AFTER`, or with the `fault-injection` feature `GATEWAY_RESTART_AFTER_MS`:
/// the tests of supervision hold a task down long enough to see `/ready` name it,
/// however loaded the machine is.
fn restart_after() -> Duration {
    #[cfg(feature = "fault-injection")]
    if let Some(ms) = std::env::var("GATEWAY_RESTART_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Duration::from_millis(ms);
    }
    RESTART_AFTER
}

/// The supervised tasks, and which of them are down now (with why).
#[derive(Default)]
pub struct Tasks {
    down: Mutex<BTreeMap<String, String>>,
}

impl Tasks {
    /// Runs `make()` now, and again whenever the task it made ends.
    pub fn supervise<F, Fut>(self: &Arc<Self>, name: impl Into<String>, mut make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let tasks = self.clone();
        tokio::spawn(async move {
            loop {
                let why = match tokio::spawn(make()).await {
                    Ok(()) => "it returned".to_string(),
                    Err(e) if e.is_panic() => {
                        let payload = e.into_panic();
                        let text = payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "a panic".into());
                        format!("it panicked: {text}")
                    }
                    Err(e) => e.to_string(),
                };
                tracing::error!(task = %name, why = %why, "background task ended; starting it again");
                tasks.set_down(&name, Some(why));
                tokio::time::sleep(restart_after()).await;
                tasks.set_down(&name, None);
                tracing::info!(task = %name, "background task started again");
            }
        });
    }

    fn set_down(&self, name: &str, why: Option<String>) {
        let mut down = self.down.lock().expect("tasks lock");
        match why {
            Some(why) => down.insert(name.to_string(), why),
            None => down.remove(name),
        };
    }

    /// The tasks that are down now, with why.
    pub fn down(&self) -> Vec<(String, String)> {
        let down = self.down.lock().expect("tasks lock");
        down.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Faults on purpose, for the tests of supervision: compiled in only with the
/// `fault-injection` feature (`scripts/test.sh` builds with it; a release build never
/// has it). `GATEWAY_FAULT=NAME:N` makes the task NAME panic on its N-th unit of work.
pub fn fault(name: &str) {
    fault_on(name, |_| false)
}

/// `fault`, for a task whose unit of work names things (a group names its events):
/// `GATEWAY_FAULT=NAME@KEY` makes the task NAME panic once, on the first unit for which
/// `names(KEY)` is true, whichever copy of the task takes it and whatever other units
/// came before. `NAME:N` counts units as `fault` does.
#[cfg(feature = "fault-injection")]
pub fn fault_on(name: &str, names: impl FnOnce(&str) -> bool) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    enum Plan {
        Nth(String, u64),
        Naming(String, String),
    }
    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    static SEEN: AtomicU64 = AtomicU64::new(0);
    static FIRED: AtomicBool = AtomicBool::new(false);
    let plan = PLAN.get_or_init(|| {
        let text = std::env::var("GATEWAY_FAULT").ok()?;
        if let Some((task, key)) = text.split_once('@') {
            return Some(Plan::Naming(task.to_string(), key.to_string()));
        }
        let (task, n) = text.split_once(':')?;
        Some(Plan::Nth(task.to_string(), n.parse().ok()?))
    });
    let fire = match plan {
        Some(Plan::Nth(task, n)) => task == name && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n,
        Some(Plan::Naming(task, key)) => {
            task == name && names(key) && !FIRED.swap(true, Ordering::SeqCst)
        }
        None => false,
    };
    if fire {
        panic!("injected fault in {name}");
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn fault_on(_name: &str, _names: impl FnOnce(&str) -> bool) {}

/// Refusals on purpose, for tests, with the same feature: `GATEWAY_REFUSE=NAME,…` makes
/// the step NAME fail every time (e.g. `inline apply`, so that events take the
/// processor's path).
#[cfg(feature = "fault-injection")]
pub fn refused(name: &str) -> bool {
    use std::sync::OnceLock;
    static PLAN: OnceLock<Vec<String>> = OnceLock::new();
    PLAN.get_or_init(|| {
        std::env::var("GATEWAY_REFUSE")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default()
    })
    .iter()
    .any(|n| n == name)
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn refused(_name: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_is_reported_and_started_again() {
        let tasks = Arc::new(Tasks::default());
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = runs.clone();
        tasks.supervise("flaky", move || {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n == 0 {
                    panic!("first run fails");
                }
                std::future::pending::<()>().await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let down = tasks.down();
        assert_eq!(down.len(), 1);
        assert!(down[0].1.contains("first run fails"), "{down:?}");
        tokio::time::sleep(RESTART_AFTER + Duration::from_millis(300)).await;
        assert!(tasks.down().is_empty());
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
