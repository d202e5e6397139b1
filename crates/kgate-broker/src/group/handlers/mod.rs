//! Thin request handlers: read the request of its version, call the state machine, shape
//! the response for that same version (fields a version lacks must stay at their defaults,
//! or encoding fails).

mod admin;
mod membership;
mod offsets;
#[cfg(test)]
mod tests;

pub(super) use admin::{delete_groups, describe_groups, find_coordinator, list_groups};
pub(super) use membership::{heartbeat, join_group, leave_group, sync_group};
pub(super) use offsets::{now_ms, offset_commit, offset_delete, offset_fetch};

use kafka_protocol::protocol::StrBytes;

use super::membership::Reply;

/// A protocol string as an owned `String`.
fn text(s: &StrBytes) -> String {
    s.as_str().to_string()
}

/// An owned `String` as a protocol string.
fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// The answer, waiting for it if needed; `gone` stands in if the group dropped the
/// request (e.g. the broker is stopping).
async fn settle<T>(reply: Reply<T>, gone: impl FnOnce() -> T) -> T {
    match reply {
        Reply::Now(answer) => answer,
        Reply::Later(rx) => rx.await.unwrap_or_else(|_| gone()),
    }
}
