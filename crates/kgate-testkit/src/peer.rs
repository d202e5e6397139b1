//! Which Kafka the tests talk to: the embedded broker (the default) or a running Apache
//! Kafka cluster, and the helpers that let a test say which peer it needs.
//!
//! `KGATE_TEST_KAFKA=apache` with `KGATE_TEST_BOOTSTRAP=host:port,...` (the output of
//! `scripts/apache-kafka start`) points every [`crate::TestCluster`] at that cluster:
//! no embedded broker is started. The cluster is shared by every test of the run, so tests
//! name their topics, groups and subjects with [`crate::unique_name`].

use std::path::PathBuf;
use std::time::Duration;

/// The Kafka peer of this test run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// kgate's embedded broker, one per test cluster, on 127.0.0.1:0.
    Embedded,
    /// A running Apache Kafka cluster shared by every test, at these bootstrap servers.
    Apache {
        /// `host:port,...`
        bootstrap: String,
    },
}

impl Peer {
    /// The peer chosen by `KGATE_TEST_KAFKA` (`embedded`, the default, or `apache`, which
    /// needs `KGATE_TEST_BOOTSTRAP`); an unknown value fails the test, naming it.
    pub fn from_env() -> Peer {
        match std::env::var("KGATE_TEST_KAFKA").ok().as_deref() {
            None | Some("") | Some("embedded") => Peer::Embedded,
            Some("apache") => match std::env::var("KGATE_TEST_BOOTSTRAP") {
                Ok(bootstrap) if !bootstrap.trim().is_empty() => Peer::Apache {
                    bootstrap: bootstrap.trim().to_string(),
                },
                _ => panic!(
                    "KGATE_TEST_KAFKA=apache needs KGATE_TEST_BOOTSTRAP (the bootstrap \
                     servers printed by `scripts/apache-kafka start`)"
                ),
            },
            Some(other) => panic!("KGATE_TEST_KAFKA={other}: expected `embedded` or `apache`"),
        }
    }

    /// A short name for messages: `embedded` or `apache`.
    pub fn name(&self) -> &'static str {
        match self {
            Peer::Embedded => "embedded",
            Peer::Apache { .. } => "apache",
        }
    }

    /// Whether this is the embedded broker.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Peer::Embedded)
    }
}

/// The peer of this test run (see [`Peer::from_env`]).
pub fn peer() -> Peer {
    Peer::from_env()
}

/// For a test that can only pass on the embedded broker (it sets broker properties, stops
/// the broker, or relies on a single node): true, after printing why, when the run's peer
/// is another, so the test returns at once: `if skip_unless_embedded("...") { return; }`.
pub fn skip_unless_embedded(reason: &str) -> bool {
    let peer = peer();
    if peer.is_embedded() {
        return false;
    }
    println!(
        "SKIPPED on the {} peer: embedded broker only ({reason})",
        peer.name()
    );
    true
}

/// For a test that needs Apache Kafka itself (a cluster of several brokers, or the
/// reference behaviour): its bootstrap servers, or None, after printing why, on the
/// embedded broker.
pub fn apache_bootstrap(reason: &str) -> Option<String> {
    match peer() {
        Peer::Apache { bootstrap } => Some(bootstrap),
        Peer::Embedded => {
            println!(
                "SKIPPED on the embedded peer: needs Apache Kafka ({reason}); run it with \
                 KGATE_TEST_KAFKA=apache KGATE_TEST_BOOTSTRAP=$(scripts/apache-kafka start)"
            );
            None
        }
    }
}

/// The nodes of the Apache Kafka cluster started by `scripts/apache-kafka`, which the
/// multi-broker tests stop and start. The script finds the cluster through
/// `KGATE_APACHE_STATE` (or its default), as the run that started it did.
pub struct ApacheNodes {
    script: PathBuf,
}

impl ApacheNodes {
    /// The script at `KGATE_APACHE_SCRIPT`, else `scripts/apache-kafka` in this workspace.
    pub fn new() -> ApacheNodes {
        let script = std::env::var_os("KGATE_APACHE_SCRIPT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/apache-kafka")
            });
        ApacheNodes { script }
    }

    /// Stops node `id` with SIGTERM (Kafka's controlled shutdown) and waits until it exited.
    pub async fn stop_node(&self, id: i32) {
        self.run(&["stop-node", &id.to_string()]).await;
    }

    /// Starts node `id` again and waits until its broker is registered and unfenced.
    pub async fn start_node(&self, id: i32) {
        self.run(&["start-node", &id.to_string()]).await;
    }

    async fn run(&self, args: &[&str]) {
        let output = tokio::time::timeout(
            Duration::from_secs(180),
            tokio::process::Command::new("bash")
                .arg(&self.script)
                .args(args)
                .stdin(std::process::Stdio::null())
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} took over 180 s", self.script.display()))
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.script.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}\n{}",
            self.script.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Default for ApacheNodes {
    fn default() -> Self {
        Self::new()
    }
}
