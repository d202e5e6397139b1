//! The control loop every task runs: it follows the task's target state (run, pause,
//! stop), writes the RUNNING and PAUSED statuses, and between changes fetches batches
//! and hands them to the task's own step. Source tasks (plain and exactly-once) and sink
//! tasks differ only in that step.

use tokio::sync::watch;

use super::{Control, TaskContext};
use crate::storage::records::StatusKey;

/// What a kind of task does with its batches; [`drive`] calls it.
pub(super) trait Step {
    /// What one fetch returns (polled source records, consumed Kafka records).
    type Batch;

    /// Waits for the next batch. The future is dropped unfinished when the task's target
    /// state changes, so it must lose nothing when cancelled (a task's poll, a read).
    async fn fetch(&mut self) -> Result<Self::Batch, String>;

    /// Does the work of one batch (it may be empty) and commits when a commit is due.
    /// Runs to its end: a state change waits for it.
    async fn process(&mut self, batch: Self::Batch) -> Result<(), String>;

    /// Commits what is done so far: when the task pauses and when it ends.
    async fn commit(&mut self) -> Result<(), String>;
}

/// Runs `step` under `control` until the task is stopped (or its controller is gone),
/// then commits; the first error ends it.
pub(super) async fn drive<S: Step>(
    context: &TaskContext,
    control: &mut watch::Receiver<Control>,
    step: &mut S,
) -> Result<(), String> {
    let status_key = StatusKey::Task(context.connector.clone(), context.task);
    // Starting from Pause, a task that starts running writes RUNNING at once; one that
    // starts paused writes nothing until its target state changes.
    let mut state = Control::Pause;
    loop {
        let wanted = *control.borrow_and_update();
        if wanted != state {
            state = wanted;
            match state {
                Control::Run => {
                    context
                        .status
                        .write(status_key.clone(), "RUNNING", None)
                        .await
                }
                Control::Pause => {
                    step.commit().await?;
                    context
                        .status
                        .write(status_key.clone(), "PAUSED", None)
                        .await;
                }
                Control::Stop => break,
            }
        }
        if state == Control::Pause {
            if control.changed().await.is_err() {
                break;
            }
            continue;
        }
        // A change of state while waiting for a batch is seen at once: the fetch is
        // dropped and the loop starts over with the new state.
        let batch = tokio::select! {
            fetched = step.fetch() => fetched?,
            _ = control.changed() => continue,
        };
        step.process(batch).await?;
    }
    step.commit().await
}
