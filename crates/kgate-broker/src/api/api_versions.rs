//! ApiVersions: advertise exactly the versions this broker implements.

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::state::BrokerState;

/// The ApiVersions response for `version`.
pub fn response(state: &BrokerState, version: i16) -> ApiVersionsResponse {
    let _ = version;
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = state
        .api_versions
        .iter()
        .map(|(key, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = *key as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect();
    resp
}
