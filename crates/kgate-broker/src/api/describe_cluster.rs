//! DescribeCluster: the cluster id, the controller and the one broker.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::s;
use crate::state::BrokerState;

/// Answers a DescribeCluster request.
pub fn handle(
    state: &BrokerState,
    req: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    if version >= 1 {
        resp.endpoint_type = req.endpoint_type;
    }
    resp.cluster_id = s(state.cluster_id.clone());
    resp.controller_id = BrokerId(state.node_id);
    let mut broker = DescribeClusterBroker::default();
    broker.broker_id = BrokerId(state.node_id);
    broker.host = s(state.advertised_host.clone());
    broker.port = state.advertised_port;
    resp.brokers = vec![broker];
    // Kafka's marker for "authorized operations not requested".
    resp.cluster_authorized_operations = i32::MIN;
    resp
}
