//! The registry of v2 consumer instances living in this process, and their expiry.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use kgate_formats::EmbeddedFormat;
use kgate_kafka::consumer::{ConsumerHandle, Subscription};
use parking_lot::Mutex;

use crate::RestConfig;
use crate::error::RestError;

/// File descriptors one instance holds, with some room: its librdkafka client was
/// measured at 10 (a socket and wake-up pipes per broker thread; see
/// docs/benchmarks.md).
const FDS_PER_INSTANCE: u64 = 12;

/// File descriptors kept for everything else (listeners, connections, the embedded
/// broker's logs) when the instance limit is derived from the process's fd limit.
const FDS_RESERVED: u64 = 1_024;

/// Longest wait for one consumer to leave its group when it is deleted or expires.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// What an instance reads from, as the v2 API distinguishes it (subscription and manual
/// assignment exclude each other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceMode {
    /// Neither subscribed nor assigned.
    Idle,
    /// Subscribed to topics or a pattern.
    Subscribed(Subscription),
    /// Partitions assigned manually.
    Assigned,
}

/// One consumer instance created by `POST /consumers/{group}`.
pub struct ConsumerInstance {
    /// The consumer group it belongs to.
    pub group: String,
    /// Its id within the group.
    pub id: String,
    /// The embedded format its records are returned in.
    pub format: EmbeddedFormat,
    /// The Kafka consumer behind it.
    pub handle: ConsumerHandle,
    /// The longest a records request may wait (`consumer.request.timeout.ms`).
    pub request_timeout: Duration,
    /// The bytes a records request waits for before returning early (`fetch.min.bytes`).
    pub fetch_min_bytes: u64,
    /// Held across a subscription change so the exclusivity check and the change are one
    /// step.
    pub mode: tokio::sync::Mutex<InstanceMode>,
    /// Held by a records request until its response is written: a read that gives records
    /// back (see `RecordChunks::give_back`) must do so before the next read starts.
    pub reading: Arc<tokio::sync::Mutex<()>>,
    last_used: Mutex<Instant>,
    in_use: AtomicUsize,
}

impl ConsumerInstance {
    /// A new instance, counted as just used.
    pub fn new(
        group: String,
        id: String,
        format: EmbeddedFormat,
        handle: ConsumerHandle,
        request_timeout: Duration,
        fetch_min_bytes: u64,
    ) -> Self {
        Self {
            group,
            id,
            format,
            handle,
            request_timeout,
            fetch_min_bytes,
            mode: tokio::sync::Mutex::new(InstanceMode::Idle),
            reading: Arc::new(tokio::sync::Mutex::new(())),
            last_used: Mutex::new(Instant::now()),
            in_use: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        *self.last_used.lock() = Instant::now();
    }

    fn expired(&self, idle_timeout: Duration, now: Instant) -> bool {
        self.in_use.load(Ordering::SeqCst) == 0
            && now.saturating_duration_since(*self.last_used.lock()) > idle_timeout
    }
}

/// An instance in use by a request: it cannot expire until the request ends, and its
/// idle time restarts when the request ends.
pub struct InstanceLease {
    instance: Arc<ConsumerInstance>,
}

impl Deref for InstanceLease {
    type Target = ConsumerInstance;

    fn deref(&self) -> &ConsumerInstance {
        &self.instance
    }
}

impl Drop for InstanceLease {
    fn drop(&mut self) {
        self.instance.touch();
        self.instance.in_use.fetch_sub(1, Ordering::SeqCst);
    }
}

type InstanceKey = (String, String);

struct Registry {
    instances: Mutex<HashMap<InstanceKey, Arc<ConsumerInstance>>>,
    idle_timeout: Duration,
    sweeper_started: AtomicBool,
    /// `consumer.instances.max`.
    max: usize,
    /// Creations under way (see [`ConsumerInstances::reserve`]).
    creating: AtomicUsize,
}

impl Registry {
    fn take_expired(&self) -> Vec<Arc<ConsumerInstance>> {
        let now = Instant::now();
        let mut instances = self.instances.lock();
        let keys: Vec<InstanceKey> = instances
            .iter()
            .filter(|(_, i)| i.expired(self.idle_timeout, now))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| instances.remove(k)).collect()
    }
}

/// `configured`, or fewer when the process's open-file limit could not hold that many
/// instances and still serve (the limit is read from /proc/self/limits; where it cannot
/// be read, `configured` stands).
fn instance_limit(configured: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse::<u64>().ok());
    let Some(soft) = soft else {
        return configured;
    };
    let fits = usize::try_from(soft.saturating_sub(FDS_RESERVED) / FDS_PER_INSTANCE)
        .unwrap_or(usize::MAX)
        .max(1);
    if fits < configured {
        tracing::warn!(
            configured,
            limit = fits,
            open_files = soft,
            "consumer.instances.max lowered to what the open-file limit (ulimit -n) can hold; raise that limit to allow more"
        );
        return fits;
    }
    configured
}

/// A place taken for an instance being created (see [`ConsumerInstances::reserve`]).
pub struct CreationSlot {
    registry: Arc<Registry>,
}

impl Drop for CreationSlot {
    fn drop(&mut self) {
        self.registry.creating.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The v2 consumer instances living in this process. Instances idle for longer than
/// `consumer.instance.timeout.ms` are closed by a background sweeper.
pub struct ConsumerInstances {
    registry: Arc<Registry>,
}

impl ConsumerInstances {
    /// An empty registry using `config.consumer_instance_timeout`.
    pub fn new(config: &RestConfig) -> Self {
        Self {
            registry: Arc::new(Registry {
                instances: Mutex::new(HashMap::new()),
                idle_timeout: config.consumer_instance_timeout,
                sweeper_started: AtomicBool::new(false),
                max: instance_limit(config.consumer_instances_max),
                creating: AtomicUsize::new(0),
            }),
        }
    }

    /// Whether an instance of this name exists in `group`.
    pub fn contains(&self, group: &str, id: &str) -> bool {
        self.registry
            .instances
            .lock()
            .contains_key(&(group.to_string(), id.to_string()))
    }

    /// How many instances exist.
    pub fn len(&self) -> usize {
        self.registry.instances.lock().len()
    }

    /// Whether no instance exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a place for one more instance, or fails with 429 when the instances and
    /// the creations under way reach `consumer.instances.max`. The place is given up
    /// when the returned guard is dropped (once the instance is inserted, or not).
    pub fn reserve(&self) -> Result<CreationSlot, RestError> {
        let instances = self.registry.instances.lock();
        let creating = self.registry.creating.load(Ordering::SeqCst);
        if instances.len() + creating >= self.registry.max {
            return Err(RestError::TooManyConsumerInstances(instances.len()));
        }
        self.registry.creating.fetch_add(1, Ordering::SeqCst);
        Ok(CreationSlot {
            registry: self.registry.clone(),
        })
    }

    /// Adds an instance; when the name was taken meanwhile, hands the instance back.
    pub fn insert(&self, instance: ConsumerInstance) -> Result<(), Arc<ConsumerInstance>> {
        self.start_sweeper();
        let instance = Arc::new(instance);
        let key = (instance.group.clone(), instance.id.clone());
        let mut instances = self.registry.instances.lock();
        if instances.contains_key(&key) {
            return Err(instance);
        }
        instances.insert(key, instance);
        Ok(())
    }

    /// The instance `id` of `group`, leased for one request, or 40403.
    pub fn lease(&self, group: &str, id: &str) -> Result<InstanceLease, RestError> {
        let instances = self.registry.instances.lock();
        let instance = instances
            .get(&(group.to_string(), id.to_string()))
            .cloned()
            .ok_or(RestError::ConsumerInstanceNotFound)?;
        // Counted while the registry is locked, so the sweeper cannot take it in between.
        instance.in_use.fetch_add(1, Ordering::SeqCst);
        instance.touch();
        Ok(InstanceLease { instance })
    }

    /// Removes the instance `id` of `group` and closes it, or 40403.
    pub async fn remove(&self, group: &str, id: &str) -> Result<(), RestError> {
        let instance = self
            .registry
            .instances
            .lock()
            .remove(&(group.to_string(), id.to_string()))
            .ok_or(RestError::ConsumerInstanceNotFound)?;
        close(instance).await;
        Ok(())
    }

    /// Closes every instance; called at shutdown.
    pub async fn close_all(&self) {
        let all: Vec<Arc<ConsumerInstance>> = self
            .registry
            .instances
            .lock()
            .drain()
            .map(|(_, i)| i)
            .collect();
        futures::future::join_all(all.into_iter().map(close)).await;
    }

    /// Starts the expiry sweeper on first use (it needs a running Tokio runtime, which
    /// `new` may not have).
    fn start_sweeper(&self) {
        if self.registry.sweeper_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let period = (self.registry.idle_timeout / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(1));
        let registry: Weak<Registry> = Arc::downgrade(&self.registry);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                let expired = registry.take_expired();
                drop(registry);
                for instance in expired {
                    tracing::info!(
                        group = %instance.group,
                        instance = %instance.id,
                        "consumer instance expired after being idle"
                    );
                    tokio::spawn(close(instance));
                }
            }
        });
    }
}

/// Closes an instance's consumer, giving up (and leaving the close to its thread) after
/// [`CLOSE_TIMEOUT`].
async fn close(instance: Arc<ConsumerInstance>) {
    match tokio::time::timeout(CLOSE_TIMEOUT, instance.handle.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(
            group = %instance.group,
            instance = %instance.id,
            error = %e,
            "closing a consumer instance failed"
        ),
        Err(_) => tracing::warn!(
            group = %instance.group,
            instance = %instance.id,
            "closing a consumer instance is taking long; it goes on in the background"
        ),
    }
}
