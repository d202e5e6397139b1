//! Where the CPU-heavy schema work runs (parsing, canonical forms, compatibility checks):
//! never on the async threads, which also serve every other request. Each job gets a
//! thread of its own with a known, large stack, bounded by a semaphore of permits, and a
//! deadline. A job whose request gave up keeps its permit until it ends, so abandoned
//! work still counts against the bound.
//!
//! Jobs come in two lanes by size: large schemas share a few permits, small ones have a
//! lane of their own, so a handful of huge schemas never delays a small registration.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;

use crate::error::RegistryError;

/// Jobs whose schemas add up to at most this many bytes take the small lane: at this size
/// parsing and checking take milliseconds.
pub const SMALL_JOB_BYTES: usize = 64 * 1024;

/// Permits of the small lane: enough for many clients at once, few enough to bound the
/// threads a flood of small requests can start.
const SMALL_LANE_PERMITS: usize = 16;

/// The stack of a worker thread. Parsers recurse on nested input; a known, generous stack
/// (reserved, only touched pages are used) keeps the formats' depth limits far from it.
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// The default number of large jobs at once: half the cores, so large schemas cannot take
/// every core from the broker and the other faces.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

/// What the pool is doing, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkStats {
    /// Large jobs running now.
    pub large_running: usize,
    /// Large jobs waiting for a permit.
    pub large_waiting: usize,
    /// The permits of the large lane.
    pub large_permits: usize,
}

/// The bounded pool for schema work.
pub struct SchemaWork {
    large: Arc<Semaphore>,
    small: Arc<Semaphore>,
    large_permits: usize,
    timeout: Duration,
    large_running: Arc<AtomicUsize>,
    large_waiting: Arc<AtomicUsize>,
}

/// Decrements a counter when dropped, so panics and early returns count too.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(counter: &Arc<AtomicUsize>) -> Counted {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SchemaWork {
    /// A pool running at most `large_permits` large jobs at once, each request's work
    /// bounded by `timeout`.
    pub fn new(large_permits: usize, timeout: Duration) -> SchemaWork {
        let large_permits = large_permits.max(1);
        SchemaWork {
            large: Arc::new(Semaphore::new(large_permits)),
            small: Arc::new(Semaphore::new(SMALL_LANE_PERMITS)),
            large_permits,
            timeout,
            large_running: Arc::new(AtomicUsize::new(0)),
            large_waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// What the pool is doing now.
    pub fn stats(&self) -> WorkStats {
        WorkStats {
            large_running: self.large_running.load(Ordering::SeqCst),
            large_waiting: self.large_waiting.load(Ordering::SeqCst),
            large_permits: self.large_permits,
        }
    }

    /// Runs `job`, whose input adds up to `bytes`, on a worker thread and waits for its
    /// answer. A job that panics answers 42201 (a parser that panics on input has refused
    /// it); one that does not finish within the timeout, waiting included, answers 42209.
    pub async fn run<R: Send + 'static>(
        &self,
        bytes: usize,
        job: impl FnOnce() -> Result<R, RegistryError> + Send + 'static,
    ) -> Result<R, RegistryError> {
        let deadline = Instant::now() + self.timeout;
        let large = bytes > SMALL_JOB_BYTES;
        let lane = if large { &self.large } else { &self.small };
        let permit = {
            let _waiting = large.then(|| Counted::new(&self.large_waiting));
            match tokio::time::timeout_at(deadline, lane.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => {
                    return Err(RegistryError::Store("the schema workers stopped".into()));
                }
                Err(_) => return Err(self.too_long()),
            }
        };
        let running = large.then(|| Counted::new(&self.large_running));
        let (answer, answered) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("kgate-schema-work".into())
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                // Held until the job ends, even when the request stopped waiting, and
                // given back before the answer so the counts are exact once it arrives.
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(job));
                drop(running);
                drop(permit);
                let _ = answer.send(outcome);
            });
        if let Err(e) = spawned {
            return Err(RegistryError::Store(format!(
                "could not start a schema worker thread: {e}"
            )));
        }
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(Ok(Ok(result))) => result,
            Ok(Ok(Err(panic))) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_string());
                tracing::warn!(panic = %what, "a schema parser panicked on its input; answered 42201");
                Err(RegistryError::InvalidSchema(format!(
                    "Invalid schema: the schema could not be parsed ({what})"
                )))
            }
            Ok(Err(_)) => Err(RegistryError::Store(
                "a schema worker ended without an answer".into(),
            )),
            Err(_) => Err(self.too_long()),
        }
    }

    fn too_long(&self) -> RegistryError {
        RegistryError::SchemaTooLarge(format!(
            "The schemas of this request took longer than {} ms to parse and check; \
             simplify the schema or ask the operator to raise schema_work_timeout",
            self.timeout.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_small_job_is_answered_while_the_large_lane_is_full() {
        let work = Arc::new(SchemaWork::new(1, Duration::from_secs(30)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let mut large = Vec::new();
        for _ in 0..3 {
            let work = work.clone();
            let held = held.clone();
            large.push(tokio::spawn(async move {
                work.run(SMALL_JOB_BYTES + 1, move || {
                    let _ = held.lock().map(|h| h.recv());
                    Ok(())
                })
                .await
            }));
        }
        while work.stats()
            != (WorkStats {
                large_running: 1,
                large_waiting: 2,
                large_permits: 1,
            })
        {
            tokio::task::yield_now().await;
        }
        assert_eq!(work.run(10, || Ok(7)).await.unwrap(), 7);
        assert!(large.iter().all(|j| !j.is_finished()));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for j in large {
            j.await.unwrap().unwrap();
        }
        assert_eq!(work.stats().large_running, 0);
    }

    #[tokio::test]
    async fn a_panicking_job_answers_invalid_schema_and_frees_its_permit() {
        let work = SchemaWork::new(1, Duration::from_secs(30));
        let e = work
            .run::<()>(SMALL_JOB_BYTES + 1, || panic!("bad name"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, RegistryError::InvalidSchema(ref m) if m.contains("bad name")),
            "{e}"
        );
        assert_eq!(work.run(SMALL_JOB_BYTES + 1, || Ok(1)).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_job_past_the_deadline_answers_42209_and_keeps_its_permit_until_it_ends() {
        let work = SchemaWork::new(1, Duration::from_millis(50));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let e = work
            .run(SMALL_JOB_BYTES + 1, move || {
                let _ = held.recv();
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::SchemaTooLarge(_)), "{e}");
        assert_eq!(work.stats().large_running, 1);
        // The lane is still taken by the abandoned job: the next one times out waiting.
        let e = work.run(SMALL_JOB_BYTES + 1, || Ok(())).await.unwrap_err();
        assert!(matches!(e, RegistryError::SchemaTooLarge(_)), "{e}");
        release.send(()).unwrap();
        while work.stats().large_running != 0 {
            tokio::task::yield_now().await;
        }
        work.run(SMALL_JOB_BYTES + 1, || Ok(())).await.unwrap();
    }
}
