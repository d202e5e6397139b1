//! v3 consumer groups, consumers, assignments and lags, with a group formed by a real
//! rdkafka consumer that committed part of a topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kgate_testkit::{TestCluster, unique_name};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// Joins `group` with one consumer on `topic`, waits for both partitions to be assigned
/// and commits `commits` as (partition, offset).
async fn join_and_commit(
    cluster: &TestCluster,
    group: &str,
    topic: &str,
    client_id: &str,
    commits: &[(i32, i64)],
) -> Arc<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", group)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let consumer = Arc::new(consumer);
    let c = consumer.clone();
    let topic = topic.to_string();
    let commits = commits.to_vec();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + WAIT;
        while c.assignment().map(|a| a.count()).unwrap_or(0) < 2 {
            assert!(
                Instant::now() < deadline,
                "the group never assigned partitions"
            );
            let _ = c.poll(Duration::from_millis(100));
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &commits {
            tpl.add_partition_offset(&topic, *p, Offset::Offset(*o))
                .expect("partition");
        }
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    })
    .await
    .expect("consumer task");
    consumer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_consumers_assignments_and_lags() {
    let cluster = TestCluster::start().await;
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    let topic = unique_name("v3-lag-topic");
    let group = unique_name("v3-group");
    cluster.create_topic(&topic, 2).await;
    for i in 0..10 {
        cluster
            .produce(&topic, Some(0), None, Some(format!("a{i}").as_bytes()))
            .await;
    }
    for i in 0..6 {
        cluster
            .produce(&topic, Some(1), None, Some(format!("b{i}").as_bytes()))
            .await;
    }
    // Partition 0 committed at 4 of 10, partition 1 fully: lags 6 and 0.
    let consumer = join_and_commit(&cluster, &group, &topic, "v3-client", &[(0, 4), (1, 6)]).await;
    let base = format!("/v3/clusters/{id}/consumer-groups");
    let url = |path: &str| format!("{}/v3/clusters/{id}{path}", cluster.rest_url());

    // The group shows up STABLE with its one member.
    let deadline = Instant::now() + WAIT;
    let group_body = loop {
        let (status, body) = cluster.get_json(&format!("{base}/{group}")).await;
        if status == 200 && body["state"] == "STABLE" {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "group never stable: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        group_body,
        json!({
            "kind": "KafkaConsumerGroup",
            "metadata": {
                "self": url(&format!("/consumer-groups/{group}")),
                "resource_name": format!("crn:///kafka={id}/consumer-group={group}"),
            },
            "cluster_id": id,
            "consumer_group_id": group,
            "is_simple": false,
            "partition_assignor": group_body["partition_assignor"],
            "state": "STABLE",
            "coordinator": group_body["coordinator"],
            "consumers": {"related": url(&format!("/consumer-groups/{group}/consumers"))},
            "lag_summary": {"related": url(&format!("/consumer-groups/{group}/lag-summary"))},
        })
    );
    assert!(
        group_body["partition_assignor"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let coordinator = group_body["coordinator"]["related"].as_str().unwrap_or("");
    assert!(coordinator.starts_with(&url("/brokers/")), "{group_body}");

    let (status, list) = cluster.get_json(&base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "KafkaConsumerGroupList");
    assert_eq!(list["metadata"]["self"], url("/consumer-groups"));
    let listed = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|g| g["consumer_group_id"] == group.as_str())
        .expect("our group is listed");
    assert_eq!(listed, &group_body);

    // Consumers.
    let (status, consumers) = cluster.get_json(&format!("{base}/{group}/consumers")).await;
    assert_eq!(status, 200, "{consumers}");
    assert_eq!(consumers["kind"], "KafkaConsumerList");
    let members = consumers["data"].as_array().expect("data");
    assert_eq!(members.len(), 1, "{consumers}");
    let member = &members[0];
    let consumer_id = member["consumer_id"]
        .as_str()
        .expect("consumer id")
        .to_string();
    assert_eq!(member["kind"], "KafkaConsumer");
    assert_eq!(member["client_id"], "v3-client");
    assert_eq!(member["instance_id"], Value::Null);
    assert_eq!(
        member["metadata"]["resource_name"],
        format!("crn:///kafka={id}/consumer-group={group}/consumer={consumer_id}")
    );
    let (status, one) = cluster
        .get_json(&format!("{base}/{group}/consumers/{consumer_id}"))
        .await;
    assert_eq!((status, &one), (200, member));

    // Assignments.
    let (status, assignments) = cluster
        .get_json(&format!(
            "{base}/{group}/consumers/{consumer_id}/assignments"
        ))
        .await;
    assert_eq!(status, 200, "{assignments}");
    assert_eq!(assignments["kind"], "KafkaConsumerAssignmentList");
    let parts: Vec<(String, i64)> = assignments["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| {
            (
                a["topic_name"].as_str().unwrap_or("").to_string(),
                a["partition_id"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(parts, vec![(topic.clone(), 0), (topic.clone(), 1)]);
    let (status, a1) = cluster
        .get_json(&format!(
            "{base}/{group}/consumers/{consumer_id}/assignments/{topic}/partitions/1"
        ))
        .await;
    assert_eq!(status, 200, "{a1}");
    assert_eq!(a1, assignments["data"][1]);
    assert_eq!(
        a1["partition"]["related"],
        url(&format!("/topics/{topic}/partitions/1"))
    );
    assert_eq!(
        a1["lag"]["related"],
        url(&format!(
            "/consumer-groups/{group}/lags/{topic}/partitions/1"
        ))
    );

    // Lags: exactly the difference between end offsets and commits.
    let (status, lags) = cluster.get_json(&format!("{base}/{group}/lags")).await;
    assert_eq!(status, 200, "{lags}");
    assert_eq!(lags["kind"], "KafkaConsumerLagList");
    let data = lags["data"].as_array().expect("data");
    assert_eq!(data.len(), 2, "{lags}");
    assert_eq!(
        data[0],
        json!({
            "kind": "KafkaConsumerLag",
            "metadata": {
                "self": url(&format!("/consumer-groups/{group}/lags/{topic}/partitions/0")),
                "resource_name": format!("crn:///kafka={id}/consumer-group={group}/lag={topic}/partition=0"),
            },
            "cluster_id": id,
            "consumer_group_id": group,
            "topic_name": topic,
            "partition_id": 0,
            "consumer_id": consumer_id,
            "instance_id": null,
            "client_id": "v3-client",
            "current_offset": 4,
            "log_end_offset": 10,
            "lag": 6,
        })
    );
    assert_eq!(
        (
            &data[1]["current_offset"],
            &data[1]["log_end_offset"],
            &data[1]["lag"]
        ),
        (&json!(6), &json!(6), &json!(0))
    );
    let (status, lag0) = cluster
        .get_json(&format!("{base}/{group}/lags/{topic}/partitions/0"))
        .await;
    assert_eq!((status, &lag0), (200, &data[0]));

    let (status, summary) = cluster
        .get_json(&format!("{base}/{group}/lag-summary"))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary,
        json!({
            "kind": "KafkaConsumerGroupLagSummary",
            "metadata": {
                "self": url(&format!("/consumer-groups/{group}/lag-summary")),
                "resource_name": format!("crn:///kafka={id}/consumer-group={group}/lag-summary"),
            },
            "cluster_id": id,
            "consumer_group_id": group,
            "max_lag_consumer_id": consumer_id,
            "max_lag_instance_id": null,
            "max_lag_client_id": "v3-client",
            "max_lag_topic_name": topic,
            "max_lag_partition_id": 0,
            "max_lag": 6,
            "total_lag": 6,
            "max_lag_consumer": {"related": url(&format!("/consumer-groups/{group}/consumers/{consumer_id}"))},
            "max_lag_partition": {"related": url(&format!("/topics/{topic}/partitions/0"))},
        })
    );

    // More records raise the lag by exactly as many.
    for _ in 0..3 {
        cluster.produce(&topic, Some(1), None, Some(b"more")).await;
    }
    let (_, summary) = cluster
        .get_json(&format!("{base}/{group}/lag-summary"))
        .await;
    assert_eq!(
        (&summary["total_lag"], &summary["max_lag"]),
        (&json!(9), &json!(6))
    );

    // Errors.
    for path in [
        format!("{base}/{}", unique_name("no-group")),
        format!("{base}/{group}/consumers/nobody"),
        format!("{base}/{group}/consumers/{consumer_id}/assignments/{topic}/partitions/9"),
        format!("{base}/{group}/lags/{topic}/partitions/9"),
    ] {
        let (status, body) = cluster.get_json(&path).await;
        assert_eq!(
            (status, &body["error_code"]),
            (404, &json!(404)),
            "{path}: {body}"
        );
    }
    let (status, body) = cluster.get_json("/v3/clusters/nope/consumer-groups").await;
    assert_eq!(
        (status, &body["message"]),
        (404, &json!("Cluster nope cannot be found."))
    );

    drop(consumer);
    cluster.stop().await;
}
