//! Turning SIGINT and SIGTERM into one shutdown signal every server can wait on.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A shutdown signal that can be waited on from any number of tasks.
#[derive(Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    /// Installs handlers for SIGINT and SIGTERM. The first signal starts a clean
    /// shutdown; a second one exits at once, for when the clean path hangs.
    pub fn on_signals() -> std::io::Result<Shutdown> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (sender, receiver) = watch::channel(false);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(signal = name, "shutting down");
            let _ = sender.send(true);
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::warn!("second signal: exiting without finishing the shutdown");
            std::process::exit(130);
        });
        Ok(Shutdown { receiver })
    }

    /// Whether shutdown has been asked for already.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes once shutdown has been asked for.
    pub async fn wait(mut self) {
        // An error means the sender is gone, which only happens if the signal task
        // ended; treat that as a request to stop rather than waiting forever.
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }

    /// A shutdown signal that fires with this one or when the returned [`Stop`] is used:
    /// lets a group of servers be stopped together when one of them fails.
    pub fn linked(&self) -> (Stop, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        let sender = std::sync::Arc::new(sender);
        let outer = self.clone();
        let forward = sender.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = outer.wait() => { let _ = forward.send(true); }
                () = forward.closed() => {}
            }
        });
        (Stop { sender }, Shutdown { receiver })
    }
}

/// Fires a [`Shutdown`] made by [`Shutdown::linked`].
pub struct Stop {
    sender: std::sync::Arc<watch::Sender<bool>>,
}

impl Stop {
    /// Asks everything waiting on the linked shutdown to stop.
    pub fn stop(&self) {
        let _ = self.sender.send(true);
    }
}
