//! v2 metadata endpoints against the embedded broker: `GET /`, `/brokers`, `/topics`,
//! `/topics/{t}`, partitions and their offsets, with content negotiation and 404s.

use std::collections::BTreeMap;
use std::time::Duration;

use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

const V2: &str = "application/vnd.kafka.v2+json";

async fn get(cluster: &TestCluster, path: &str, accept: Option<&str>) -> (u16, String, Value) {
    let mut req = cluster.http().get(format!("{}{path}", cluster.rest_url()));
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let (status, ct, text) = kgate_testkit::text_answer(req).await;
    let body: Value = serde_json::from_str(&text).expect("JSON body");
    (status, ct, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_brokers_and_negotiation() {
    if kgate_testkit::skip_unless_embedded("one node: expects the broker list [1]") {
        return;
    }
    let cluster = TestCluster::start().await;

    let (status, ct, body) = get(&cluster, "/", Some(V2)).await;
    assert_eq!((status, ct.as_str(), body), (200, V2, json!({})));

    let (status, ct, body) = get(&cluster, "/brokers", None).await;
    assert_eq!((status, ct.as_str()), (200, V2));
    assert_eq!(body, json!({"brokers": [1]}));

    // Weighted preferences pick the heavier type the server offers.
    let (status, ct, _) = get(
        &cluster,
        "/brokers",
        Some("application/vnd.kafka.v2+json; q=0.4, application/json; q=0.9"),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let (status, ct, _) = get(&cluster, "/brokers", Some("application/vnd.kafka+json")).await;
    assert_eq!((status, ct.as_str()), (200, "application/vnd.kafka+json"));

    // Nothing acceptable: 406 in the error envelope.
    let (status, _, body) = get(&cluster, "/brokers", Some("text/html")).await;
    assert_eq!(status, 406);
    assert_eq!(body["error_code"], 406);

    // Unknown path: 404 in the error envelope.
    let (status, _, body) = get(&cluster, "/no/such/thing", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error_code"], 404);

    // Wrong method on a known path: 405.
    let resp = cluster
        .http()
        .delete(format!("{}/brokers", cluster.rest_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_partitions() {
    if kgate_testkit::skip_unless_embedded("one node: expects every leader and replica on broker 1")
    {
        return;
    }
    let cluster = TestCluster::start().await;
    let plain = unique_name("meta-plain");
    let compacted = unique_name("meta-compacted");
    cluster.create_topic(&plain, 3).await;
    let configs: BTreeMap<String, String> =
        [("cleanup.policy".to_string(), "compact".to_string())].into();
    cluster.create_topic_with(&compacted, 1, &configs).await;

    let (status, ct, body) = get(&cluster, "/topics", Some(V2)).await;
    assert_eq!((status, ct.as_str()), (200, V2));
    let names: Vec<String> = serde_json::from_value(body).unwrap();
    assert!(
        names.contains(&plain) && names.contains(&compacted),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n == "__consumer_offsets"));

    let (status, _, body) = get(&cluster, &format!("/topics/{compacted}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], json!(compacted));
    assert_eq!(
        body["partitions"],
        json!([{"partition": 0, "leader": 1, "replicas": [{"broker": 1, "leader": true, "in_sync": true}]}])
    );

    let (status, _, body) = get(&cluster, &format!("/topics/{plain}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["partitions"].as_array().unwrap().len(), 3);

    let (status, _, body) = get(&cluster, &format!("/topics/{plain}/partitions"), None).await;
    assert_eq!(status, 200);
    let ids: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);

    let (status, _, body) = get(&cluster, &format!("/topics/{plain}/partitions/2"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"partition": 2, "leader": 1, "replicas": [{"broker": 1, "leader": true, "in_sync": true}]})
    );

    // Offsets move with what is produced.
    let (status, _, body) = get(
        &cluster,
        &format!("/topics/{plain}/partitions/1/offsets"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"beginning_offset": 0, "end_offset": 0}));
    for _ in 0..3 {
        cluster.produce(&plain, Some(1), None, Some(b"x")).await;
    }
    let (_, _, body) = get(
        &cluster,
        &format!("/topics/{plain}/partitions/1/offsets"),
        None,
    )
    .await;
    assert_eq!(body, json!({"beginning_offset": 0, "end_offset": 3}));

    // Unknown topic: 40401 on every topic path.
    let missing = unique_name("meta-missing");
    for path in [
        format!("/topics/{missing}"),
        format!("/topics/{missing}/partitions"),
        format!("/topics/{missing}/partitions/0"),
        format!("/topics/{missing}/partitions/0/offsets"),
    ] {
        let (status, _, body) = get(&cluster, &path, None).await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (404, json!(40401)),
            "{path}"
        );
    }
    // Unknown partition: 40402.
    for path in [
        format!("/topics/{plain}/partitions/3"),
        format!("/topics/{plain}/partitions/-1"),
        format!("/topics/{plain}/partitions/3/offsets"),
        format!("/topics/{plain}/partitions/abc"),
    ] {
        let (status, _, body) = get(&cluster, &path, None).await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (404, json!(40402)),
            "{path}"
        );
    }
    // The topic was not created by asking about it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, _, body) = get(&cluster, "/topics", None).await;
    assert!(!body.as_array().unwrap().contains(&json!(missing)));

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_are_the_overrides() {
    let cluster = TestCluster::start().await;
    let plain = unique_name("cfg-plain");
    let compacted = unique_name("cfg-compacted");
    cluster.create_topic(&plain, 1).await;
    let configs: BTreeMap<String, String> =
        [("cleanup.policy".to_string(), "compact".to_string())].into();
    cluster.create_topic_with(&compacted, 1, &configs).await;

    let (status, _, body) = get(&cluster, &format!("/topics/{compacted}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["configs"], json!({"cleanup.policy": "compact"}));
    // Only overrides are shown, never defaults.
    let (status, _, body) = get(&cluster, &format!("/topics/{plain}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["configs"], json!({}));

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_can_be_switched_off() {
    let cluster = TestCluster::builder()
        .rest_config(kgate_testkit::kgate_rest::RestConfig {
            api_v2_enable: false,
            // v1 answers requests naming no version while v2 is off (tests/v1_*.rs).
            api_v1_enable: false,
            ..Default::default()
        })
        .start()
        .await;
    for path in ["/topics", "/brokers"] {
        let (status, _, body) = get(&cluster, path, None).await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (404, json!(404)),
            "{path}"
        );
    }
    cluster.stop().await;
}
