//! Compatibility levels for each schema type, through registration (409) and the
//! `/compatibility` endpoint (with `verbose`).

mod common;

use common::{Registry, assert_error, avro_record};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

async fn with_level(r: &Registry, prefix: &str, level: &str) -> String {
    let s = unique_name(prefix);
    let (status, _) = r
        .put(&format!("/config/{s}"), json!({"compatibility": level}))
        .await;
    assert_eq!(status, 200);
    s
}

async fn check(r: &Registry, subject: &str, version: Option<&str>, body: &Value) -> (bool, Value) {
    let path = match version {
        Some(v) => format!("/compatibility/subjects/{subject}/versions/{v}?verbose=true"),
        None => format!("/compatibility/subjects/{subject}/versions?verbose=true"),
    };
    let (status, v) = r.post(&path, body.clone()).await;
    assert_eq!(status, 200, "{v}");
    (
        v["is_compatible"].as_bool().expect("is_compatible"),
        v["messages"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_levels() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let v1 = avro_record("R", &[("a", "int", None)]);
    // Adds a field with a default: backward and forward compatible.
    let v2 = avro_record(
        "R",
        &[("a", "int", None), ("b", "string", Some(json!("x")))],
    );
    // Adds a field without a default: only forward compatible.
    let no_default = avro_record("R", &[("a", "int", None), ("c", "string", None)]);
    // Drops the only field and adds one without default: neither.
    let neither = avro_record("R", &[("z", "string", None)]);

    // BACKWARD (the default).
    let s = unique_name("avro-backward");
    r.register(&s, v1.clone()).await;
    let (ok, messages) = check(&r, &s, None, &no_default).await;
    assert!(!ok);
    assert!(
        !messages.as_array().unwrap().is_empty(),
        "verbose gives reasons"
    );
    let (s409, body) = r
        .post(&format!("/subjects/{s}/versions"), no_default.clone())
        .await;
    assert_error(&(s409, body.clone()), 409, 409);
    assert!(body["message"].as_str().unwrap().contains("incompatible"));
    assert!(check(&r, &s, Some("latest"), &v2).await.0);
    let (plain_status, plain) = r
        .post(
            &format!("/compatibility/subjects/{s}/versions/latest"),
            v2.clone(),
        )
        .await;
    assert_eq!((plain_status, plain), (200, json!({"is_compatible": true})));
    r.register(&s, v2.clone()).await;

    // FORWARD: the old schema must read the new one's data.
    let s = with_level(&r, "avro-forward", "FORWARD").await;
    r.register(&s, v1.clone()).await;
    assert!(check(&r, &s, None, &no_default).await.0);
    assert!(!check(&r, &s, None, &neither).await.0);
    r.register(&s, no_default.clone()).await;

    // FULL: both directions.
    let s = with_level(&r, "avro-full", "FULL").await;
    r.register(&s, v1.clone()).await;
    assert!(!check(&r, &s, None, &no_default).await.0);
    assert!(check(&r, &s, None, &v2).await.0);

    // NONE: anything goes.
    let s = with_level(&r, "avro-none", "NONE").await;
    r.register(&s, v1.clone()).await;
    r.register(&s, neither.clone()).await;

    // Transitive levels look at every version, the plain ones at the latest only.
    let a = avro_record("T", &[("a", "int", None)]);
    let b = avro_record("T", &[("b", "int", Some(json!(0)))]);
    let c = avro_record(
        "T",
        &[
            ("b", "int", Some(json!(0))),
            ("a", "string", Some(json!(""))),
        ],
    );
    for (level, accepted) in [
        ("BACKWARD", true),
        ("BACKWARD_TRANSITIVE", false),
        ("FORWARD", true),
        ("FORWARD_TRANSITIVE", false),
        ("FULL", true),
        ("FULL_TRANSITIVE", false),
    ] {
        let s = with_level(&r, "avro-transitive", "NONE").await;
        r.register(&s, a.clone()).await;
        r.register(&s, b.clone()).await;
        assert_eq!(
            r.put(&format!("/config/{s}"), json!({"compatibility": level}))
                .await
                .0,
            200
        );
        assert_eq!(check(&r, &s, None, &c).await.0, accepted, "{level}");
        // Against version 1 alone, c is incompatible whatever the level.
        assert!(!check(&r, &s, Some("1"), &c).await.0, "{level} vs 1");
    }

    // A subject without versions accepts anything; a missing version is 40402.
    let empty = unique_name("avro-empty");
    assert!(check(&r, &empty, None, &v1).await.0);
    assert_error(
        &r.post(
            &format!("/compatibility/subjects/{empty}/versions/1"),
            v1.clone(),
        )
        .await,
        404,
        40401,
    );
    let s = unique_name("avro-one");
    r.register(&s, v1.clone()).await;
    assert_error(
        &r.post(
            &format!("/compatibility/subjects/{s}/versions/7"),
            v1.clone(),
        )
        .await,
        404,
        40402,
    );
    assert_error(
        &r.post(
            &format!("/compatibility/subjects/{s}/versions/latest"),
            json!({"schema": "{"}),
        )
        .await,
        422,
        42201,
    );
    cluster.stop().await;
}

fn proto(body: &str) -> Value {
    json!({"schemaType": "PROTOBUF", "schema": format!("syntax = \"proto3\";\npackage cmp;\n{body}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_levels() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let v1 = proto("message M { int32 a = 1; }");
    let added = proto("message M { int32 a = 1; string b = 2; }");
    let widened = proto("message M { int64 a = 1; }");
    let retyped = proto("message M { string a = 1; }");
    let renamed_message = proto("message N { int32 a = 1; }");

    for level in ["BACKWARD", "FORWARD", "FULL", "FULL_TRANSITIVE"] {
        let s = with_level(&r, "proto", level).await;
        r.register(&s, v1.clone()).await;
        assert!(
            check(&r, &s, None, &added).await.0,
            "{level}: adding a field"
        );
        assert!(
            check(&r, &s, None, &widened).await.0,
            "{level}: int32 -> int64"
        );
        let (ok, messages) = check(&r, &s, None, &retyped).await;
        assert!(!ok, "{level}: int32 -> string");
        assert!(messages.to_string().contains("cmp.M"), "{messages}");
        assert_error(
            &r.post(&format!("/subjects/{s}/versions"), retyped.clone())
                .await,
            409,
            409,
        );
    }
    let s = with_level(&r, "proto", "BACKWARD").await;
    r.register(&s, v1.clone()).await;
    assert!(
        !check(&r, &s, None, &renamed_message).await.0,
        "message removed"
    );
    let s = with_level(&r, "proto", "NONE").await;
    r.register(&s, v1.clone()).await;
    r.register(&s, retyped.clone()).await;
    cluster.stop().await;
}

fn json_schema(schema: Value) -> Value {
    json!({"schemaType": "JSON", "schema": schema.to_string()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_levels() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let closed = |props: Value, required: Value| {
        json_schema(
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
        )
    };
    let v1 = closed(json!({"a": {"type": "string"}}), json!(["a"]));
    let optional_added = closed(
        json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
        json!(["a"]),
    );
    let required_added = closed(
        json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
        json!(["a", "b"]),
    );
    let retyped = closed(json!({"a": {"type": "integer"}}), json!(["a"]));

    let s = with_level(&r, "json", "BACKWARD").await;
    r.register(&s, v1.clone()).await;
    assert!(check(&r, &s, None, &optional_added).await.0);
    assert!(!check(&r, &s, None, &required_added).await.0);
    assert!(!check(&r, &s, None, &retyped).await.0);
    assert_error(
        &r.post(&format!("/subjects/{s}/versions"), retyped.clone())
            .await,
        409,
        409,
    );

    let s = with_level(&r, "json", "FORWARD").await;
    r.register(&s, v1.clone()).await;
    // Old readers with a closed content model reject the new property.
    assert!(!check(&r, &s, None, &optional_added).await.0);

    let s = with_level(&r, "json", "FULL").await;
    r.register(&s, v1.clone()).await;
    assert!(!check(&r, &s, None, &optional_added).await.0);
    assert!(check(&r, &s, None, &v1).await.0);

    let s = with_level(&r, "json", "BACKWARD_TRANSITIVE").await;
    r.register(&s, v1.clone()).await;
    r.register(&s, optional_added.clone()).await;
    let numeric = closed(
        json!({"a": {"type": "string"}, "b": {"type": "number"}}),
        json!(["a"]),
    );
    assert!(
        check(&r, &s, None, &numeric).await.0,
        "integer widens to number"
    );
    cluster.stop().await;
}

/// A transitive check reads every earlier version (each parsed and checked in turn, newest
/// first) and names each version it fails against, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transitive_check_names_each_version_it_fails_against_newest_first() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let s = with_level(&r, "avro-transitive", "BACKWARD_TRANSITIVE").await;
    let v1 = avro_record("R", &[("a", "int", None)]);
    let v2 = avro_record(
        "R",
        &[("a", "int", None), ("b", "string", Some(json!("x")))],
    );
    let v3 = avro_record(
        "R",
        &[
            ("a", "int", None),
            ("b", "string", Some(json!("x"))),
            ("c", "int", Some(json!(0))),
        ],
    );
    for v in [&v1, &v2, &v3] {
        r.register(&s, v.clone()).await;
    }
    // `c` without a default: data of versions 1 and 2 (no `c`) cannot be read, that of
    // version 3 can.
    let new = avro_record("R", &[("a", "int", None), ("c", "int", None)]);
    let (ok, messages) = check(&r, &s, None, &new).await;
    assert!(!ok);
    let versions: Vec<u32> = messages
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| {
            let m = m.as_str()?;
            let at = m.find("oldSchemaVersion: ")? + "oldSchemaVersion: ".len();
            m[at..].split(',').next()?.parse().ok()
        })
        .collect();
    let mut named = versions.clone();
    named.dedup();
    assert_eq!(named, vec![2, 1], "{messages}");
    cluster.stop().await;
}
