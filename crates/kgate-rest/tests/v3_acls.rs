//! v3 ACLs against the embedded broker: created through the REST API, checked through
//! Kafka's DescribeAcls, listed with every filter, deleted with the deleted ones returned.

use kgate_kafka::native::acls::{AclFilter, AclResourceType};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

async fn send(
    cluster: &TestCluster,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = cluster
        .http()
        .request(method, format!("{}{path}", cluster.rest_url()));
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

fn acl(
    resource_type: &str,
    name: &str,
    pattern: &str,
    principal: &str,
    op: &str,
    perm: &str,
) -> Value {
    json!({
        "resource_type": resource_type,
        "resource_name": name,
        "pattern_type": pattern,
        "principal": principal,
        "host": "*",
        "operation": op,
        "permission": perm,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_created_listed_filtered_and_deleted() {
    if kgate_testkit::skip_unless_embedded(
        "reads ACLs back at once; on a cluster of several brokers a new ACL reaches the broker asked a moment later",
    ) {
        return;
    }
    let cluster = TestCluster::start().await;
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    let base = format!("/v3/clusters/{id}/acls");
    let prefix = unique_name("acl-topic");
    let alice = format!("User:{}", unique_name("alice"));
    let bob = format!("User:{}", unique_name("bob"));

    let (status, body) = send(
        &cluster,
        reqwest::Method::POST,
        &base,
        Some(acl("TOPIC", &prefix, "PREFIXED", &alice, "ALL", "ALLOW")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        &cluster,
        reqwest::Method::POST,
        &format!("{base}:batch"),
        Some(json!({"data": [
            acl("CLUSTER", "kafka-cluster", "LITERAL", &alice, "DESCRIBE", "DENY"),
            acl("GROUP", "g1", "LITERAL", &bob, "READ", "ALLOW"),
        ]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The ACLs really exist in Kafka.
    let in_kafka = cluster
        .kafka()
        .describe_acls(&AclFilter::default())
        .await
        .expect("describe acls");
    let mine: Vec<_> = in_kafka
        .iter()
        .filter(|a| a.principal == alice || a.principal == bob)
        .collect();
    assert_eq!(mine.len(), 3, "{in_kafka:?}");
    assert!(
        mine.iter()
            .any(|a| a.resource_type == AclResourceType::Cluster)
    );

    // Filter by principal: the reference's example shape.
    let principal_q = alice.replace(':', "%3A");
    let (status, body) = send(
        &cluster,
        reqwest::Method::GET,
        &format!("{base}?principal={principal_q}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "KafkaAclList");
    assert!(
        body["metadata"]["self"].as_str().is_some_and(
            |s| s.ends_with(&format!("/v3/clusters/{id}/acls?principal={principal_q}"))
        ),
        "{body}"
    );
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2, "{body}");
    let cluster_acl = data
        .iter()
        .find(|a| a["resource_type"] == "CLUSTER")
        .expect("the CLUSTER acl");
    assert_eq!(
        cluster_acl,
        &json!({
            "kind": "KafkaAcl",
            "metadata": {"self": format!(
                "{}/v3/clusters/{id}/acls?resource_type=CLUSTER&resource_name=kafka-cluster&pattern_type=LITERAL&principal={principal_q}&host=*&operation=DESCRIBE&permission=DENY",
                cluster.rest_url()
            )},
            "cluster_id": id,
            "resource_type": "CLUSTER",
            "resource_name": "kafka-cluster",
            "pattern_type": "LITERAL",
            "principal": alice,
            "host": "*",
            "operation": "DESCRIBE",
            "permission": "DENY",
        })
    );

    // Every other filter narrows the list.
    for (query, expected) in [
        (
            format!("resource_type=GROUP&principal={}", bob.replace(':', "%3A")),
            1,
        ),
        (
            format!("resource_type=TOPIC&resource_name={prefix}&pattern_type=PREFIXED"),
            1,
        ),
        (format!("principal={principal_q}&operation=DESCRIBE"), 1),
        (format!("principal={principal_q}&permission=ALLOW"), 1),
        (format!("principal={principal_q}&host=*"), 2),
        (format!("principal={principal_q}&host=10.0.0.1"), 0),
        (format!("principal={principal_q}&pattern_type=LITERAL"), 1),
    ] {
        let (status, body) = send(
            &cluster,
            reqwest::Method::GET,
            &format!("{base}?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(
            body["data"].as_array().map(Vec::len),
            Some(expected),
            "{query}: {body}"
        );
    }

    // Delete returns what it deleted, and it is gone from Kafka.
    let (status, body) = send(
        &cluster,
        reqwest::Method::DELETE,
        &format!("{base}?resource_type=ANY&pattern_type=ANY&operation=ANY&permission=ANY&principal={principal_q}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deleted = body["data"].as_array().expect("data");
    assert_eq!(deleted.len(), 2, "{body}");
    assert!(
        deleted
            .iter()
            .all(|a| a["kind"] == "KafkaAcl" && a["principal"] == alice.as_str())
    );
    let left = cluster
        .kafka()
        .describe_acls(&AclFilter::default())
        .await
        .expect("describe acls");
    assert!(left.iter().all(|a| a.principal != alice), "{left:?}");
    assert!(left.iter().any(|a| a.principal == bob), "{left:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_errors_have_the_reference_codes() {
    let cluster = TestCluster::start().await;
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    let base = format!("/v3/clusters/{id}/acls");

    let (status, body) = send(
        &cluster,
        reqwest::Method::POST,
        &base,
        Some(acl(
            "CLUSTER",
            "not-the-cluster",
            "LITERAL",
            "User:x",
            "DESCRIBE",
            "DENY",
        )),
    )
    .await;
    assert_eq!(
        (status, &body["error_code"]),
        (400, &json!(40002)),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("kafka-cluster"))
    );

    let (status, body) = send(
        &cluster,
        reqwest::Method::POST,
        &base,
        Some(acl("TOPIC", "t", "LITERAL", "User:x", "FLY", "ALLOW")),
    )
    .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");

    let (status, body) = send(
        &cluster,
        reqwest::Method::POST,
        &base,
        Some(json!({"resource_type": "TOPIC"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    let (status, body) = send(
        &cluster,
        reqwest::Method::DELETE,
        &format!("{base}?pattern_type=ANY&operation=ANY&permission=ANY"),
        None,
    )
    .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");
    assert_eq!(
        body["message"],
        "resource_type cannot be unspecified or UNKNOWN"
    );

    let (status, body) = send(
        &cluster,
        reqwest::Method::GET,
        &format!("{base}?operation=FLY"),
        None,
    )
    .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");

    let (status, body) = send(
        &cluster,
        reqwest::Method::GET,
        "/v3/clusters/nope/acls",
        None,
    )
    .await;
    assert_eq!((status, &body["error_code"]), (404, &json!(404)), "{body}");
    assert_eq!(body["message"], "Cluster nope cannot be found.");
    cluster.stop().await;
}
