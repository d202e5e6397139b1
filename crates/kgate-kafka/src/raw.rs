//! Requests librdkafka has no call for (partition reassignments, log dirs), sent with the
//! kafka-protocol crate over a plain connection.
