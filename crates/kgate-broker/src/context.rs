//! What a request handler knows about the request beyond its body.

use std::net::SocketAddr;

/// The connection and header facts a handler may need (client id, peer host, version).
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request header's client id (empty when absent).
    pub client_id: String,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The API version the request was sent with.
    pub api_version: i16,
}

/// How the group coordinator asks the log layer about topics without depending on it.
pub trait TopicLookup: Send + Sync {
    /// The number of partitions of `topic`, or `None` if it does not exist.
    fn partition_count(&self, topic: &str) -> Option<i32>;
}
