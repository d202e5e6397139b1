//! Where this crate's CPU-heavy work runs when a face asks for it asynchronously: parsing
//! a schema (a JSON Schema of 100,000 subschemas or a large `.proto` file takes seconds
//! to compile) and converting a request's batch of records (each record is held to
//! [`crate::limits::MAX_RECORD_STEPS`], but a batch of many such records is not).
//!
//! Such work never runs on the async threads, which also serve every other request and,
//! in the same process, the embedded broker: it runs on the runtime's blocking pool, at
//! most one job per core at once (a semaphore), so a flood of heavy requests queues
//! rather than taking every thread. A job whose request gave up (its client left) keeps
//! its permit until it ends, so abandoned work still counts against the bound. The bound
//! also bounds the caches that matching keeps per concurrent caller (a JSON Schema
//! `pattern`'s DFA cache, see `schema::json_budget`).
//!
//! The synchronous functions (`RecordSerializer::serialize`, `RecordCodec::decode`, ...)
//! stay as they are for callers that are already off the async threads.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

/// How many jobs run at once: one per core.
pub fn permits() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(permits())))
}

/// Runs `job` on the blocking pool once a permit is free, and returns what it returns. A
/// panic in `job` is raised again in the caller's task, as if `job` had run there (the
/// HTTP layer answers it 500 and goes on serving).
pub async fn off_runtime<T, F>(job: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // The semaphore is never closed.
    let permit = slots()
        .clone()
        .acquire_owned()
        .await
        .expect("the work semaphore is never closed");
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
    async fn jobs_run_off_the_async_threads_at_most_one_per_core() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..permits() * 3)
            .map(|i| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(off_runtime(move || {
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
            (1..=permits()).contains(&most),
            "{most} jobs ran at once, over {} permits",
            permits()
        );
    }

    #[tokio::test]
    async fn a_panicking_job_panics_in_its_caller_and_gives_its_permit_back() {
        // One more panicking job than there are permits: a permit kept by a panic would
        // leave the last one waiting.
        for _ in 0..=permits() {
            let caught = tokio::time::timeout(
                Duration::from_secs(30),
                tokio::spawn(off_runtime(|| -> u8 { panic!("bad input") })),
            )
            .await
            .expect("a permit is free again");
            let panic = caught.expect_err("the caller's task panics").into_panic();
            assert_eq!(panic.downcast_ref::<&str>(), Some(&"bad input"));
        }
    }
}
