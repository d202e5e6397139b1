//! JSON Schemas whose references or patterns would make their compiled validator grow
//! without bound (issue 13), through the produce paths that parse and validate them: v2
//! `value_schema` and v3 inline schemas are refused as invalid schemas and nothing lands;
//! a recursive schema keeps validating records of ever new shapes (its validator is
//! compiled afresh when it outgrows kgate's budget) and every record lands.

use std::time::Duration;

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
