//! ListPartitionReassignments: a single broker never has a reassignment in progress.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use crate::state::BrokerState;

/// Answers a ListPartitionReassignments request: nothing is ever being moved.
pub fn handle(
    _state: &BrokerState,
    _req: ListPartitionReassignmentsRequest,
    _version: i16,
) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
}
