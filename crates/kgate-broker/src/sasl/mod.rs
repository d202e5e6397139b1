//! SASL authentication: PLAIN and SCRAM-SHA-256/512 over SaslHandshake v1 and
//! SaslAuthenticate, with users from the broker configuration (`sasl.user.<name>`) and
//! SCRAM credentials managed by AlterUserScramCredentials, kept in
//! `<data_dir>/scram-credentials.json`.

pub mod scram;

use std::collections::BTreeMap;
use std::path::PathBuf;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use self::scram::{MIN_ITERATIONS, ScramCredential, ScramExchange, ScramMechanism, ScramStep};

/// Users and their credentials.
pub struct UserStore {
    /// Passwords from the configuration: they serve PLAIN and seed SCRAM credentials.
    passwords: BTreeMap<String, String>,
    scram: RwLock<BTreeMap<(String, ScramMechanism), ScramCredential>>,
    deleted: RwLock<std::collections::BTreeSet<(String, ScramMechanism)>>,
    /// Credentials set at run time: only these are stored, so a password changed in
    /// the configuration takes effect for credentials never altered.
    dynamic: RwLock<std::collections::BTreeSet<(String, ScramMechanism)>>,
    path: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredCredentials {
    credentials: Vec<StoredCredential>,
    /// Configured users' credentials deleted at run time, so a restart keeps them gone.
    #[serde(default)]
    deleted: Vec<(String, ScramMechanism)>,
}

#[derive(Serialize, Deserialize)]
struct StoredCredential {
    user: String,
    mechanism: ScramMechanism,
    credential: ScramCredential,
}

impl UserStore {
    /// Loads the SCRAM credentials stored under `path` and adds the configured users.
    pub fn open(path: PathBuf, passwords: BTreeMap<String, String>) -> std::io::Result<Self> {
        let stored: StoredCredentials = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredCredentials::default(),
            Err(e) => return Err(e),
        };
        let mut scram = BTreeMap::new();
        // Configured users get credentials for both mechanisms; stored ones (altered at
        // run time) take precedence, as dynamic configuration does in Kafka.
        let deleted: std::collections::BTreeSet<_> = stored.deleted.into_iter().collect();
        for (user, password) in &passwords {
            for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
                if deleted.contains(&(user.clone(), m)) {
                    continue;
                }
                scram.insert(
                    (user.clone(), m),
                    ScramCredential::from_password(m, password, MIN_ITERATIONS),
                );
            }
        }
        let mut dynamic = std::collections::BTreeSet::new();
        for c in stored.credentials {
            dynamic.insert((c.user.clone(), c.mechanism));
            scram.insert((c.user, c.mechanism), c.credential);
        }
        Ok(Self {
            passwords,
            scram: RwLock::new(scram),
            deleted: RwLock::new(deleted),
            dynamic: RwLock::new(dynamic),
            path,
        })
    }

    /// Whether `password` is `user`'s configured password (PLAIN).
    pub fn check_plain(&self, user: &str, password: &str) -> bool {
        self.passwords
            .get(user)
            .is_some_and(|p| p.as_bytes() == password.as_bytes())
    }

    /// The SCRAM credential of `user` for `mechanism`.
    pub fn scram(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.scram
            .read()
            .get(&(user.to_string(), mechanism))
            .cloned()
    }

    /// Every user with SCRAM credentials and the (mechanism, iterations) of each.
    pub fn describe(&self) -> BTreeMap<String, Vec<(ScramMechanism, u32)>> {
        let mut out: BTreeMap<String, Vec<(ScramMechanism, u32)>> = BTreeMap::new();
        for ((user, m), c) in self.scram.read().iter() {
            out.entry(user.clone())
                .or_default()
                .push((*m, c.iterations));
        }
        out
    }

    /// Applies upsertions and deletions, then persists what is stored.
    pub fn alter(
        &self,
        upserts: Vec<(String, ScramMechanism, ScramCredential)>,
        deletes: Vec<(String, ScramMechanism)>,
    ) -> std::io::Result<()> {
        let mut scram = self.scram.write();
        let mut deleted = self.deleted.write();
        let mut dynamic = self.dynamic.write();
        for (user, m) in deletes {
            scram.remove(&(user.clone(), m));
            dynamic.remove(&(user.clone(), m));
            if self.passwords.contains_key(&user) {
                deleted.insert((user, m));
            }
        }
        for (user, m, c) in upserts {
            deleted.remove(&(user.clone(), m));
            dynamic.insert((user.clone(), m));
            scram.insert((user, m), c);
        }
        let stored = StoredCredentials {
            credentials: scram
                .iter()
                .filter(|(key, _)| dynamic.contains(key))
                .map(|((user, m), c)| StoredCredential {
                    user: user.clone(),
                    mechanism: *m,
                    credential: c.clone(),
                })
                .collect(),
            deleted: deleted.iter().cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// One connection's authentication in progress.
pub enum SaslSession {
    /// PLAIN: one message with authzid, user and password.
    Plain,
    /// A SCRAM exchange.
    Scram(ScramExchange),
}

/// The result of feeding one SaslAuthenticate message to a session.
pub enum SaslStep {
    /// More messages are needed; reply with these bytes.
    Continue(Vec<u8>),
    /// Authenticated as this user; reply with these bytes.
    Done(String, Vec<u8>),
    /// Authentication failed: Kafka answers SASL_AUTHENTICATION_FAILED and closes.
    Failed(String),
}

impl SaslSession {
    /// A session for `mechanism`, if the broker knows it.
    pub fn start(mechanism: &str) -> Option<Self> {
        match mechanism {
            "PLAIN" => Some(SaslSession::Plain),
            other => {
                ScramMechanism::from_name(other).map(|m| SaslSession::Scram(ScramExchange::new(m)))
            }
        }
    }

    /// Feeds one client message.
    pub fn step(&mut self, users: &UserStore, message: &[u8]) -> SaslStep {
        match self {
            SaslSession::Plain => {
                let mut parts = message.split(|b| *b == 0);
                let (Some(_authzid), Some(user), Some(password), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return SaslStep::Failed("malformed SASL/PLAIN message".into());
                };
                let (Ok(user), Ok(password)) =
                    (std::str::from_utf8(user), std::str::from_utf8(password))
                else {
                    return SaslStep::Failed("SASL/PLAIN credentials are not UTF-8".into());
                };
                if users.check_plain(user, password) {
                    SaslStep::Done(user.to_string(), Vec::new())
                } else {
                    SaslStep::Failed(
                        "Authentication failed: Invalid username or password".to_string(),
                    )
                }
            }
            SaslSession::Scram(exchange) => {
                let m = exchange_mechanism(exchange);
                match exchange.step(message, |u| users.scram(u, m)) {
                    ScramStep::Continue(reply) => SaslStep::Continue(reply),
                    ScramStep::Authenticated { user, reply } => SaslStep::Done(user, reply),
                    ScramStep::Failed(why) => SaslStep::Failed(why),
                }
            }
        }
    }
}

fn exchange_mechanism(exchange: &ScramExchange) -> ScramMechanism {
    exchange.mechanism()
}
