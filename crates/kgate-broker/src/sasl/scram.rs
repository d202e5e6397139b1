//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802 / RFC 7677) as Kafka uses them: the server
//! keeps only the stored and server keys, never the password.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};
use serde::{Deserialize, Serialize};

/// Kafka's minimum iteration count for SCRAM credentials.
pub const MIN_ITERATIONS: u32 = 4096;

/// A SCRAM hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (Kafka's mechanism code 1).
    Sha256,
    /// SCRAM-SHA-512 (Kafka's mechanism code 2).
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism from its SASL name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Kafka's wire code (ScramMechanism in the admin protocol).
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism from its wire code.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2_alg(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac_alg(), key);
        hmac::sign(&key, data).as_ref().to_vec()
    }
}

/// What the server keeps for one user and mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// The salt, as given to the client.
    pub salt: Vec<u8>,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
}

impl ScramCredential {
    /// Derives a credential from a password with a fresh random salt.
    pub fn from_password(mechanism: ScramMechanism, password: &str, iterations: u32) -> Self {
        let salt: [u8; 16] = rand::random();
        let mut salted = vec![0u8; mechanism.len()];
        let n = std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(
            mechanism.pbkdf2_alg(),
            n,
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        Self::from_salted_password(mechanism, salt.to_vec(), &salted, iterations)
    }

    /// Builds a credential from an already salted password (AlterUserScramCredentials).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        salted_password: &[u8],
        iterations: u32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        let stored_key = digest::digest(mechanism.digest_alg(), &client_key)
            .as_ref()
            .to_vec();
        let server_key = mechanism.hmac(salted_password, b"Server Key");
        Self {
            salt,
            stored_key,
            server_key,
            iterations,
        }
    }
}

/// A SCRAM exchange in progress on one connection.
pub struct ScramExchange {
    mechanism: ScramMechanism,
    state: ExchangeState,
}

enum ExchangeState {
    AwaitClientFirst,
    AwaitClientFinal {
        user: String,
        nonce: String,
        client_first_bare: String,
        server_first: String,
        credential: ScramCredential,
    },
    Finished,
}

/// The result of one SCRAM step.
pub enum ScramStep {
    /// Send these bytes and wait for the next client message.
    Continue(Vec<u8>),
    /// The client proved its password: send these bytes; the user is authenticated.
    Authenticated {
        /// The authenticated user name.
        user: String,
        /// The server-final message.
        reply: Vec<u8>,
    },
    /// Authentication failed for this reason.
    Failed(String),
}

/// Undoes SCRAM's escaping of `,` and `=` in user names.
fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i..i + 3)?;
        match code {
            "=2C" => out.push(','),
            "=3D" => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn attribute(message: &str, key: char) -> Option<&str> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

impl ScramExchange {
    /// Starts an exchange for `mechanism`.
    pub fn new(mechanism: ScramMechanism) -> Self {
        Self {
            mechanism,
            state: ExchangeState::AwaitClientFirst,
        }
    }

    /// The hash function of this exchange.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Consumes one client message; `lookup` finds a user's credential.
    pub fn step(
        &mut self,
        message: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
    ) -> ScramStep {
        let Ok(text) = std::str::from_utf8(message) else {
            return ScramStep::Failed("SCRAM message is not UTF-8".into());
        };
        match std::mem::replace(&mut self.state, ExchangeState::Finished) {
            ExchangeState::AwaitClientFirst => self.client_first(text, lookup),
            ExchangeState::AwaitClientFinal {
                user,
                nonce,
                client_first_bare,
                server_first,
                credential,
            } => self.client_final(
                text,
                user,
                &nonce,
                &client_first_bare,
                &server_first,
                &credential,
            ),
            ExchangeState::Finished => ScramStep::Failed("SCRAM exchange already finished".into()),
        }
    }

    fn client_first(
        &mut self,
        text: &str,
        lookup: impl Fn(&str) -> Option<ScramCredential>,
    ) -> ScramStep {
        // gs2 header: channel binding flag, optional authzid, then the bare message.
        let mut parts = text.splitn(3, ',');
        let (Some(cb), Some(_authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            return ScramStep::Failed("malformed SCRAM client-first message".into());
        };
        if cb.starts_with('p') {
            return ScramStep::Failed("SCRAM channel binding is not supported".into());
        }
        let (Some(name), Some(client_nonce)) = (attribute(bare, 'n'), attribute(bare, 'r')) else {
            return ScramStep::Failed("SCRAM client-first message lacks n= or r=".into());
        };
        let Some(user) = unescape_name(name) else {
            return ScramStep::Failed("invalid SCRAM user name".into());
        };
        let Some(credential) = lookup(&user) else {
            return ScramStep::Failed(format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                self.mechanism.name()
            ));
        };
        let server_nonce = B64.encode(rand::random::<[u8; 18]>());
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        self.state = ExchangeState::AwaitClientFinal {
            user,
            nonce,
            client_first_bare: bare.to_string(),
            server_first,
            credential,
        };
        ScramStep::Continue(reply)
    }

    fn client_final(
        &mut self,
        text: &str,
        user: String,
        nonce: &str,
        client_first_bare: &str,
        server_first: &str,
        credential: &ScramCredential,
    ) -> ScramStep {
        let failed = || {
            ScramStep::Failed(format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                self.mechanism.name()
            ))
        };
        let Some(proof_at) = text.rfind(",p=") else {
            return ScramStep::Failed("SCRAM client-final message lacks p=".into());
        };
        let without_proof = &text[..proof_at];
        let Ok(proof) = B64.decode(&text[proof_at + 3..]) else {
            return ScramStep::Failed("SCRAM proof is not base64".into());
        };
        if attribute(without_proof, 'r') != Some(nonce) {
            return ScramStep::Failed("SCRAM nonce mismatch".into());
        }
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let m = self.mechanism;
        let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return failed();
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let stored = digest::digest(m.digest_alg(), &client_key);
        let expected = &credential.stored_key;
        // Compare without an early exit so timing says nothing about the stored key.
        let diff = stored.as_ref().iter().zip(expected).fold(
            (stored.as_ref().len() != expected.len()) as u8,
            |acc, (a, b)| acc | (a ^ b),
        );
        if diff != 0 {
            return failed();
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        ScramStep::Authenticated {
            user,
            reply: format!("v={}", B64.encode(server_signature)).into_bytes(),
        }
    }
}
