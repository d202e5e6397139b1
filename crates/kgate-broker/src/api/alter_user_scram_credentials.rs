//! AlterUserScramCredentials: add, replace or remove users' SCRAM credentials.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::s;
use crate::sasl::UserStore;
use crate::sasl::scram::{MIN_ITERATIONS, ScramCredential, ScramMechanism};

/// Kafka's upper bound on SCRAM iterations.
const MAX_ITERATIONS: i32 = 16384;

/// Answers an AlterUserScramCredentials request.
pub fn handle(
    users: &UserStore,
    req: AlterUserScramCredentialsRequest,
    _version: i16,
) -> AlterUserScramCredentialsResponse {
    // One result per user; the first error seen for a user wins.
    let mut errors: BTreeMap<String, Option<(i16, String)>> = BTreeMap::new();
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    let known = users.describe();
    for d in req.deletions {
        let user = d.name.to_string();
        let slot = errors.entry(user.clone()).or_insert(None);
        match ScramMechanism::from_code(d.mechanism) {
            None => {
                slot.get_or_insert((
                    ResponseError::UnsupportedSaslMechanism.code(),
                    "Unknown SCRAM mechanism".into(),
                ));
            }
            Some(m)
                if !known
                    .get(&user)
                    .is_some_and(|c| c.iter().any(|(k, _)| *k == m)) =>
            {
                slot.get_or_insert((
                    ResponseError::ResourceNotFound.code(),
                    "Attempt to delete a user credential that does not exist".into(),
                ));
            }
            Some(m) => deletes.push((user, m)),
        }
    }
    for u in req.upsertions {
        let user = u.name.to_string();
        let slot = errors.entry(user.clone()).or_insert(None);
        let Some(m) = ScramMechanism::from_code(u.mechanism) else {
            slot.get_or_insert((
                ResponseError::UnsupportedSaslMechanism.code(),
                "Unknown SCRAM mechanism".into(),
            ));
            continue;
        };
        if u.iterations < MIN_ITERATIONS as i32 || u.iterations > MAX_ITERATIONS {
            slot.get_or_insert((
                ResponseError::UnacceptableCredential.code(),
                format!("Iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"),
            ));
            continue;
        }
        if user.is_empty() || u.salted_password.is_empty() {
            slot.get_or_insert((
                ResponseError::UnacceptableCredential.code(),
                "Username and salted password must not be empty".into(),
            ));
            continue;
        }
        let credential = ScramCredential::from_salted_password(
            m,
            u.salt.to_vec(),
            &u.salted_password,
            u.iterations as u32,
        );
        upserts.push((user, m, credential));
    }
    upserts.retain(|(u, _, _)| errors.get(u).is_none_or(|e| e.is_none()));
    deletes.retain(|(u, _)| errors.get(u).is_none_or(|e| e.is_none()));
    if let Err(e) = users.alter(upserts, deletes) {
        tracing::error!("cannot store SCRAM credentials: {e}");
        for slot in errors.values_mut() {
            slot.get_or_insert((
                ResponseError::UnknownServerError.code(),
                format!("cannot store SCRAM credentials: {e}"),
            ));
        }
    }
    let mut resp = AlterUserScramCredentialsResponse::default();
    for (user, error) in errors {
        let mut r = AlterUserScramCredentialsResult::default();
        r.user = s(user);
        if let Some((code, message)) = error {
            r.error_code = code;
            r.error_message = Some(s(message));
        }
        resp.results.push(r);
    }
    resp
}
