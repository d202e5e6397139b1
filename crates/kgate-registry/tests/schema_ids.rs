//! Schema ids after deletes, `/schemas/ids/{id}`'s parameters, GUIDs and contexts, as
//! Confluent's registry serves them; and what lands in `_schemas` for the deletes.

mod common;

use std::time::Duration;

use common::{Registry, assert_error, avro_record};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

/// The records of `_schemas` whose key is the SCHEMA key of `subject` `version`, in log
/// order: `Some(value)` for a schema record, `None` for a tombstone.
async fn schema_records(
    cluster: &TestCluster,
    at_least: usize,
    subject: &str,
    version: i64,
) -> Vec<Option<Value>> {
    let key = json!({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1});
    cluster
        .consume_all(cluster.registry_topic(), at_least, Duration::from_secs(30))
        .await
        .into_iter()
        .filter(|r| {
            r.key
                .as_deref()
                .and_then(|k| serde_json::from_slice::<Value>(k).ok())
                .as_ref()
                == Some(&key)
        })
        .map(|r| {
            r.value
                .as_deref()
                .map(|v| serde_json::from_slice(v).expect("a JSON value"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_whose_versions_are_all_soft_deleted_lists_no_versions() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let (a, b) = (unique_name("ids-a"), unique_name("ids-b"));
    let schema = avro_record("Shared", &[("x", "int", None)]);
    let id = r.register(&a, schema.clone()).await;
    assert_eq!(r.register(&b, schema.clone()).await, id);
    assert_eq!(r.delete(&format!("/subjects/{a}/versions/1")).await.0, 200);
    assert_eq!(r.delete(&format!("/subjects/{b}/versions/1")).await.0, 200);

    // The id is still known: its lists are empty, and `deleted=true` shows the versions.
    assert_eq!(
        r.get(&format!("/schemas/ids/{id}/versions")).await,
        (200, json!([]))
    );
    assert_eq!(
        r.get(&format!("/schemas/ids/{id}/versions?deleted=true"))
            .await,
        (
            200,
            json!([{"subject": a, "version": 1}, {"subject": b, "version": 1}])
        )
    );
    assert_eq!(
        r.get(&format!("/schemas/ids/{id}/subjects")).await,
        (200, json!([]))
    );
    assert_eq!(
        r.get(&format!("/schemas/ids/{id}/subjects?deleted=true"))
            .await,
        (200, json!([a, b]))
    );
    assert_eq!(r.get(&format!("/schemas/ids/{id}")).await.0, 200);

    // The soft deletes landed as the same key with `deleted: true`.
    let records = schema_records(&cluster, 5, &a, 1).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].as_ref().unwrap()["deleted"], json!(false));
    assert_eq!(records[1].as_ref().unwrap()["deleted"], json!(true));
    assert_eq!(records[1].as_ref().unwrap()["id"], json!(id));

    // Once no version uses it, even soft-deleted, the id is unknown.
    for s in [&a, &b] {
        assert_eq!(
            r.delete(&format!("/subjects/{s}/versions/1?permanent=true"))
                .await,
            (200, json!(1))
        );
    }
    for path in ["versions", "subjects", "versions?deleted=true", ""] {
        let path = format!("/schemas/ids/{id}/{path}");
        let path = path.trim_end_matches('/');
        assert_error(&r.get(path).await, 404, 40403);
    }
    assert_eq!(schema_records(&cluster, 7, &a, 1).await.last(), Some(&None));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_latest_names_the_latest_live_version() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let s = unique_name("latest-value");
    let mut fields = vec![("a", "int", None)];
    for name in ["b", "c"] {
        r.register(&s, avro_record("L", &fields)).await;
        fields.push((name, "int", Some(json!(0))));
    }
    r.register(&s, avro_record("L", &fields)).await;
    assert_eq!(
        r.delete(&format!("/subjects/{s}/versions/3")).await,
        (200, json!(3))
    );

    // `latest` is version 2, live: a permanent delete of it is refused, and the
    // soft-deleted version 3 stays.
    let refused = r
        .delete(&format!("/subjects/{s}/versions/latest?permanent=true"))
        .await;
    assert_error(&refused, 404, 40407);
    assert!(
        refused.1["message"].as_str().unwrap().contains("Version 2"),
        "{refused:?}"
    );
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions?deleted=true"))
            .await
            .1,
        json!([1, 2, 3])
    );
    assert_eq!(
        schema_records(&cluster, 5, &s, 3)
            .await
            .last()
            .unwrap()
            .as_ref()
            .unwrap()["deleted"],
        json!(true),
        "version 3 is soft-deleted, not removed"
    );

    // Soft-deleting `latest` takes version 2; then `latest` is version 1.
    assert_eq!(
        r.delete(&format!("/subjects/{s}/versions/latest")).await,
        (200, json!(2))
    );
    assert_error(
        &r.delete(&format!("/subjects/{s}/versions/latest?permanent=true"))
            .await,
        404,
        40407,
    );
    assert_eq!(
        r.delete(&format!("/subjects/{s}/versions/-1")).await,
        (200, json!(1))
    );
    // No live version left: `latest` names nothing, with or without `permanent`.
    for q in ["?permanent=true", ""] {
        assert_error(
            &r.delete(&format!("/subjects/{s}/versions/latest{q}")).await,
            404,
            40402,
        );
    }
    // A numbered soft-deleted version is removed for good.
    assert_eq!(
        r.delete(&format!("/subjects/{s}/versions/3?permanent=true"))
            .await,
        (200, json!(3))
    );
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions?deleted=true"))
            .await
            .1,
        json!([1, 2])
    );
    assert_eq!(schema_records(&cluster, 8, &s, 3).await.last(), Some(&None));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_by_id_parameters_guids_and_contexts() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let (a, b) = (unique_name("byid-a"), unique_name("byid-b"));
    let schema = avro_record("ById", &[("x", "int", None)]);
    let id = r.register(&a, schema.clone()).await;
    assert_eq!(r.register(&b, schema.clone()).await, id);
    let later = r
        .register(
            &unique_name("byid-c"),
            json!({"schemaType": "JSON", "schema": "{\"type\":\"object\"}"}),
        )
        .await;

    let (status, plain) = r.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(status, 200);
    assert!(plain.get("subject").is_none() && plain.get("maxId").is_none());
    assert!(plain.get("subjects").is_none());
    let guid = plain["guid"].as_str().expect("a guid").to_string();
    assert_eq!(guid.len(), 36, "{guid}");

    let (_, with) = r
        .get(&format!(
            "/schemas/ids/{id}?subject={b}&fetchMaxId=true&includeSubjects=true"
        ))
        .await;
    assert_eq!(with["subject"], json!(b));
    assert_eq!(with["version"], json!(1));
    assert_eq!(with["maxId"], json!(later));
    assert_eq!(with["subjects"], json!([a, b]));
    assert_eq!(with["schema"], plain["schema"]);
    assert_eq!(with["guid"], json!(guid));

    // The GUID is content-derived: the same schema under another id would share it, and
    // a different schema has another.
    let (_, other) = r.get(&format!("/schemas/ids/{later}")).await;
    assert_ne!(other["guid"], json!(guid));
    assert_eq!(other["schemaType"], json!("JSON"));

    let (status, by_guid) = r.get(&format!("/schemas/guids/{guid}")).await;
    assert_eq!(status, 200);
    assert_eq!(by_guid["schema"], plain["schema"]);
    assert_eq!(by_guid["guid"], json!(guid));
    assert!(by_guid.get("subject").is_none() && by_guid.get("version").is_none());
    assert_eq!(
        r.get(&format!("/schemas/guids/{}", guid.to_uppercase()))
            .await
            .0,
        200
    );
    assert_eq!(
        r.get(&format!("/schemas/guids/{guid}/ids")).await,
        (200, json!([{"context": ".", "id": id}]))
    );
    for unknown in ["00000000-0000-0000-0000-000000000000", "not-a-guid"] {
        let answer = r.get(&format!("/schemas/guids/{unknown}")).await;
        assert_error(&answer, 404, 40403);
        assert!(
            answer.1["message"].as_str().unwrap().contains(unknown),
            "{answer:?}"
        );
        assert_error(
            &r.get(&format!("/schemas/guids/{unknown}/ids")).await,
            404,
            40403,
        );
    }

    assert_eq!(r.get("/contexts").await, (200, json!(["."])));
    assert_eq!(
        r.get("/contexts?contextPrefix=.").await,
        (200, json!(["."]))
    );
    assert_eq!(r.get("/contexts?contextPrefix=x").await, (200, json!([])));

    // A miss names what was asked.
    let missing = r.get("/schemas/ids/987654").await;
    assert_error(&missing, 404, 40403);
    assert!(missing.1["message"].as_str().unwrap().contains("987654"));
    let lookup = r
        .post(
            &format!("/subjects/{a}"),
            avro_record("Never", &[("y", "int", None)]),
        )
        .await;
    assert_error(&lookup, 404, 40403);
    assert!(
        lookup.1["message"].as_str().unwrap().contains(&a),
        "the miss names the subject: {lookup:?}"
    );
    cluster.stop().await;
}
