//! Where this crate's CPU-heavy work runs when a face asks for it asynchronously: parsing
//! a schema (compiling a JSON Schema of 10,000 alternatives took 0.3 s in a debug build;
//! the limits allow ten times as many subschemas) and converting a request's batch of
//! records (each record is held to [`crate::limits::MAX_RECORD_STEPS`], but a batch of
//! many such records is not).
//!
//! Such work never runs on the async threads, which also serve every other request and,
//! in the same process, the embedded broker: it runs on the runtime's blocking pool,
//! bounded by semaphores, so a flood of heavy requests queues rather than taking every
//! thread. Jobs come in two lanes, as the registry's schema work does: large ones (a
//! schema over [`SMALL_SCHEMA_BYTES`] with its references, a batch of more than
//! [`SMALL_BATCH_RECORDS`] records) run at most one per core at once; small ones have
//! [`SMALL_LANE_PERMITS`] permits of their own, so a few huge jobs never hold up an
//! ordinary produce. A job whose request gave up (its client left) keeps its permit until
//! it ends, so abandoned work still counts against the bound. The bound also bounds the
//! caches that matching keeps per concurrent caller (a JSON Schema `pattern`'s DFA cache,
//! see `schema::json_budget`).
//!
//! The synchronous functions (`RecordSerializer::serialize`, `RecordCodec::decode`, ...)
//! stay as they are for callers that are already off the async threads.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

/// Schemas whose text and references' texts add up to at most this many bytes are
/// parsed in the small lane (the registry's bound for its own small lane).
pub const SMALL_SCHEMA_BYTES: usize = 64 * 1024;

/// Batches of at most this many records are converted in the small lane: each record is
/// held to [`crate::limits::MAX_RECORD_STEPS`].
pub const SMALL_BATCH_RECORDS: usize = 64;

/// Permits of the small lane: enough for many clients at once, few enough to bound the
/// threads a flood of small requests can start.
pub const SMALL_LANE_PERMITS: usize = 16;

/// Which lane a job takes: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Work known to be small.
    Small,
    /// Anything else.
    Large,
}

impl Lane {
    /// The lane for converting a batch of `records` records.
    pub fn for_batch(records: usize) -> Lane {
        if records <= SMALL_BATCH_RECORDS {
            Lane::Small
        } else {
            Lane::Large
        }
    }

    /// The lane for parsing a schema of `bytes` bytes with its references.
    pub fn for_schema(bytes: usize) -> Lane {
        if bytes <= SMALL_SCHEMA_BYTES {
            Lane::Small
        } else {
            Lane::Large
        }
    }

    fn slots(self) -> &'static Arc<Semaphore> {
        static LARGE: OnceLock<Arc<Semaphore>> = OnceLock::new();
        static SMALL: OnceLock<Arc<Semaphore>> = OnceLock::new();
        match self {
            Lane::Large => LARGE.get_or_init(|| Arc::new(Semaphore::new(large_permits()))),
            Lane::Small => SMALL.get_or_init(|| Arc::new(Semaphore::new(SMALL_LANE_PERMITS))),
        }
    }
}

/// How many large jobs run at once: one per core.
pub fn large_permits() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `job` on the blocking pool once a permit of `lane` is free, and returns what it
/// returns. A panic in `job` is raised again in the caller's task, as if `job` had run
/// there (the HTTP layer answers it 500 and goes on serving).
pub async fn off_runtime<T, F>(lane: Lane, job: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = lane
        .slots()
        .clone()
        .acquire_owned()
        .await
        .expect("the work semaphores are never closed");
    let handle = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job()
    });
    match handle.await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Blocking tasks are cancelled only when the runtime shuts down, and then this
        // task is dropped with it.
        Err(e) => panic!("a format job was cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_jobs_run_at_most_one_per_core() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..large_permits() * 3)
            .map(|i| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(off_runtime(Lane::Large, move || {
                    // Blocking here is what the pool is for.
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                }))
            })
            .collect();
        for (i, job) in jobs.into_iter().enumerate() {
            assert_eq!(job.await.expect("job"), i);
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=large_permits()).contains(&most),
            "{most} jobs ran at once, over {} permits",
            large_permits()
        );
    }

    #[tokio::test]
    async fn a_panicking_job_panics_in_its_caller_and_gives_its_permit_back() {
        // One more panicking job than there are permits: a permit kept by a panic would
        // leave the last one waiting.
        for _ in 0..=large_permits() {
            let caught = tokio::time::timeout(
                Duration::from_secs(30),
                tokio::spawn(off_runtime(Lane::Large, || -> u8 { panic!("bad input") })),
            )
            .await
            .expect("a permit is free again");
            let panic = caught.expect_err("the caller's task panics").into_panic();
            assert_eq!(panic.downcast_ref::<&str>(), Some(&"bad input"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_jobs_run_while_large_ones_hold_every_large_permit() {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let started = Arc::new(AtomicUsize::new(0));
        let large: Vec<_> = (0..large_permits())
            .map(|_| {
                let (held, started) = (held.clone(), started.clone());
                tokio::spawn(off_runtime(Lane::Large, move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    held.lock().expect("lock").recv().expect("released");
                }))
            })
            .collect();
        while started.load(Ordering::SeqCst) < large_permits() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let small = tokio::time::timeout(Duration::from_secs(30), off_runtime(Lane::Small, || 7))
            .await
            .expect("the small lane is not held up by the large one");
        assert_eq!(small, 7);
        for _ in 0..large_permits() {
            release.send(()).expect("a large job waits");
        }
        for job in large {
            job.await.expect("large job");
        }
    }

    #[test]
    fn lanes_by_size() {
        assert_eq!(Lane::for_batch(SMALL_BATCH_RECORDS), Lane::Small);
        assert_eq!(Lane::for_batch(SMALL_BATCH_RECORDS + 1), Lane::Large);
        assert_eq!(Lane::for_schema(SMALL_SCHEMA_BYTES), Lane::Small);
        assert_eq!(Lane::for_schema(SMALL_SCHEMA_BYTES + 1), Lane::Large);
    }
}
