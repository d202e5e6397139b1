//! Who may use the proxy (`Authorization: Basic` against the configured users) and as whom
//! a socket's Kafka clients connect (`X-Kafka-Auth`: base64 `user:password`, used as the
//! SASL credentials of that socket's own producer or consumer, so the cluster's ACLs
//! apply to the user).

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use base64::Engine;

use crate::error::WsError;

/// The header carrying a socket's Kafka credentials.
pub const KAFKA_AUTH_HEADER: &str = "x-kafka-auth";

/// Checks `Authorization: Basic` when users are configured; with none, everyone may use
/// the proxy.
pub fn check_basic(
    headers: &HeaderMap,
    users: &BTreeMap<String, String>,
    realm: &str,
) -> Result<(), WsError> {
    if users.is_empty() {
        return Ok(());
    }
    let challenge = |message: &str| WsError::Unauthenticated {
        message: message.to_string(),
        realm: Some(realm.to_string()),
    };
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(challenge(
            "The resource requires authentication, which was not supplied with the request",
        ));
    };
    let credentials = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest)
        })
        .and_then(decode_user_password);
    let valid = match credentials {
        Some((user, password)) => users
            .get(&user)
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), password.as_bytes())),
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(challenge("The supplied authentication is invalid"))
    }
}

/// The SASL settings of a socket's own Kafka clients from its `X-Kafka-Auth` header;
/// `None` when the header is absent (the socket then uses kgate's own credentials).
pub fn kafka_credentials(headers: &HeaderMap) -> Result<Option<BTreeMap<String, String>>, WsError> {
    let Some(value) = headers.get(KAFKA_AUTH_HEADER) else {
        return Ok(None);
    };
    let invalid = || WsError::Unauthenticated {
        message: "The X-Kafka-Auth header must be the base64 encoding of username:password"
            .to_string(),
        realm: None,
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    // Some clients send it like an Authorization header.
    let encoded = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => rest,
        _ => text,
    };
    let (user, password) = decode_user_password(encoded).ok_or_else(invalid)?;
    Ok(Some(BTreeMap::from([
        ("sasl.username".to_string(), user),
        ("sasl.password".to_string(), password),
    ])))
}

fn decode_user_password(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_string(), password.to_string()))
}

/// Compares without stopping at the first difference, so the time taken does not tell
/// how much of a guessed password was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(user_password: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        );
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&v).unwrap(),
        );
        h
    }

    #[test]
    fn basic_auth_checks_configured_users() {
        let users = BTreeMap::from([("alice".to_string(), "s3cret".to_string())]);
        assert!(check_basic(&basic("alice:s3cret"), &users, "r").is_ok());
        assert!(check_basic(&basic("alice:wrong"), &users, "r").is_err());
        assert!(check_basic(&HeaderMap::new(), &users, "r").is_err());
        assert!(check_basic(&HeaderMap::new(), &BTreeMap::new(), "r").is_ok());
    }

    #[test]
    fn kafka_auth_header_gives_sasl_settings() {
        let mut h = HeaderMap::new();
        h.insert(
            KAFKA_AUTH_HEADER,
            HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode("bob:pw:x"))
                .unwrap(),
        );
        let c = kafka_credentials(&h).unwrap().unwrap();
        assert_eq!(c["sasl.username"], "bob");
        assert_eq!(c["sasl.password"], "pw:x");
        h.insert(KAFKA_AUTH_HEADER, HeaderValue::from_static("not base64!"));
        assert!(kafka_credentials(&h).is_err());
    }
}
