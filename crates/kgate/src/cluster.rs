//! Waiting for the Kafka cluster at start-up, saying early and plainly when it does not
//! answer (and where kgate looked), rather than announcing faces that then fail.

use std::time::{Duration, Instant};

use kgate_kafka::Kafka;

use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// When the first "cannot reach" line is logged if the cluster has not answered yet.
const FIRST_REPORT: Duration = Duration::from_secs(2);

/// How often the line is repeated while kgate keeps trying.
const REPEAT_REPORT: Duration = Duration::from_secs(10);

/// Where the cluster's address came from, for messages: `bootstrap.servers`, or
/// `--bootstrap-server` for `kgate topics`.
pub struct Target<'a> {
    /// The bootstrap servers tried.
    pub servers: &'a str,
    /// The key or option that named them.
    pub key: &'static str,
    /// Whether to log while waiting (a server does; a one-shot command only reports
    /// its final error).
    pub progress: bool,
}

/// Waits until the cluster answers a metadata request, for at most `limit`. While it
/// does not, logs at ERROR level which address does not answer and why (librdkafka's
/// last connection error), first after [`FIRST_REPORT`] and then every
/// [`REPEAT_REPORT`]. `Ok(false)` means `shutdown` came first.
pub async fn wait_until_reachable(
    kafka: &Kafka,
    target: &Target<'_>,
    limit: Duration,
    shutdown: Option<Shutdown>,
) -> Result<bool, KgateError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut next_report = tokio::time::Instant::now() + FIRST_REPORT.min(limit);
    let mut reported = false;
    let mut last_failure = String::from("no answer yet");
    let stop = async move {
        match shutdown {
            Some(shutdown) => shutdown.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let fetch = |kafka: Kafka| tokio::spawn(async move { kafka.fresh_metadata().await });
    let mut attempt = fetch(kafka.clone());
    loop {
        tokio::select! {
            answered = &mut attempt => {
                match answered {
                    Ok(Ok(_)) => {
                        if reported {
                            tracing::info!(bootstrap.servers = target.servers, "the Kafka cluster answers now");
                        }
                        return Ok(true);
                    }
                    Ok(Err(e)) => last_failure = e.to_string(),
                    Err(e) => last_failure = e.to_string(),
                }
                // librdkafka gives up on one request after its own timeout; ask again
                // after a pause so that an unreachable cluster is not hammered.
                tokio::time::sleep(Duration::from_millis(500)).await;
                attempt = fetch(kafka.clone());
            }
            () = tokio::time::sleep_until(next_report), if target.progress => {
                reported = true;
                next_report += REPEAT_REPORT;
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                tracing::error!(
                    bootstrap.servers = target.servers,
                    "cannot reach the Kafka cluster at {} (`{}`): {}; trying {} s more",
                    target.servers,
                    target.key,
                    cause(&last_failure),
                    left.as_secs()
                );
            }
            () = tokio::time::sleep_until(deadline) => {
                attempt.abort();
                return Err(KgateError::ClusterUnreachable {
                    servers: target.servers.to_string(),
                    key: target.key,
                    waited: started.elapsed(),
                    cause: cause(&last_failure),
                });
            }
            () = &mut stop => {
                attempt.abort();
                return Ok(false);
            }
        }
    }
}

/// Why the cluster does not answer: librdkafka's last connection error when there is a
/// recent one (it names the address and the system's reason), else what the last
/// request said.
fn cause(last_failure: &str) -> String {
    kgate_kafka::last_client_error(Duration::from_secs(30))
        .unwrap_or_else(|| last_failure.to_string())
}
