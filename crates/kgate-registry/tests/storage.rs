//! The `_schemas` topic: Confluent's record format both ways, state rebuilt at start-up,
//! and several registries sharing one topic.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Registry, assert_error, avro_record};
use kgate_testkit::kgate_registry::RegistryConfig;
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

/// Polls `probe` until it returns true, for up to 30 s.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !probe().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_topic_written_in_confluents_format() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("_schemas");
    let mut configs = BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    cluster.create_topic_with(&topic, 1, &configs).await;
    let avro = r#"{"type":"record","name":"Pre","namespace":"com.example","fields":[{"name":"f","type":"string"}]}"#;
    let proto = "syntax = \"proto3\";\nmessage Pre { string f = 1; }\n";
    let records: Vec<(Value, Option<Value>)> = vec![
        (json!({"keytype": "NOOP", "magic": 0}), None),
        (
            json!({"keytype": "SCHEMA", "subject": "pre-value", "version": 1, "magic": 1}),
            Some(
                json!({"subject": "pre-value", "version": 1, "id": 7, "schema": avro, "deleted": false}),
            ),
        ),
        (
            json!({"keytype": "SCHEMA", "subject": "pre-proto", "version": 1, "magic": 1}),
            Some(
                json!({"subject": "pre-proto", "version": 1, "id": 8, "schemaType": "PROTOBUF", "schema": proto, "deleted": false}),
            ),
        ),
        (
            json!({"keytype": "SCHEMA", "subject": "gone", "version": 1, "magic": 1}),
            Some(
                json!({"subject": "gone", "version": 1, "id": 7, "schema": avro, "deleted": false}),
            ),
        ),
        (
            json!({"keytype": "DELETE_SUBJECT", "subject": "gone", "magic": 0}),
            Some(json!({"subject": "gone", "version": 1})),
        ),
        (
            json!({"keytype": "CONFIG", "subject": null, "magic": 0}),
            Some(json!({"compatibilityLevel": "FULL"})),
        ),
        (
            json!({"keytype": "CONFIG", "subject": "pre-value", "magic": 0}),
            Some(json!({"compatibilityLevel": "NONE"})),
        ),
        (
            json!({"keytype": "MODE", "subject": "pre-proto", "magic": 0}),
            Some(json!({"mode": "READONLY"})),
        ),
        (
            json!({"keytype": "SOMETHING_NEW", "magic": 0}),
            Some(json!({})),
        ),
    ];
    for (key, value) in &records {
        let value = value.as_ref().map(|v| v.to_string().into_bytes());
        cluster
            .produce(
                &topic,
                Some(0),
                Some(key.to_string().as_bytes()),
                value.as_deref(),
            )
            .await;
    }
    let server = cluster
        .start_registry(RegistryConfig {
            topic: topic.clone(),
            ..RegistryConfig::default()
        })
        .await;
    let r = Registry::new(server.url());
    let (s, v) = r.get("/subjects/pre-value/versions/1").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(7));
    assert_eq!(v["schema"], json!(avro));
    assert_eq!(
        r.get("/schemas/ids/8").await.1["schemaType"],
        json!("PROTOBUF")
    );
    assert_eq!(
        r.get("/subjects").await.1,
        json!(["pre-proto", "pre-value"])
    );
    assert_eq!(
        r.get("/subjects?deleted=true").await.1,
        json!(["gone", "pre-proto", "pre-value"])
    );
    assert_eq!(
        r.get("/config").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        r.get("/config/pre-value").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        r.get("/mode/pre-proto").await.1,
        json!({"mode": "READONLY"})
    );
    // The same schema text in another layout is found; a new one gets the next id.
    let relaid = json!({"schema": serde_json::to_string_pretty(&serde_json::from_str::<Value>(avro).unwrap()).unwrap()});
    assert_eq!(
        r.post("/subjects/pre-value", relaid).await.1["version"],
        json!(1)
    );
    let id = r
        .register("pre-value", avro_record("Other", &[("x", "int", None)]))
        .await;
    assert_eq!(id, 9);
    assert_error(
        &r.post("/subjects/pre-proto/versions", json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\"; message X { int32 a = 1; }"})).await,
        422,
        42205,
    );

    // What kgate wrote is in Confluent's layout.
    let written = cluster
        .consume_all(&topic, records.len() + 2, Duration::from_secs(30))
        .await;
    let mine = written
        .iter()
        .rev()
        .find(|rec| {
            rec.key
                .as_deref()
                .and_then(|k| serde_json::from_slice::<Value>(k).ok())
                == Some(
                    json!({"keytype": "SCHEMA", "subject": "pre-value", "version": 2, "magic": 1}),
                )
        })
        .expect("the registered schema's record");
    let value: Value = serde_json::from_slice(mine.value.as_deref().expect("a value")).unwrap();
    assert_eq!(value["subject"], json!("pre-value"));
    assert_eq!(value["version"], json!(2));
    assert_eq!(value["id"], json!(9));
    assert_eq!(value["deleted"], json!(false));
    assert!(value["schema"].as_str().unwrap().contains("Other"));
    assert!(value.get("schemaType").is_none());
    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rebuilds_state_from_the_topic() {
    let mut cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let s = unique_name("restart-value");
    let id1 = r
        .register(&s, avro_record("R", &[("a", "int", None)]))
        .await;
    let id2 = r
        .register(
            &s,
            avro_record("R", &[("a", "int", None), ("b", "int", Some(json!(1)))]),
        )
        .await;
    let p = unique_name("restart-proto");
    let pid = r
        .register(&p, json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\"; message P { int32 a = 1; }"}))
        .await;
    assert_eq!(r.delete(&format!("/subjects/{s}/versions/1")).await.0, 200);
    assert_eq!(
        r.put(&format!("/config/{p}"), json!({"compatibility": "NONE"}))
            .await
            .0,
        200
    );
    assert_eq!(r.put("/mode", json!({"mode": "READWRITE"})).await.0, 200);
    let before: Vec<(u16, Value)> = vec![
        r.get(&format!("/subjects/{s}/versions?deleted=true")).await,
        r.get(&format!("/subjects/{s}/versions")).await,
        r.get(&format!("/schemas/ids/{id1}")).await,
        r.get(&format!("/schemas/ids/{id2}")).await,
        r.get(&format!("/schemas/ids/{pid}")).await,
        r.get(&format!("/config/{p}")).await,
        r.get("/subjects").await,
    ];
    cluster.stop_registry().await;

    let server = cluster.start_registry(RegistryConfig::default()).await;
    let r = Registry::new(server.url());
    let after: Vec<(u16, Value)> = vec![
        r.get(&format!("/subjects/{s}/versions?deleted=true")).await,
        r.get(&format!("/subjects/{s}/versions")).await,
        r.get(&format!("/schemas/ids/{id1}")).await,
        r.get(&format!("/schemas/ids/{id2}")).await,
        r.get(&format!("/schemas/ids/{pid}")).await,
        r.get(&format!("/config/{p}")).await,
        r.get("/subjects").await,
    ];
    assert_eq!(before, after);
    assert_eq!(after[0].1, json!([1, 2]));
    // Ids are never reused after a restart.
    let id3 = r
        .register(&unique_name("restart-new"), avro_record("N", &[]))
        .await;
    assert!(id3 > id1.max(id2).max(pid), "{id3}");
    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registries_register_concurrently_with_distinct_ids() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let second = cluster.start_registry(RegistryConfig::default()).await;
    let a = Registry::new(cluster.registry_url());
    let b = Registry::new(second.url());
    let run = unique_name("race");

    let mut tasks = Vec::new();
    for i in 0..8 {
        for (name, registry) in [("a", a.clone()), ("b", b.clone())] {
            let subject = format!("{run}-{name}-{}", i % 3);
            let body = avro_record(&format!("S_{name}_{i}"), &[("f", "int", None)]);
            let subject_name = subject.clone();
            tasks.push(tokio::spawn(async move {
                // A new record type under the same subject is incompatible by default.
                let (s, _) = registry
                    .put(
                        &format!("/config/{subject_name}"),
                        json!({"compatibility": "NONE"}),
                    )
                    .await;
                assert_eq!(s, 200);
                let id = registry.register(&subject_name, body.clone()).await;
                (subject_name, body, id)
            }));
        }
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("registration task"));
    }
    let ids: BTreeSet<i64> = results.iter().map(|(_, _, id)| *id).collect();
    assert_eq!(
        ids.len(),
        results.len(),
        "every schema got its own id: {results:?}"
    );

    // Both instances agree on every id and every subject's versions.
    for (subject, body, id) in &results {
        for r in [&a, &b] {
            let r = r.clone();
            let (subject, id) = (subject.clone(), *id);
            eventually("both registries see every schema", || {
                let r = r.clone();
                let subject = subject.clone();
                async move {
                    let (s, v) = r.get(&format!("/schemas/ids/{id}/subjects")).await;
                    s == 200 && v == json!([subject])
                }
            })
            .await;
        }
        let (sa, va) = a.post(&format!("/subjects/{subject}"), body.clone()).await;
        let (sb, vb) = b.post(&format!("/subjects/{subject}"), body.clone()).await;
        assert_eq!((sa, sb), (200, 200));
        assert_eq!(va, vb);
        assert_eq!(va["id"], json!(id));
    }
    for i in 0..3 {
        for name in ["a", "b"] {
            let subject = format!("{run}-{name}-{i}");
            let va = a.get(&format!("/subjects/{subject}/versions")).await;
            let vb = b.get(&format!("/subjects/{subject}/versions")).await;
            assert_eq!(va, vb);
            let n = va.1.as_array().unwrap().len();
            assert!(n == 2 || n == 3, "{subject}: {va:?}");
        }
    }
    second.stop().await;
    cluster.stop().await;
}
