//! Request handlers, one file per API. The dispatcher offers each request to the group
//! coordinator first and answers the rest here.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod produce;
pub mod txn_offset_commit;

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::context::RequestContext;
use crate::state::BrokerState;

/// The (api, min, max) versions answered by this module (the coordinator's are merged
/// in by the caller).
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 5),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    // Answered by the server itself (they need the connection's principal or the
    // security stores): SASL, ACLs, SCRAM credentials, log dirs and reassignments.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeLogDirs, 0, 4),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ElectLeaders, 0, 2),
];

/// Answers one request; `Ok(None)` when no response is due (acks=0), `Err` when the
/// connection must be closed.
pub async fn dispatch(
    state: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: RequestKind,
) -> Result<Option<ResponseKind>, String> {
    let request = match state.groups.handle(ctx, request).await {
        Ok(response) => return Ok(Some(response)),
        Err(request) => request,
    };
    let v = ctx.api_version;
    Ok(Some(match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::response(state, v)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(state, r, v)),
        RequestKind::Produce(r) => {
            let acks = r.acks;
            let resp = if produce::recompresses(state, &r) {
                // Recompressing for a topic's compression.type is CPU work: off the
                // async threads.
                let state = state.clone();
                tokio::task::spawn_blocking(move || produce::handle(&state, r, v))
                    .await
                    .map_err(|e| format!("produce task failed: {e}"))?
            } else {
                produce::handle(state, r, v)
            };
            if acks == 0 {
                // Without a response, closing the connection is how Kafka tells an acks=0
                // producer that a write failed (it then refreshes metadata).
                let failed = resp
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .find(|p| p.error_code != 0);
                if let Some(p) = failed {
                    return Err(format!(
                        "acks=0 produce failed with error code {}",
                        p.error_code
                    ));
                }
                return Ok(None);
            }
            ResponseKind::Produce(resp)
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(state, r, v).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(state, r, v)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(
            off_runtime(state, move |state| create_topics::handle(state, r, v)).await?,
        ),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(
            off_runtime(state, move |state| delete_topics::handle(state, r, v)).await?,
        ),
        RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(
            off_runtime(state, move |state| create_partitions::handle(state, r, v)).await?,
        ),
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(delete_records::handle(state, r, v))
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(state, r, v))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(alter_configs::handle(state, r, v))
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(alter_configs::handle_incremental(state, r, v))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(state, r, v))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(state, r, v))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(state, r, v))
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(state, r, v))
        }
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(state, r, v))
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(state, r, v).await),
        RequestKind::DescribeProducers(r) => {
            ResponseKind::DescribeProducers(describe_producers::handle(state, r, v))
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(state, r, v))
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(list_transactions::handle(state, r, v))
        }
        other => {
            return Err(format!(
                "no handler for {:?}",
                std::mem::discriminant(&other)
            ));
        }
    }))
}

/// Runs a handler that creates or removes files (thousands for a topic with thousands
/// of partitions) on the blocking pool, one at a time: topic changes are serialised by
/// the registry anyway, and waiting here holds no thread.
async fn off_runtime<T: Send + 'static>(
    state: &Arc<BrokerState>,
    handler: impl FnOnce(&BrokerState) -> T + Send + 'static,
) -> Result<T, String> {
    let _permit = state
        .topic_changes
        .acquire()
        .await
        .map_err(|_| "the broker is stopping".to_string())?;
    let state = state.clone();
    tokio::task::spawn_blocking(move || handler(&state))
        .await
        .map_err(|e| format!("topic change task failed: {e}"))
}

/// A protocol string from a Rust string.
pub(crate) fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}
