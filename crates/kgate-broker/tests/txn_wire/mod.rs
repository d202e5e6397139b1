//! Raw transactional and admin requests for tests that check exact error codes: each
//! helper builds one request, sends it over `stream` and returns the answer's codes.

#![allow(dead_code)]

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpStream;

use crate::support::wire;

/// A protocol string.
pub fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// A producer id and epoch, as InitProducerId hands them out.
pub type Producer = (i64, i16);

/// (topic, partition, error code) of a per-partition answer, sorted.
pub type PartitionCodes = Vec<(String, i32, i16)>;

/// Sends `request` at `version` and returns the response.
async fn call(stream: &mut TcpStream, request: RequestKind, version: i16) -> ResponseKind {
    let key = match &request {
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::InitProducerId(_) => ApiKey::InitProducerId,
        RequestKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        RequestKind::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        RequestKind::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        RequestKind::EndTxn(_) => ApiKey::EndTxn,
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::DescribeProducers(_) => ApiKey::DescribeProducers,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::ListTransactions(_) => ApiKey::ListTransactions,
        other => panic!("no key known for {other:?}"),
    };
    wire::call(stream, request, key, version).await
}

/// Creates `name` with `partitions` partitions.
pub async fn create_topic(stream: &mut TcpStream, name: &str, partitions: i32) {
    let mut t = CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 30_000;
    let ResponseKind::CreateTopics(resp) = call(stream, RequestKind::CreateTopics(req), 5).await
    else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
}

/// InitProducerId for `txn_id` (or an idempotent producer): the error code, and the
/// producer when there is no error.
pub async fn init_producer_id(
    stream: &mut TcpStream,
    txn_id: Option<&str>,
    timeout_ms: i32,
) -> Result<Producer, i16> {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = txn_id.map(|t| TransactionalId(s(t)));
    req.transaction_timeout_ms = timeout_ms;
    req.producer_id = ProducerId(-1);
    req.producer_epoch = -1;
    let ResponseKind::InitProducerId(resp) =
        call(stream, RequestKind::InitProducerId(req), 3).await
    else {
        panic!("not an InitProducerId response")
    };
    match resp.error_code {
        0 => Ok((resp.producer_id.0, resp.producer_epoch)),
        code => Err(code),
    }
}

/// AddPartitionsToTxn (v3) of `partitions`.
pub async fn add_partitions<T: AsRef<str>>(
    stream: &mut TcpStream,
    txn_id: &str,
    (producer_id, epoch): Producer,
    partitions: &[(T, i32)],
) -> PartitionCodes {
    let mut req = AddPartitionsToTxnRequest::default();
    req.v3_and_below_transactional_id = TransactionalId(s(txn_id));
    req.v3_and_below_producer_id = ProducerId(producer_id);
    req.v3_and_below_producer_epoch = epoch;
    for (topic, p) in partitions {
        let topic = topic.as_ref();
        match req
            .v3_and_below_topics
            .iter_mut()
            .find(|t| t.name.as_str() == topic)
        {
            Some(t) => t.partitions.push(*p),
            None => {
                let mut t = AddPartitionsToTxnTopic::default();
                t.name = TopicName(s(topic));
                t.partitions = vec![*p];
                req.v3_and_below_topics.push(t);
            }
        }
    }
    let ResponseKind::AddPartitionsToTxn(resp) =
        call(stream, RequestKind::AddPartitionsToTxn(req), 3).await
    else {
        panic!("not an AddPartitionsToTxn response")
    };
    let mut out: PartitionCodes = resp
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// AddOffsetsToTxn (v3) of `group`: the error code.
pub async fn add_offsets(
    stream: &mut TcpStream,
    txn_id: &str,
    (producer_id, epoch): Producer,
    group: &str,
) -> i16 {
    let mut req = AddOffsetsToTxnRequest::default();
    req.transactional_id = TransactionalId(s(txn_id));
    req.producer_id = ProducerId(producer_id);
    req.producer_epoch = epoch;
    req.group_id = GroupId(s(group));
    let ResponseKind::AddOffsetsToTxn(resp) =
        call(stream, RequestKind::AddOffsetsToTxn(req), 3).await
    else {
        panic!("not an AddOffsetsToTxn response")
    };
    resp.error_code
}

/// TxnOffsetCommit (v3) of (topic, partition, offset) for `group`, outside any
/// generation (as a producer that only sends offsets does).
pub async fn txn_offset_commit<T: AsRef<str>>(
    stream: &mut TcpStream,
    txn_id: &str,
    (producer_id, epoch): Producer,
    group: &str,
    offsets: &[(T, i32, i64)],
) -> PartitionCodes {
    let mut req = TxnOffsetCommitRequest::default();
    req.transactional_id = TransactionalId(s(txn_id));
    req.group_id = GroupId(s(group));
    req.producer_id = ProducerId(producer_id);
    req.producer_epoch = epoch;
    req.generation_id = -1;
    req.member_id = s("");
    req.topics = offsets
        .iter()
        .map(|(topic, p, offset)| {
            let mut part = TxnOffsetCommitRequestPartition::default();
            part.partition_index = *p;
            part.committed_offset = *offset;
            part.committed_leader_epoch = -1;
            let mut t = TxnOffsetCommitRequestTopic::default();
            t.name = TopicName(s(topic.as_ref()));
            t.partitions = vec![part];
            t
        })
        .collect();
    let ResponseKind::TxnOffsetCommit(resp) =
        call(stream, RequestKind::TxnOffsetCommit(req), 3).await
    else {
        panic!("not a TxnOffsetCommit response")
    };
    let mut out: PartitionCodes = resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    out.sort();
    out
}

/// EndTxn (v3): the error code.
pub async fn end_txn(
    stream: &mut TcpStream,
    txn_id: &str,
    (producer_id, epoch): Producer,
    commit: bool,
) -> i16 {
    let mut req = EndTxnRequest::default();
    req.transactional_id = TransactionalId(s(txn_id));
    req.producer_id = ProducerId(producer_id);
    req.producer_epoch = epoch;
    req.committed = commit;
    let ResponseKind::EndTxn(resp) = call(stream, RequestKind::EndTxn(req), 3).await else {
        panic!("not an EndTxn response")
    };
    resp.error_code
}

/// FindCoordinator for `keys` of `key_type` (0 group, 1 transactional id): the error
/// code of each key, in the order asked. Versions below 4 take exactly one key.
pub async fn find_coordinator<T: AsRef<str>>(
    stream: &mut TcpStream,
    key_type: i8,
    keys: &[T],
    version: i16,
) -> Vec<(String, i16)> {
    let mut req = FindCoordinatorRequest::default();
    req.key_type = key_type;
    if version < 4 {
        assert_eq!(keys.len(), 1, "one key before v4");
        req.key = s(keys[0].as_ref());
    } else {
        req.coordinator_keys = keys.iter().map(|k| s(k.as_ref())).collect();
    }
    let ResponseKind::FindCoordinator(resp) =
        call(stream, RequestKind::FindCoordinator(req), version).await
    else {
        panic!("not a FindCoordinator response")
    };
    if version < 4 {
        return vec![(keys[0].as_ref().to_string(), resp.error_code)];
    }
    keys.iter()
        .map(|k| {
            let k = k.as_ref();
            let found = resp
                .coordinators
                .iter()
                .find(|c| c.key.as_str() == k)
                .unwrap_or_else(|| panic!("no answer for key {k}: {resp:?}"));
            if found.error_code == 0 {
                assert!(found.node_id.0 >= 0 && found.port > 0, "{found:?}");
            }
            (k.to_string(), found.error_code)
        })
        .collect()
}

/// DescribeProducers of partition 0 of each topic: (topic, error code), sorted.
pub async fn describe_producers<T: AsRef<str>>(
    stream: &mut TcpStream,
    topics: &[T],
) -> Vec<(String, i16)> {
    let mut req = DescribeProducersRequest::default();
    req.topics = topics
        .iter()
        .map(|t| {
            let mut r = TopicRequest::default();
            r.name = TopicName(s(t.as_ref()));
            r.partition_indexes = vec![0];
            r
        })
        .collect();
    let ResponseKind::DescribeProducers(resp) =
        call(stream, RequestKind::DescribeProducers(req), 0).await
    else {
        panic!("not a DescribeProducers response")
    };
    let mut out: Vec<(String, i16)> = resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect();
    out.sort();
    out
}

/// DescribeTransactions of `ids`.
pub async fn describe_transactions<T: AsRef<str>>(
    stream: &mut TcpStream,
    ids: &[T],
) -> Vec<describe_transactions_response::TransactionState> {
    let mut req = DescribeTransactionsRequest::default();
    req.transactional_ids = ids.iter().map(|i| TransactionalId(s(i.as_ref()))).collect();
    let ResponseKind::DescribeTransactions(resp) =
        call(stream, RequestKind::DescribeTransactions(req), 0).await
    else {
        panic!("not a DescribeTransactions response")
    };
    assert_eq!(resp.transaction_states.len(), ids.len(), "{resp:?}");
    resp.transaction_states
}

/// The filters of a ListTransactions request.
#[derive(Default)]
pub struct ListFilter<'a> {
    /// State names.
    pub states: &'a [&'a str],
    /// Producer ids.
    pub producer_ids: &'a [i64],
    /// Minimum running time in ms (v1; `None` sends v0).
    pub min_duration_ms: Option<i64>,
}

/// ListTransactions: (transactional id, producer id, state) sorted, and the unknown
/// state filters.
pub async fn list_transactions(
    stream: &mut TcpStream,
    filter: ListFilter<'_>,
) -> (Vec<(String, i64, String)>, Vec<String>) {
    let mut req = ListTransactionsRequest::default();
    req.state_filters = filter.states.iter().map(|st| s(st)).collect();
    req.producer_id_filters = filter.producer_ids.iter().map(|p| ProducerId(*p)).collect();
    req.duration_filter = filter.min_duration_ms.unwrap_or(-1);
    let version = if filter.min_duration_ms.is_some() {
        1
    } else {
        0
    };
    let ResponseKind::ListTransactions(resp) =
        call(stream, RequestKind::ListTransactions(req), version).await
    else {
        panic!("not a ListTransactions response")
    };
    assert_eq!(resp.error_code, 0);
    let mut listed: Vec<(String, i64, String)> = resp
        .transaction_states
        .iter()
        .map(|t| {
            (
                t.transactional_id.to_string(),
                t.producer_id.0,
                t.transaction_state.to_string(),
            )
        })
        .collect();
    listed.sort();
    let unknown = resp
        .unknown_state_filters
        .iter()
        .map(|st| st.to_string())
        .collect();
    (listed, unknown)
}
