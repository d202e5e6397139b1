//! JSON Schemas whose references or patterns would make their compiled validator grow
//! without bound (issue 13), through the produce paths that parse and validate them: v2
//! `value_schema` and v3 inline schemas are refused as invalid schemas and nothing lands;
//! a recursive schema keeps validating records of ever new shapes (its validator is
//! compiled afresh when it outgrows kgate's budget) and every record lands. A request
//! whose records are costly to check is converted off the async threads, so the requests
//! beside it are still served while it runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Map, Value, json};

const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";
const WAIT: Duration = Duration::from_secs(30);

/// An object schema whose `n` properties each refer to an enum of 20,000 numbers: 145 KB
/// of text for 1,000 of them, which took 616 MB to compile.
fn references_to_a_large_enum(n: usize) -> Value {
    let big: Vec<Value> = (0..20_000).map(Value::from).collect();
    let properties: Map<String, Value> = (0..n)
        .map(|i| (format!("p{i}"), json!({"$ref": "#/definitions/big"})))
        .collect();
    json!({"type": "object", "properties": properties, "definitions": {"big": {"enum": big}}})
}

/// 1,000 distinct patterns, each compiled into an automaton of about 50 KB.
fn large_patterns() -> Value {
    let properties: Map<String, Value> = (0..1_000)
        .map(|i| {
            (
                format!("p{i}"),
                json!({"type": "string", "pattern": format!("[a-z]{{1000}}{i}")}),
            )
        })
        .collect();
    json!({"type": "object", "properties": properties})
}

async fn v2_produce(cluster: &TestCluster, topic: &str, body: Value) -> (u16, Value) {
    let response = cluster
        .http()
        .post(format!("{}/topics/{topic}", cluster.rest_url()))
        .header("Content-Type", JSONSCHEMA)
        .header("Accept", V2)
        .body(body.to_string())
        .send()
        .await
        .expect("v2 produce");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

async fn records_path(cluster: &TestCluster, topic: &str) -> String {
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    format!("/v3/clusters/{id}/topics/{topic}/records")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schemas_that_unfold_past_the_budget_are_refused_and_nothing_lands() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("unfolding");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;

    for (hostile, says) in [
        (
            references_to_a_large_enum(1_000),
            "references copy large subschemas",
        ),
        (large_patterns(), "patterns compile into more than"),
    ] {
        let schema = hostile.to_string();
        let (status, answer) = v2_produce(
            &cluster,
            &topic,
            json!({"value_schema": schema, "records": [{"value": {"p1": 1}}]}),
        )
        .await;
        assert_eq!(
            (status, &answer["error_code"]),
            (422, &json!(42205)),
            "{answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");

        let (status, answer) = cluster
            .post_json(
                &path,
                &json!({"value": {"type": "JSONSCHEMA", "schema": schema, "data": {"p1": 1}}}),
            )
            .await;
        assert_eq!(
            (status, &answer["error_code"]),
            (422, &json!(42205)),
            "{answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }

    // A few references to the same definition are an ordinary schema: its record is
    // the only one that lands.
    let schema = references_to_a_large_enum(3).to_string();
    let (status, answer) = cluster
        .post_json(
            &path,
            &json!({"value": {"type": "JSONSCHEMA", "schema": schema, "data": {"p1": 19_999}}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let landed = cluster.consume_all(&topic, 1, WAIT).await;
    assert_eq!(landed.len(), 1, "{landed:?}");
    let value = landed[0].value.as_deref().expect("a value");
    assert_eq!(
        serde_json::from_slice::<Value>(&value[5..]).expect("JSON after the header"),
        json!({"p1": 19_999})
    );
    cluster.stop().await;
}

/// A tree schema: nodes with a value, 200 optional text fields and two children.
fn tree_schema() -> Value {
    let mut properties: Map<String, Value> = (0..200)
        .map(|i| (format!("x{i}"), json!({"type": "string"})))
        .collect();
    properties.insert("v".into(), json!({"type": "integer"}));
    properties.insert("l".into(), json!({"$ref": "#"}));
    properties.insert("r".into(), json!({"$ref": "#"}));
    json!({"type": "object", "properties": properties})
}

/// A path 60 nodes down the tree, turning as `shape`'s bits say.
fn tree_path(shape: u64) -> Value {
    let mut node = json!({"v": 0});
    for level in 0..60 {
        let side = if (shape >> (level % 16)) & 1 == 1 {
            "l"
        } else {
            "r"
        };
        node = json!({"v": level, side: node});
    }
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_json_schema_validates_records_of_new_shapes_without_end() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("tree");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    let (status, report) = cluster
        .post_json(
            &path,
            &json!({"value": {"type": "JSONSCHEMA", "schema": tree_schema().to_string(), "data": tree_path(0)}}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let id = report["value"]["schema_id"].clone();
    // Each record of a new shape makes the validator compile copies of the schema for
    // the nodes it reaches, about 20 MB each: these outgrow the budget several times.
    const RECORDS: u64 = 30;
    for shape in 1..RECORDS {
        let (status, report) = cluster
            .post_json(
                &path,
                &json!({"value": {"schema_id": id, "data": tree_path(shape * 7919)}}),
            )
            .await;
        assert_eq!(status, 200, "record {shape}: {report}");
    }
    // Validation is as strict as ever: a bad value deep down is refused.
    let mut bad = tree_path(5);
    bad["r"]["l"]["r"]["v"] = json!("not a number");
    let (status, answer) = cluster
        .post_json(&path, &json!({"value": {"schema_id": id, "data": bad}}))
        .await;
    assert_eq!(
        (status, &answer["error_code"]),
        (422, &json!(42203)),
        "{answer}"
    );
    let landed = cluster.consume_all(&topic, RECORDS as usize, WAIT).await;
    assert_eq!(landed.len(), RECORDS as usize);
    for (shape, record) in landed.iter().enumerate() {
        let value = record.value.as_deref().expect("a value");
        let expected = tree_path(shape as u64 * 7919);
        assert_eq!(
            serde_json::from_slice::<Value>(&value[5..]).expect("JSON"),
            expected
        );
    }
    cluster.stop().await;
}

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
    let done = AtomicBool::new(false);
    let heavy = async {
        let answer = v2_produce(&cluster, &topic, body).await;
        done.store(true, Ordering::SeqCst);
        answer
    };
    // Small requests one after another while it runs: the longest time between two
    // answers.
    let small = async {
        let mut longest = Duration::ZERO;
        let mut answered = 0;
        let mut last = Instant::now();
        while !done.load(Ordering::SeqCst) {
            let (status, _) = cluster.get_json("/topics").await;
            assert_eq!(status, 200);
            answered += 1;
            longest = longest.max(last.elapsed());
            last = Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (answered, longest)
    };
    let ((status, answer), (answered, longest)) = tokio::join!(heavy, small);
    let took = started.elapsed();
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
