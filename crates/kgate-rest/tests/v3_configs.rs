//! REST v3 configs: topic configs (list, across topics, defaults, get, set, reset,
//! batch alter with validate_only), broker configs and cluster-wide broker configs,
//! with each change checked through Kafka's own DescribeConfigs.

use kgate_kafka::ConfigValueSource;
use kgate_kafka::native::configs::{ConfigEntry, ConfigResource};
use kgate_testkit::{Answer, TestCluster, unique_name};
use serde_json::{Value, json};

async fn call(cluster: &TestCluster, method: &str, path: &str, body: Option<Value>) -> Answer {
    cluster.call_redacted(method, path, body).await
}

async fn get(cluster: &TestCluster, path: &str) -> Answer {
    call(cluster, "GET", path, None).await
}

/// The topic's config `name` as Kafka reports it.
async fn kafka_topic_config(cluster: &TestCluster, topic: &str, name: &str) -> ConfigEntry {
    let answer = cluster
        .kafka()
        .describe_configs(&[ConfigResource::Topic(topic.to_string())])
        .await
        .expect("describe configs");
    answer
        .into_iter()
        .next()
        .expect("one answer")
        .expect("topic configs")
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no config {name}"))
}

/// Broker 1's config `name` as Kafka reports it.
async fn kafka_broker_config(cluster: &TestCluster, name: &str) -> ConfigEntry {
    let answer = cluster
        .kafka()
        .describe_configs(&[ConfigResource::Broker(1)])
        .await
        .expect("describe configs");
    answer
        .into_iter()
        .next()
        .expect("one answer")
        .expect("broker configs")
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no config {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs() {
    if kgate_testkit::skip_unless_embedded(
        "reads configs back at once; on a cluster of several brokers a change reaches the broker asked a moment later",
    ) {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cluster.kafka().cluster_id().await.expect("cluster id");
    let topic = unique_name("v3-configs");
    cluster.create_topic(&topic, 1).await;
    let base = format!("/v3/clusters/{c}/topics/{topic}");
    let url = format!("http://kgate/v3/clusters/CID/topics/{topic}/configs");

    // Set one config: 204, and Kafka has the override.
    let a = call(
        &cluster,
        "PUT",
        &format!("{base}/configs/cleanup.policy"),
        Some(json!({"value": "compact"})),
    )
    .await;
    assert_eq!(a.status, 204);
    let e = kafka_topic_config(&cluster, &topic, "cleanup.policy").await;
    assert_eq!(e.value.as_deref(), Some("compact"));

    let a = get(&cluster, &format!("{base}/configs/cleanup.policy")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({
            "kind": "KafkaTopicConfig",
            "metadata": {
                "self": format!("{url}/cleanup.policy"),
                "resource_name": format!("crn:///kafka=CID/topic={topic}/config=cleanup.policy"),
            },
            "cluster_id": "CID",
            "topic_name": topic,
            "name": "cleanup.policy",
            "value": "compact",
            "is_default": false,
            "is_read_only": false,
            "is_sensitive": false,
            "source": "DYNAMIC_TOPIC_CONFIG",
            "synonyms": [
                {"name": "cleanup.policy", "value": "compact", "source": "DYNAMIC_TOPIC_CONFIG"},
                {"name": "log.cleanup.policy", "value": "delete", "source": "DEFAULT_CONFIG"},
            ],
        })
    );

    // The list holds every config, the changed one included.
    let a = get(&cluster, &format!("{base}/configs")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["kind"], "KafkaTopicConfigList");
    assert_eq!(a.body["metadata"], json!({"self": url, "next": null}));
    let data = a.body["data"].as_array().expect("data");
    assert!(data.len() > 5);
    let policy = data
        .iter()
        .find(|e| e["name"] == "cleanup.policy")
        .expect("listed");
    assert_eq!(policy["value"], "compact");

    // Default configs: what the topic would have without its overrides.
    let a = get(&cluster, &format!("{base}/default-configs")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["kind"], "KafkaTopicConfigList");
    let policy = a.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|e| e["name"] == "cleanup.policy")
        .expect("listed")
        .clone();
    assert_eq!(
        (policy["value"].clone(), policy["source"].clone()),
        (json!("delete"), json!("DEFAULT_CONFIG"))
    );

    // Across topics: this topic's entries are there.
    let other = unique_name("v3-configs-other");
    cluster.create_topic(&other, 1).await;
    let a = get(&cluster, &format!("/v3/clusters/{c}/topics/-/configs")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["metadata"]["self"],
        "http://kgate/v3/clusters/CID/topics/-/configs"
    );
    let data = a.body["data"].as_array().expect("data");
    assert!(data.iter().any(|e| e["topic_name"] == topic.as_str()
        && e["name"] == "cleanup.policy"
        && e["value"] == "compact"));
    assert!(data.iter().any(|e| e["topic_name"] == other.as_str()));

    // Batch alter: validate_only changes nothing, then SET and DELETE together.
    let alter = format!("{base}/configs:alter");
    let a = call(
        &cluster,
        "POST",
        &alter,
        Some(json!({
            "data": [{"name": "retention.ms", "value": "12345"}],
            "validate_only": true,
        })),
    )
    .await;
    assert_eq!(a.status, 204);
    assert_ne!(
        kafka_topic_config(&cluster, &topic, "retention.ms")
            .await
            .value
            .as_deref(),
        Some("12345")
    );
    let a = call(
        &cluster,
        "POST",
        &alter,
        Some(json!({
            "data": [
                {"name": "cleanup.policy", "operation": "DELETE"},
                {"name": "retention.ms", "value": "12345"},
                {"name": "compression.type", "operation": "SET", "value": "gzip"},
            ],
        })),
    )
    .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        kafka_topic_config(&cluster, &topic, "retention.ms")
            .await
            .value
            .as_deref(),
        Some("12345")
    );
    assert_eq!(
        kafka_topic_config(&cluster, &topic, "compression.type")
            .await
            .value
            .as_deref(),
        Some("gzip")
    );
    assert_eq!(
        kafka_topic_config(&cluster, &topic, "cleanup.policy")
            .await
            .value
            .as_deref(),
        Some("delete")
    );

    // Reset one: back to the default.
    let a = call(
        &cluster,
        "DELETE",
        &format!("{base}/configs/retention.ms"),
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    let e = kafka_topic_config(&cluster, &topic, "retention.ms").await;
    assert_ne!(e.value.as_deref(), Some("12345"));

    // Errors: unknown operation 400, bad value 400 40002, unknown config 404, unknown
    // topic 404 40403, empty body 422.
    let a = call(
        &cluster,
        "POST",
        &alter,
        Some(json!({"data": [{"name": "retention.ms", "operation": "MULTIPLY"}]})),
    )
    .await;
    assert_eq!((a.status, a.body["error_code"].clone()), (400, json!(400)));
    let a = call(
        &cluster,
        "PUT",
        &format!("{base}/configs/retention.ms"),
        Some(json!({"value": "soon"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_code"].clone()),
        (400, json!(40002))
    );
    let a = get(&cluster, &format!("{base}/configs/no.such.config")).await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));
    for path in ["/configs", "/configs/cleanup.policy", "/default-configs"] {
        let a = get(
            &cluster,
            &format!("/v3/clusters/{c}/topics/missing-topic{path}"),
        )
        .await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.body["error_code"], 40403, "{path}");
    }
    let a = call(
        &cluster,
        "PUT",
        &format!("/v3/clusters/{c}/topics/missing-topic/configs/retention.ms"),
        Some(json!({"value": "1"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_code"].clone()),
        (404, json!(40403))
    );
    let r = cluster
        .http()
        .post(format!("{}{alter}", cluster.rest_url()))
        .header("Content-Type", "application/json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 422);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_configs_read() {
    if kgate_testkit::skip_unless_embedded(
        "one node: broker 1 alone, and no cluster-wide config set (Apache Kafka 4 sets min.insync.replicas cluster-wide at start)",
    ) {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cluster.kafka().cluster_id().await.expect("cluster id");
    let a = get(&cluster, &format!("/v3/clusters/{c}/brokers/1/configs")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["kind"], "KafkaBrokerConfigList");
    assert_eq!(
        a.body["metadata"],
        json!({"self": "http://kgate/v3/clusters/CID/brokers/1/configs", "next": null})
    );
    let data = a.body["data"].as_array().expect("data");
    let entry = data
        .iter()
        .find(|e| e["name"] == "num.partitions")
        .expect("num.partitions")
        .clone();
    assert_eq!(entry["kind"], "KafkaBrokerConfig");
    assert_eq!(entry["broker_id"], 1);
    assert_eq!(
        entry["metadata"],
        json!({
            "self": "http://kgate/v3/clusters/CID/brokers/1/configs/num.partitions",
            "resource_name": "crn:///kafka=CID/broker=1/config=num.partitions",
        })
    );
    for field in [
        "value",
        "is_default",
        "is_read_only",
        "is_sensitive",
        "source",
        "synonyms",
        "cluster_id",
        "name",
    ] {
        assert!(entry.get(field).is_some(), "{field}");
    }

    let a = get(
        &cluster,
        &format!("/v3/clusters/{c}/brokers/1/configs/num.partitions"),
    )
    .await;
    assert_eq!((a.status, a.body.clone()), (200, entry.clone()));
    let a = get(&cluster, &format!("/v3/clusters/{c}/brokers/-/configs")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["metadata"]["self"],
        "http://kgate/v3/clusters/CID/brokers/-/configs"
    );
    assert!(a.body["data"].as_array().expect("data").contains(&entry));

    let a = get(&cluster, &format!("/v3/clusters/{c}/brokers/9/configs")).await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));
    let a = get(
        &cluster,
        &format!("/v3/clusters/{c}/brokers/1/configs/no.such"),
    )
    .await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));

    // Cluster-wide dynamic configs: none set on a fresh broker.
    let a = get(&cluster, &format!("/v3/clusters/{c}/broker-configs")).await;
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({
                "kind": "KafkaClusterConfigList",
                "metadata": {"self": "http://kgate/v3/clusters/CID/broker-configs", "next": null},
                "data": [],
            })
        )
    );
    let a = get(
        &cluster,
        &format!("/v3/clusters/{c}/broker-configs/compression.type"),
    )
    .await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));
    cluster.stop().await;
}

/// Broker configs that cannot change dynamically, unknown names and bad values are a
/// clear 400 naming the config, at both levels; an unknown broker is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_config_refusals_are_a_clear_400() {
    if kgate_testkit::skip_unless_embedded(
        "Apache Kafka accepts unknown broker config names, which the embedded broker refuses",
    ) {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cluster.kafka().cluster_id().await.expect("cluster id");
    for (path, name, value) in [
        (
            format!("/v3/clusters/{c}/brokers/1/configs"),
            "num.partitions",
            "3",
        ),
        (
            format!("/v3/clusters/{c}/brokers/1/configs"),
            "no.such.config",
            "1",
        ),
        (
            format!("/v3/clusters/{c}/brokers/1/configs"),
            "log.retention.ms",
            "soon",
        ),
        (
            format!("/v3/clusters/{c}/broker-configs"),
            "auto.create.topics.enable",
            "false",
        ),
        (
            format!("/v3/clusters/{c}/broker-configs"),
            "compression.type",
            "brotli",
        ),
    ] {
        let a = call(
            &cluster,
            "PUT",
            &format!("{path}/{name}"),
            Some(json!({"value": value})),
        )
        .await;
        assert_eq!(
            (a.status, a.body["error_code"].clone()),
            (400, json!(40002)),
            "{name}={value}: {}",
            a.body
        );
        assert!(
            a.body["message"].as_str().unwrap_or("").contains(name),
            "{}",
            a.body
        );
    }
    let a = call(
        &cluster,
        "POST",
        &format!("/v3/clusters/{c}/broker-configs:alter"),
        Some(json!({"data": [{"name": "num.partitions", "value": "2"}]})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_code"].clone()),
        (400, json!(40002))
    );
    let a = call(
        &cluster,
        "PUT",
        &format!("/v3/clusters/{c}/brokers/9/configs/log.retention.ms"),
        Some(json!({"value": "1000"})),
    )
    .await;
    assert_eq!((a.status, a.body["error_code"].clone()), (404, json!(404)));
    // Nothing changed in Kafka.
    let a = get(&cluster, &format!("/v3/clusters/{c}/broker-configs")).await;
    assert_eq!(a.body["data"], json!([]));
    let e = kafka_broker_config(&cluster, "num.partitions").await;
    assert_eq!(e.value.as_deref(), Some("1"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_and_cluster_configs_alter() {
    if kgate_testkit::skip_unless_embedded(
        "reads configs back at once; on a cluster of several brokers a change reaches the broker asked a moment later",
    ) {
        return;
    }
    let cluster = TestCluster::start().await;
    let c = cluster.kafka().cluster_id().await.expect("cluster id");
    let broker = format!("/v3/clusters/{c}/brokers/1/configs");
    let a = call(
        &cluster,
        "PUT",
        &format!("{broker}/log.retention.ms"),
        Some(json!({"value": "1000"})),
    )
    .await;
    assert_eq!(a.status, 204);
    let a = get(&cluster, &format!("{broker}/log.retention.ms")).await;
    assert_eq!(
        (a.body["value"].clone(), a.body["source"].clone()),
        (json!("1000"), json!("DYNAMIC_BROKER_CONFIG"))
    );
    // In Kafka: the broker's value, and a topic without an override follows it.
    let e = kafka_broker_config(&cluster, "log.retention.ms").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("1000"), ConfigValueSource::DynamicBroker)
    );
    let topic = unique_name("v3-broker-configs");
    cluster.create_topic(&topic, 1).await;
    let e = kafka_topic_config(&cluster, &topic, "retention.ms").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("1000"), ConfigValueSource::DynamicBroker)
    );

    // validate_only changes nothing; a batch applies every entry.
    let a = call(
        &cluster,
        "POST",
        &format!("{broker}:alter"),
        Some(json!({"validate_only": true, "data": [{"name": "message.max.bytes", "value": "5000"}]})),
    )
    .await;
    assert_eq!(a.status, 204);
    let e = kafka_broker_config(&cluster, "message.max.bytes").await;
    assert_eq!(e.source, ConfigValueSource::Default);
    let a = call(
        &cluster,
        "POST",
        &format!("{broker}:alter"),
        Some(json!({"data": [
            {"name": "log.retention.ms", "operation": "DELETE"},
            {"name": "message.max.bytes", "value": "5000"},
        ]})),
    )
    .await;
    assert_eq!(a.status, 204);
    let a = get(&cluster, &format!("{broker}/log.retention.ms")).await;
    assert_ne!(a.body["source"], "DYNAMIC_BROKER_CONFIG");
    // Back to Kafka's default: no value of its own (log.retention.hours=168 applies).
    let e = kafka_broker_config(&cluster, "log.retention.ms").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (None, ConfigValueSource::Default)
    );
    let e = kafka_broker_config(&cluster, "message.max.bytes").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("5000"), ConfigValueSource::DynamicBroker)
    );
    let a = call(
        &cluster,
        "DELETE",
        &format!("{broker}/message.max.bytes"),
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    let e = kafka_broker_config(&cluster, "message.max.bytes").await;
    assert_eq!(e.source, ConfigValueSource::Default);

    let cluster_configs = format!("/v3/clusters/{c}/broker-configs");
    let a = call(
        &cluster,
        "PUT",
        &format!("{cluster_configs}/compression.type"),
        Some(json!({"value": "gzip"})),
    )
    .await;
    assert_eq!(a.status, 204);
    let a = get(&cluster, &format!("{cluster_configs}/compression.type")).await;
    let expected = json!({
        "kind": "KafkaClusterConfig",
        "metadata": {
            "self": "http://kgate/v3/clusters/CID/broker-configs/compression.type",
            "resource_name": "crn:///kafka=CID/broker-config=compression.type",
        },
        "cluster_id": "CID",
        "config_type": "BROKER",
        "name": "compression.type",
        "value": "gzip",
        "is_default": false,
        "is_read_only": false,
        "is_sensitive": false,
        "source": "DYNAMIC_DEFAULT_BROKER_CONFIG",
        "synonyms": [
            {"name": "compression.type", "value": "gzip", "source": "DYNAMIC_DEFAULT_BROKER_CONFIG"},
            {"name": "compression.type", "value": "producer", "source": "DEFAULT_CONFIG"},
        ],
    });
    assert_eq!((a.status, a.body), (200, expected.clone()));
    let a = get(&cluster, &cluster_configs).await;
    assert_eq!(a.body["data"], json!([expected]));
    // In Kafka: the broker and the topic inherit the cluster-wide default.
    let e = kafka_broker_config(&cluster, "compression.type").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("gzip"), ConfigValueSource::DynamicDefaultBroker)
    );
    let e = kafka_topic_config(&cluster, &topic, "compression.type").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("gzip"), ConfigValueSource::DynamicDefaultBroker)
    );
    let a = call(
        &cluster,
        "POST",
        &format!("{cluster_configs}:alter"),
        Some(json!({"data": [{"name": "compression.type", "operation": "DELETE"}]})),
    )
    .await;
    assert_eq!(a.status, 204);
    let a = call(
        &cluster,
        "DELETE",
        &format!("{cluster_configs}/compression.type"),
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    let a = get(&cluster, &cluster_configs).await;
    assert_eq!(a.body["data"], json!([]));
    let e = kafka_broker_config(&cluster, "compression.type").await;
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("producer"), ConfigValueSource::Default)
    );
    cluster.stop().await;
}
