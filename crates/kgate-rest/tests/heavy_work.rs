//! CPU-heavy schema work (issue 13): a request whose records are costly to check against
//! their JSON Schema is converted off the async threads, so the requests beside it are
//! still served while it runs, and every one of its records lands.

use std::time::{Duration, Instant};

use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";

/// An object schema whose records must match one of `n` alternatives, the last one: each
/// record is checked against all of them.
fn many_alternatives(n: usize) -> Value {
    let mut any_of: Vec<Value> = (0..n)
        .map(|i| json!({"required": [format!("k{i}")]}))
        .collect();
    any_of.push(json!({"type": "object"}));
    json!({"type": "object", "anyOf": any_of})
}

// One async thread for kgate and the test's client alike: work that held it would hold
// every request beside it until done.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_costly_batch_is_converted_while_other_requests_are_served() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("heavy");
    cluster.create_topic(&topic, 1).await;
    // Each record is checked against 10,000 alternatives (inside kgate's step budget):
    // 20,000 of them took 6 s of conversion in a debug build.
    let count = 20_000;
    let records: Vec<Value> = (0..count).map(|i| json!({"value": {"a": i}})).collect();
    let body = json!({"value_schema": many_alternatives(10_000).to_string(), "records": records});

    let started = Instant::now();
    let heavy = tokio::spawn({
        let cluster_url = cluster.rest_url();
        let http = cluster.http().clone();
        async move {
            let response = http
                .post(format!("{cluster_url}/topics/{topic}"))
                .header("Content-Type", JSONSCHEMA)
                .header("Accept", V2)
                .body(body.to_string())
                .send()
                .await
                .expect("v2 produce");
            let status = response.status().as_u16();
            let answer: Value = response.json().await.expect("a JSON answer");
            (status, answer, topic)
        }
    });
    // Small requests one after another while it runs: the longest time between two
    // answers.
    let mut longest = Duration::ZERO;
    let mut answered = 0;
    let mut last = Instant::now();
    while !heavy.is_finished() {
        let (status, _) = cluster.get_json("/topics").await;
        assert_eq!(status, 200);
        answered += 1;
        longest = longest.max(last.elapsed());
        last = Instant::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let (status, answer, topic) = heavy.await.expect("produce task");
    assert_eq!(status, 200, "{answer}");
    let offsets = answer["offsets"].as_array().expect("offsets");
    assert_eq!(offsets.len(), count);
    assert!(
        offsets.iter().all(|o| o["error_code"].is_null()),
        "{answer}"
    );
    let landed = cluster
        .consume_all(&topic, count, Duration::from_secs(60))
        .await;
    assert_eq!(landed.len(), count);
    // Held on the async thread, the conversion would have kept every small request
    // waiting for most of the produce.
    println!("produce took {took:?}; {answered} small requests, the longest {longest:?}");
    assert!(
        longest < took / 4,
        "a small request waited {longest:?} during a produce of {took:?}"
    );
}
