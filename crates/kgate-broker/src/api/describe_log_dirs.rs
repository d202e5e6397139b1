//! DescribeLogDirs: the one log directory and the size of each partition in it.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::s;
use crate::state::BrokerState;

/// Answers a DescribeLogDirs request; `log_dir` is the directory holding the logs.
pub fn handle(
    state: &BrokerState,
    log_dir: &str,
    req: DescribeLogDirsRequest,
    _version: i16,
) -> DescribeLogDirsResponse {
    let wanted: Vec<(String, Option<Vec<i32>>)> = match req.topics {
        None => state
            .topics
            .all()
            .iter()
            .map(|t| (t.name.clone(), None))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|t| (t.topic.to_string(), Some(t.partitions)))
            .collect(),
    };
    let mut dir = DescribeLogDirsResult::default();
    dir.log_dir = s(log_dir);
    let mut total = 0i64;
    for (name, partitions) in wanted {
        // Unknown topics and partitions are left out, as Kafka does.
        let Some(topic) = state.topics.get(&name) else {
            continue;
        };
        let indexes = partitions.unwrap_or_else(|| (0..topic.partition_count()).collect());
        let mut out = DescribeLogDirsTopic::default();
        out.name = TopicName(s(name));
        for i in indexes {
            let Some(log) = topic.partition(i) else {
                continue;
            };
            let size = log.lock().size_bytes() as i64;
            total += size;
            let mut p = DescribeLogDirsPartition::default();
            p.partition_index = i;
            p.partition_size = size;
            p.offset_lag = 0;
            p.is_future_key = false;
            out.partitions.push(p);
        }
        if !out.partitions.is_empty() {
            dir.topics.push(out);
        }
    }
    // Volume figures are optional (-1) in the protocol; report what the logs hold.
    dir.total_bytes = -1;
    dir.usable_bytes = -1;
    let _ = total;
    let mut resp = DescribeLogDirsResponse::default();
    resp.results = vec![dir];
    resp
}
