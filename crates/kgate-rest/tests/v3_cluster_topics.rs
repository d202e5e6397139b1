//! REST v3 clusters, brokers, topics, partitions, replicas, reassignments and replica
//! status against the embedded broker, with response shapes compared after the volatile
//! parts (base URL, cluster id) are redacted, and effects checked through Kafka.

use std::time::{Duration, Instant};

use kgate_testkit::{Answer, TestCluster, unique_name};
use serde_json::{Value, json};

async fn call(cluster: &TestCluster, method: &str, path: &str, body: Option<Value>) -> Answer {
    cluster.call_redacted(method, path, body).await
}

async fn get(cluster: &TestCluster, path: &str) -> Answer {
    call(cluster, "GET", path, None).await
}

async fn cid(cluster: &TestCluster) -> String {
    cluster.kafka().cluster_id().await.expect("cluster id")
}

fn not_hosted() -> Value {
    json!({"error_code": 40403, "message": "This server does not host this topic-partition."})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_and_brokers() {
    if kgate_testkit::skip_unless_embedded("one node: expects broker 1 alone, as controller") {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cid(&cluster).await;
    let kafka_cluster = json!({
        "kind": "KafkaCluster",
        "metadata": {"self": "http://kgate/v3/clusters/CID", "resource_name": "crn:///kafka=CID"},
        "cluster_id": "CID",
        "controller": {"related": "http://kgate/v3/clusters/CID/brokers/1"},
        "acls": {"related": "http://kgate/v3/clusters/CID/acls"},
        "brokers": {"related": "http://kgate/v3/clusters/CID/brokers"},
        "broker_configs": {"related": "http://kgate/v3/clusters/CID/broker-configs"},
        "consumer_groups": {"related": "http://kgate/v3/clusters/CID/consumer-groups"},
        "topics": {"related": "http://kgate/v3/clusters/CID/topics"},
        "partition_reassignments": {"related": "http://kgate/v3/clusters/CID/topics/-/partitions/-/reassignment"},
    });

    let a = get(&cluster, "/v3/clusters").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(
        a.body,
        json!({
            "kind": "KafkaClusterList",
            "metadata": {"self": "http://kgate/v3/clusters", "next": null},
            "data": [kafka_cluster.clone()],
        })
    );
    let a = get(&cluster, &format!("/v3/clusters/{c}")).await;
    assert_eq!((a.status, a.body), (200, kafka_cluster));

    // A wrong cluster id is 404 with the reference's message, on every v3 path.
    for path in [
        "",
        "/brokers",
        "/topics",
        "/broker-configs",
        "/topics/x/partitions",
    ] {
        let a = get(&cluster, &format!("/v3/clusters/nope{path}")).await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(
            a.body,
            json!({"error_code": 404, "message": "Cluster nope cannot be found."}),
            "{path}"
        );
    }

    let port = cluster
        .bootstrap()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .expect("bootstrap port");
    let broker = json!({
        "kind": "KafkaBroker",
        "metadata": {"self": "http://kgate/v3/clusters/CID/brokers/1", "resource_name": "crn:///kafka=CID/broker=1"},
        "cluster_id": "CID",
        "broker_id": 1,
        "host": "127.0.0.1",
        "port": port,
        "rack": null,
        "configs": {"related": "http://kgate/v3/clusters/CID/brokers/1/configs"},
        "partition_replicas": {"related": "http://kgate/v3/clusters/CID/brokers/1/partition-replicas"},
    });
    let a = get(&cluster, &format!("/v3/clusters/{c}/brokers")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({
            "kind": "KafkaBrokerList",
            "metadata": {"self": "http://kgate/v3/clusters/CID/brokers", "next": null},
            "data": [broker.clone()],
        })
    );
    let a = get(&cluster, &format!("/v3/clusters/{c}/brokers/1")).await;
    assert_eq!((a.status, a.body), (200, broker));
    let a = get(&cluster, &format!("/v3/clusters/{c}/brokers/7")).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.body,
        json!({"error_code": 404, "message": "Broker not found. Broker: 7 not found in the cluster: CID"})
    );

    // Partition replicas held by the broker: every partition of a new topic.
    let topic = unique_name("v3-replicas");
    cluster.create_topic(&topic, 2).await;
    let a = get(
        &cluster,
        &format!("/v3/clusters/{c}/brokers/1/partition-replicas"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["kind"], "KafkaReplicaList");
    let mine: Vec<&Value> = a.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|r| r["topic_name"] == topic.as_str())
        .collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(
        *mine[1],
        json!({
            "kind": "KafkaReplica",
            "metadata": {
                "self": format!("http://kgate/v3/clusters/CID/topics/{topic}/partitions/1/replicas/1"),
                "resource_name": format!("crn:///kafka=CID/topic={topic}/partition=1/replica=1"),
            },
            "cluster_id": "CID",
            "topic_name": topic,
            "partition_id": 1,
            "broker_id": 1,
            "is_leader": true,
            "is_in_sync": true,
            "broker": {"related": "http://kgate/v3/clusters/CID/brokers/1"},
        })
    );
    cluster.stop().await;
}

fn topic_json(topic: &str, partitions: usize) -> Value {
    let base = format!("http://kgate/v3/clusters/CID/topics/{topic}");
    json!({
        "kind": "KafkaTopic",
        "metadata": {"self": base, "resource_name": format!("crn:///kafka=CID/topic={topic}")},
        "cluster_id": "CID",
        "topic_name": topic,
        "is_internal": false,
        "replication_factor": 1,
        "partitions_count": partitions,
        "partitions": {"related": format!("{base}/partitions")},
        "configs": {"related": format!("{base}/configs")},
        "partition_reassignments": {"related": format!("{base}/partitions/-/reassignment")},
    })
}

/// Waits until Kafka reports `topic` with `partitions` partitions (or gone, for 0).
async fn wait_for_partitions(cluster: &TestCluster, topic: &str, partitions: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = cluster.kafka().fresh_metadata().await.expect("metadata");
        let now = md.topics.get(topic).map_or(0, |t| t.partitions.len());
        if now == partitions {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} has {now} partitions, expected {partitions}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_lifecycle() {
    if kgate_testkit::skip_unless_embedded("one node: expects replication factor 3 to be refused") {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cid(&cluster).await;
    let topics = format!("/v3/clusters/{c}/topics");

    // Create with a count, a factor and configs: 201 and the topic in Kafka.
    let topic = unique_name("v3-topic");
    let a = call(
        &cluster,
        "POST",
        &topics,
        Some(json!({
            "topic_name": topic,
            "partitions_count": 3,
            "replication_factor": 1,
            "configs": [{"name": "cleanup.policy", "value": "compact"}],
        })),
    )
    .await;
    assert_eq!((a.status, a.body), (201, topic_json(&topic, 3)));
    wait_for_partitions(&cluster, &topic, 3).await;
    let overrides = cluster
        .kafka()
        .topic_overrides(&topic)
        .await
        .expect("configs");
    assert_eq!(
        overrides.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );

    // Again: 409.
    let a = call(
        &cluster,
        "POST",
        &topics,
        Some(json!({"topic_name": topic, "partitions_count": 1})),
    )
    .await;
    assert_eq!(a.status, 409);
    assert_eq!(
        a.body,
        json!({"error_code": 409, "message": format!("Topic '{topic}' already exists.")})
    );

    // validate_only creates nothing.
    let checked = unique_name("v3-validate");
    let a = call(
        &cluster,
        "POST",
        &topics,
        Some(json!({"topic_name": checked, "partitions_count": 2, "replication_factor": 1, "validate_only": true})),
    )
    .await;
    assert_eq!((a.status, a.body), (201, topic_json(&checked, 2)));
    let md = cluster.kafka().fresh_metadata().await.expect("metadata");
    assert!(!md.topics.contains_key(&checked));

    // Explicit replica assignments.
    let assigned = unique_name("v3-assigned");
    let a = call(
        &cluster,
        "POST",
        &topics,
        Some(json!({"topic_name": assigned, "replicas_assignments": {"0": [1], "1": [1]}})),
    )
    .await;
    assert_eq!((a.status, a.body), (201, topic_json(&assigned, 2)));
    wait_for_partitions(&cluster, &assigned, 2).await;

    // A factor larger than the cluster: a clear 400.
    let a = call(
        &cluster,
        "POST",
        &topics,
        Some(json!({"topic_name": unique_name("v3-rf"), "partitions_count": 1, "replication_factor": 3})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_code"].clone()),
        (400, json!(40002))
    );

    // Bad bodies: empty 422, malformed 400, wrong shape 422, wrong media type 415.
    let url = format!("{}{topics}", cluster.rest_url());
    let r = cluster
        .http()
        .post(&url)
        .header("Content-Type", "application/json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error_code": 422, "message": "Payload error. Request body is empty. Data is required."})
    );
    let r = cluster
        .http()
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{oops")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let r = cluster
        .http()
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{\"partitions_count\": 1}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 422);
    let r = cluster
        .http()
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 415);

    // List and get.
    let a = get(&cluster, &topics).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["kind"], "KafkaTopicList");
    assert_eq!(
        a.body["metadata"],
        json!({"self": "http://kgate/v3/clusters/CID/topics", "next": null})
    );
    let listed = a.body["data"].as_array().expect("data");
    assert!(listed.contains(&topic_json(&topic, 3)));
    assert!(listed.contains(&topic_json(&assigned, 2)));
    let a = get(&cluster, &format!("{topics}/{topic}")).await;
    assert_eq!((a.status, a.body), (200, topic_json(&topic, 3)));
    let a = get(&cluster, &format!("{topics}/no-such-topic")).await;
    assert_eq!((a.status, a.body), (404, not_hosted()));

    // Grow: 200 with the new count, and Kafka has it.
    let a = call(
        &cluster,
        "PATCH",
        &format!("{topics}/{topic}"),
        Some(json!({"partitions_count": 5})),
    )
    .await;
    assert_eq!((a.status, a.body), (200, topic_json(&topic, 5)));
    wait_for_partitions(&cluster, &topic, 5).await;
    // Shrinking or keeping the count: a clear 400.
    let a = call(
        &cluster,
        "PATCH",
        &format!("{topics}/{topic}"),
        Some(json!({"partitions_count": 2})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error_code"], 40002);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("can only be increased")
    );
    let a = call(
        &cluster,
        "PATCH",
        &format!("{topics}/{topic}"),
        Some(json!({"partitions_count": 5})),
    )
    .await;
    assert_eq!(
        (a.status, a.body),
        (
            400,
            json!({"error_code": 40002, "message": "Topic already has 5 partitions."})
        )
    );
    let a = call(
        &cluster,
        "PATCH",
        &format!("{topics}/nothing-here"),
        Some(json!({"partitions_count": 5})),
    )
    .await;
    assert_eq!((a.status, a.body), (404, not_hosted()));

    // Delete: 204, gone from Kafka, then 404.
    let a = call(&cluster, "DELETE", &format!("{topics}/{topic}"), None).await;
    assert_eq!(a.status, 204);
    wait_for_partitions(&cluster, &topic, 0).await;
    let a = call(&cluster, "DELETE", &format!("{topics}/{topic}"), None).await;
    assert_eq!((a.status, a.body), (404, not_hosted()));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_replicas_reassignments_and_status() {
    if kgate_testkit::skip_unless_embedded("one node: expects every replica on broker 1") {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cid(&cluster).await;
    let topic = unique_name("v3-parts");
    cluster.create_topic(&topic, 2).await;
    for i in 0..3 {
        cluster
            .produce(&topic, Some(1), None, Some(format!("v{i}").as_bytes()))
            .await;
    }
    let base = format!("/v3/clusters/{c}/topics/{topic}/partitions");
    let url = format!("http://kgate/v3/clusters/CID/topics/{topic}/partitions");
    let partition = |p: i32| {
        json!({
            "kind": "KafkaPartition",
            "metadata": {
                "self": format!("{url}/{p}"),
                "resource_name": format!("crn:///kafka=CID/topic={topic}/partition={p}"),
            },
            "cluster_id": "CID",
            "topic_name": topic,
            "partition_id": p,
            "leader": {"related": format!("{url}/{p}/replicas/1")},
            "replicas": {"related": format!("{url}/{p}/replicas")},
            "reassignment": {"related": format!("{url}/{p}/reassignment")},
        })
    };
    let a = get(&cluster, &base).await;
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({
                "kind": "KafkaPartitionList",
                "metadata": {"self": url, "next": null},
                "data": [partition(0), partition(1)],
            })
        )
    );
    let a = get(&cluster, &format!("{base}/1")).await;
    assert_eq!((a.status, a.body), (200, partition(1)));
    for bad in ["9", "x"] {
        let a = get(&cluster, &format!("{base}/{bad}")).await;
        assert_eq!(a.status, 404, "{bad}");
    }
    let a = get(&cluster, &format!("{base}/9")).await;
    assert_eq!(a.body, not_hosted());

    let replica = json!({
        "kind": "KafkaReplica",
        "metadata": {
            "self": format!("{url}/1/replicas/1"),
            "resource_name": format!("crn:///kafka=CID/topic={topic}/partition=1/replica=1"),
        },
        "cluster_id": "CID",
        "topic_name": topic,
        "partition_id": 1,
        "broker_id": 1,
        "is_leader": true,
        "is_in_sync": true,
        "broker": {"related": "http://kgate/v3/clusters/CID/brokers/1"},
    });
    let a = get(&cluster, &format!("{base}/1/replicas")).await;
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({
                "kind": "KafkaReplicaList",
                "metadata": {"self": format!("{url}/1/replicas"), "next": null},
                "data": [replica.clone()],
            })
        )
    );
    let a = get(&cluster, &format!("{base}/1/replicas/1")).await;
    assert_eq!((a.status, a.body), (200, replica));
    let a = get(&cluster, &format!("{base}/1/replicas/5")).await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));

    // A single broker never moves partitions: empty lists, and 404 for one partition.
    let a = get(
        &cluster,
        &format!("/v3/clusters/{c}/topics/-/partitions/-/reassignment"),
    )
    .await;
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({
                "kind": "KafkaReassignmentList",
                "metadata": {"self": "http://kgate/v3/clusters/CID/topics/-/partitions/-/reassignment", "next": null},
                "data": [],
            })
        )
    );
    let a = get(&cluster, &format!("{base}/-/reassignment")).await;
    assert_eq!((a.status, a.body["data"].clone()), (200, json!([])));
    assert_eq!(a.body["kind"], "KafkaReassignmentList");
    let a = get(&cluster, &format!("{base}/0/reassignment")).await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));
    let a = get(
        &cluster,
        &format!("/v3/clusters/{c}/topics/nope/partitions/-/reassignment"),
    )
    .await;
    assert_eq!((a.status, a.body), (404, not_hosted()));

    // Replica status: the leader, in sync, with the log's offsets, caught up and fetched
    // "now" (the times are checked against the clock, then redacted).
    let status = |p: i32, end: i64| {
        json!({
            "kind": "KafkaReplicaStatus",
            "metadata": {"self": format!("{url}/{p}/brokers/1/replica-status")},
            "cluster_id": "CID",
            "topic_name": topic,
            "broker_id": 1,
            "partition_id": p,
            "is_leader": true,
            "is_observer": false,
            "is_isr_eligible": true,
            "is_in_isr": true,
            "is_caught_up": true,
            "log_start_offset": 0,
            "log_end_offset": end,
            "last_caught_up_time_ms": "NOW",
            "last_fetch_time_ms": "NOW",
            "link_name": null,
        })
    };
    let a = get_status(&cluster, &format!("{base}/1/replica-status")).await;
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({
                "kind": "KafkaReplicaStatusList",
                "metadata": {"self": format!("{url}/1/replica-status"), "resource_name": null},
                "data": [status(1, 3)],
            })
        )
    );
    let a = get_status(&cluster, &format!("{base}/-/replica-status")).await;
    assert_eq!(
        (a.status, a.body["data"].clone()),
        (200, json!([status(0, 0), status(1, 3)]))
    );
    let a = get_status(
        &cluster,
        &format!("/v3/clusters/{c}/topics/-/partitions/-/replica-status"),
    )
    .await;
    assert_eq!(a.status, 200);
    let all = a.body["data"].as_array().expect("data");
    assert!(all.contains(&status(0, 0)) && all.contains(&status(1, 3)));
    let a = get(&cluster, &format!("{base}/4/replica-status")).await;
    assert_eq!((a.status, a.body), (404, not_hosted()));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_server_features_answer_a_named_error() {
    let cluster = TestCluster::start().await;
    let c = cid(&cluster).await;
    for (method, path, feature) in [
        ("GET", "/balancer", "Confluent Balancer"),
        ("GET", "/balancer/any-uneven-load", "Confluent Balancer"),
        ("GET", "/brokers/-/tasks", "broker tasks"),
        ("GET", "/brokers/1/tasks/add-broker", "broker tasks"),
        ("POST", "/brokers:delete", "broker removal"),
        ("DELETE", "/brokers/1", "broker removal"),
        ("GET", "/remove-broker-tasks/1", "broker removal"),
        (
            "POST",
            "/broker-replica-exclusions:create",
            "replica exclusions",
        ),
        ("GET", "/cells", "cells"),
        ("GET", "/links", "Cluster Linking"),
        ("POST", "/links/l1/mirrors:promote", "Cluster Linking"),
        ("GET", "/links/-/mirrors", "Cluster Linking"),
    ] {
        let body = (method == "POST").then(|| json!({}));
        let a = call(&cluster, method, &format!("/v3/clusters/{c}{path}"), body).await;
        assert_eq!(a.status, 400, "{method} {path}");
        assert_eq!(a.body["error_code"], 400, "{method} {path}");
        let message = a.body["message"].as_str().unwrap_or("");
        assert!(message.contains(feature), "{method} {path}: {message}");
        assert!(
            message.contains("Confluent Server"),
            "{method} {path}: {message}"
        );
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_can_be_switched_off() {
    let config = kgate_testkit::kgate_rest::RestConfig {
        api_v3_enable: false,
        ..Default::default()
    };
    let cluster = TestCluster::builder().rest_config(config).start().await;
    let a = get(&cluster, "/v3/clusters").await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));
    // v2 still answers.
    let r = cluster
        .http()
        .get(format!("{}/topics", cluster.rest_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    cluster.stop().await;
}

/// GETs a replica-status list, checks that every replica's times lie between the request
/// and its answer, and replaces them with "NOW" so the rest compares exactly.
async fn get_status(cluster: &TestCluster, path: &str) -> Answer {
    let before = now_ms();
    let mut a = get(cluster, path).await;
    let after = now_ms();
    if let Some(data) = a.body["data"].as_array_mut() {
        for s in data {
            for key in ["last_caught_up_time_ms", "last_fetch_time_ms"] {
                let t = s[key].as_i64().expect("a time");
                assert!(
                    (before..=after).contains(&t),
                    "{key} {t} not in [{before}, {after}]"
                );
                s[key] = json!("NOW");
            }
        }
    }
    a
}

/// Milliseconds since the epoch, as the replica-status times are given.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("clock after 1970")
}
