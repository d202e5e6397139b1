//! Every endpoint of the registry API and its error codes, against a real broker.

mod common;

use common::{Registry, assert_error, avro_record};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_look_up_and_read_versions() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let subject = unique_name("users-value");

    assert_eq!(
        r.get("/schemas/types").await,
        (200, json!(["JSON", "PROTOBUF", "AVRO"]))
    );
    assert_eq!(r.get("/").await, (200, json!({})));

    let v1 = avro_record("User", &[("id", "long", None)]);
    let id1 = r.register(&subject, v1.clone()).await;
    // Registering the same schema again is idempotent, even with another layout.
    let relaid = json!({"schema": "{ \"type\" : \"record\", \"name\" : \"User\", \"fields\" : [ {\"name\":\"id\",\"type\":\"long\"} ] }"});
    assert_eq!(r.register(&subject, relaid).await, id1);
    let v2 = avro_record(
        "User",
        &[("id", "long", None), ("name", "string", Some(json!("")))],
    );
    let id2 = r.register(&subject, v2.clone()).await;
    assert_ne!(id1, id2);

    let (s, subjects) = r.get("/subjects").await;
    assert_eq!(s, 200);
    assert!(subjects.as_array().unwrap().contains(&json!(subject)));
    let prefixed = r
        .get(&format!("/subjects?subjectPrefix={}", &subject[..8]))
        .await;
    assert!(prefixed.1.as_array().unwrap().contains(&json!(subject)));
    assert_eq!(
        r.get(&format!("/subjects/{subject}/versions")).await,
        (200, json!([1, 2]))
    );

    let (s, latest) = r.get(&format!("/subjects/{subject}/versions/latest")).await;
    assert_eq!(s, 200);
    assert_eq!(latest["subject"], json!(subject));
    assert_eq!(latest["version"], json!(2));
    assert_eq!(latest["id"], json!(id2));
    assert!(
        latest.get("schemaType").is_none(),
        "AVRO is implicit: {latest}"
    );
    let parsed: Value = serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["name"], json!("User"));
    assert_eq!(
        r.get(&format!("/subjects/{subject}/versions/-1")).await.1["version"],
        json!(2)
    );
    assert_eq!(
        r.get(&format!("/subjects/{subject}/versions/1")).await.1["id"],
        json!(id1)
    );
    let (s, raw) = r
        .get(&format!("/subjects/{subject}/versions/1/schema"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        raw["type"],
        json!("record"),
        "raw schema is the schema itself: {raw}"
    );

    let (s, by_id) = r.get(&format!("/schemas/ids/{id1}")).await;
    assert_eq!(s, 200);
    assert!(by_id["schema"].is_string());
    let (_, raw) = r.get(&format!("/schemas/ids/{id1}/schema")).await;
    assert_eq!(raw["name"], json!("User"));
    assert_eq!(
        r.get(&format!("/schemas/ids/{id2}/subjects")).await,
        (200, json!([subject]))
    );
    assert_eq!(
        r.get(&format!("/schemas/ids/{id2}/versions")).await,
        (200, json!([{"subject": subject, "version": 2}]))
    );
    let (_, all) = r.get(&format!("/schemas?subjectPrefix={subject}")).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, latest_only) = r
        .get(&format!("/schemas?subjectPrefix={subject}&latestOnly=true"))
        .await;
    assert_eq!(latest_only.as_array().unwrap().len(), 1);

    // The same schema under another subject keeps its id.
    let other = unique_name("other-value");
    assert_eq!(r.register(&other, v1.clone()).await, id1);

    let (s, found) = r.post(&format!("/subjects/{subject}"), v1.clone()).await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(
        (found["id"].clone(), found["version"].clone()),
        (json!(id1), json!(1))
    );

    // Errors.
    assert_error(&r.get("/subjects/nope-nope/versions").await, 404, 40401);
    assert_error(&r.get("/subjects/nope-nope/versions/1").await, 404, 40401);
    assert_error(
        &r.get(&format!("/subjects/{subject}/versions/9")).await,
        404,
        40402,
    );
    assert_error(
        &r.get(&format!("/subjects/{subject}/versions/0")).await,
        422,
        42202,
    );
    assert_error(
        &r.get(&format!("/subjects/{subject}/versions/abc")).await,
        422,
        42202,
    );
    assert_error(&r.get("/schemas/ids/99999").await, 404, 40403);
    let unknown = avro_record("Unknown", &[("x", "int", None)]);
    assert_error(
        &r.post(&format!("/subjects/{subject}"), unknown).await,
        404,
        40403,
    );
    assert_error(&r.post("/subjects/nope-nope", v1.clone()).await, 404, 40401);
    assert_error(
        &r.post(
            &format!("/subjects/{subject}/versions"),
            json!({"schema": "{\"type\":\"nope\"}"}),
        )
        .await,
        422,
        42201,
    );
    assert_error(
        &r.post(
            &format!("/subjects/{subject}/versions"),
            json!({"schema": "not json"}),
        )
        .await,
        422,
        42201,
    );
    assert_error(
        &r.post(
            &format!("/subjects/{subject}/versions"),
            json!({"schema": "{}", "schemaType": "XML"}),
        )
        .await,
        422,
        42201,
    );
    assert_error(&r.get("/no/such/path").await, 404, 404);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_and_json_schemas_with_references() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());

    let dep = unique_name("address-proto");
    let dep_id = r
        .register(
            &dep,
            json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\npackage geo;\nmessage Address { string city = 1; }\n"}),
        )
        .await;
    let user = unique_name("user-proto");
    let user_body = json!({
        "schemaType": "PROTOBUF",
        "schema": "syntax = \"proto3\";\nimport \"geo/address.proto\";\nmessage User { string name = 1; geo.Address home = 2; }\n",
        "references": [{"name": "geo/address.proto", "subject": dep, "version": 1}]
    });
    let user_id = r.register(&user, user_body.clone()).await;
    let (_, v) = r.get(&format!("/subjects/{user}/versions/1")).await;
    assert_eq!(v["schemaType"], json!("PROTOBUF"));
    assert_eq!(
        v["references"],
        json!([{"name": "geo/address.proto", "subject": dep, "version": 1}])
    );
    let (_, by_id) = r.get(&format!("/schemas/ids/{user_id}")).await;
    assert_eq!(by_id["schemaType"], json!("PROTOBUF"));
    assert_eq!(by_id["references"][0]["subject"], json!(dep));
    assert_eq!(
        r.get(&format!("/subjects/{dep}/versions/1/referencedby"))
            .await,
        (200, json!([user_id]))
    );
    assert_eq!(
        r.get(&format!("/subjects/{user}/versions/1/referencedby"))
            .await,
        (200, json!([]))
    );
    // A referenced version cannot be deleted.
    assert_error(
        &r.delete(&format!("/subjects/{dep}/versions/1")).await,
        422,
        42206,
    );
    assert_error(&r.delete(&format!("/subjects/{dep}")).await, 422, 42206);
    // A missing reference or invalid proto is an invalid schema.
    let mut missing = user_body.clone();
    missing["references"][0]["version"] = json!(7);
    assert_error(
        &r.post(&format!("/subjects/{user}/versions"), missing).await,
        422,
        42201,
    );
    assert_error(
        &r.post(
            &format!("/subjects/{user}/versions"),
            json!({"schemaType": "PROTOBUF", "schema": "message {"}),
        )
        .await,
        422,
        42201,
    );
    assert!(dep_id != user_id);

    let addr = unique_name("address-json");
    r.register(
        &addr,
        json!({"schemaType": "JSON", "schema": "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"}),
    )
    .await;
    let person = unique_name("person-json");
    let person_id = r
        .register(
            &person,
            json!({
                "schemaType": "JSON",
                "schema": "{\"type\":\"object\",\"properties\":{\"home\":{\"$ref\":\"address.json\"}}}",
                "references": [{"name": "address.json", "subject": addr, "version": 1}]
            }),
        )
        .await;
    let (_, v) = r.get(&format!("/schemas/ids/{person_id}")).await;
    assert_eq!(v["schemaType"], json!("JSON"));
    assert_error(
        &r.post(
            &format!("/subjects/{person}/versions"),
            json!({"schemaType": "JSON", "schema": "{\"type\": 12}"}),
        )
        .await,
        422,
        42201,
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_and_permanent_deletes() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let s = unique_name("del-value");
    let v1 = avro_record("D", &[("a", "int", None)]);
    let v2 = avro_record("D", &[("a", "int", None), ("b", "int", Some(json!(0)))]);
    let v3 = avro_record(
        "D",
        &[
            ("a", "int", None),
            ("b", "int", Some(json!(0))),
            ("c", "int", Some(json!(0))),
        ],
    );
    let id1 = r.register(&s, v1.clone()).await;
    r.register(&s, v2.clone()).await;
    r.register(&s, v3.clone()).await;

    // Permanent before soft is refused.
    assert_error(
        &r.delete(&format!("/subjects/{s}/versions/2?permanent=true"))
            .await,
        404,
        40407,
    );
    assert_eq!(
        r.delete(&format!("/subjects/{s}/versions/2")).await,
        (200, json!(2))
    );
    assert_error(
        &r.delete(&format!("/subjects/{s}/versions/2")).await,
        404,
        40406,
    );
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions")).await.1,
        json!([1, 3])
    );
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions?deleted=true"))
            .await
            .1,
        json!([1, 2, 3])
    );
    assert_error(
        &r.get(&format!("/subjects/{s}/versions/2")).await,
        404,
        40402,
    );
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions/2?deleted=true"))
            .await
            .1["version"],
        json!(2)
    );
    assert_eq!(
        r.delete(&format!("/subjects/{s}/versions/2?permanent=true"))
            .await,
        (200, json!(2))
    );
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions?deleted=true"))
            .await
            .1,
        json!([1, 3])
    );
    assert_error(
        &r.delete(&format!("/subjects/{s}/versions/latest?permanent=true"))
            .await,
        404,
        40407,
    );

    // Whole subject.
    assert_error(
        &r.delete(&format!("/subjects/{s}?permanent=true")).await,
        404,
        40405,
    );
    assert_eq!(
        r.delete(&format!("/subjects/{s}")).await,
        (200, json!([1, 3]))
    );
    assert_error(&r.delete(&format!("/subjects/{s}")).await, 404, 40404);
    assert_error(&r.get(&format!("/subjects/{s}/versions")).await, 404, 40401);
    // With every version soft-deleted the subject itself is unknown.
    for v in ["1", "latest"] {
        assert_error(
            &r.get(&format!("/subjects/{s}/versions/{v}")).await,
            404,
            40401,
        );
    }
    assert!(
        !r.get("/subjects")
            .await
            .1
            .as_array()
            .unwrap()
            .contains(&json!(s))
    );
    assert!(
        r.get("/subjects?deleted=true")
            .await
            .1
            .as_array()
            .unwrap()
            .contains(&json!(s))
    );
    // A soft-deleted schema is still served by id.
    assert_eq!(r.get(&format!("/schemas/ids/{id1}")).await.0, 200);
    // Registering again continues the version numbers.
    assert_eq!(r.register(&s, v1.clone()).await, id1);
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions")).await.1,
        json!([4])
    );
    assert_eq!(r.delete(&format!("/subjects/{s}")).await, (200, json!([4])));
    assert_eq!(
        r.delete(&format!("/subjects/{s}?permanent=true")).await,
        (200, json!([1, 3, 4]))
    );
    assert_error(
        &r.get(&format!("/subjects/{s}/versions?deleted=true")).await,
        404,
        40401,
    );
    assert_error(&r.get(&format!("/schemas/ids/{id1}")).await, 404, 40403);
    assert_error(&r.delete("/subjects/never-was").await, 404, 40401);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_mode() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let s = unique_name("cfg-value");

    assert_eq!(
        r.get("/config").await,
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_error(&r.get(&format!("/config/{s}")).await, 404, 40408);
    assert_eq!(
        r.get(&format!("/config/{s}?defaultToGlobal=true")).await,
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_eq!(
        r.put(
            &format!("/config/{s}"),
            json!({"compatibility": "FULL_TRANSITIVE"})
        )
        .await,
        (200, json!({"compatibility": "FULL_TRANSITIVE"}))
    );
    assert_eq!(
        r.get(&format!("/config/{s}")).await,
        (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"}))
    );
    assert_error(
        &r.put(
            &format!("/config/{s}"),
            json!({"compatibility": "SIDEWAYS"}),
        )
        .await,
        422,
        42203,
    );
    assert_error(&r.put("/config", json!({})).await, 422, 42203);
    assert_eq!(
        r.delete(&format!("/config/{s}")).await,
        (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"}))
    );
    assert_error(&r.get(&format!("/config/{s}")).await, 404, 40408);
    assert_eq!(
        r.put("/config", json!({"compatibility": "none"})).await,
        (200, json!({"compatibility": "NONE"}))
    );
    assert_eq!(
        r.get("/config").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        r.delete("/config").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        r.get("/config").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );

    assert_eq!(r.get("/mode").await, (200, json!({"mode": "READWRITE"})));
    assert_error(&r.get(&format!("/mode/{s}")).await, 404, 40409);
    assert_eq!(
        r.get(&format!("/mode/{s}?defaultToGlobal=true")).await.1,
        json!({"mode": "READWRITE"})
    );
    assert_error(
        &r.put(&format!("/mode/{s}"), json!({"mode": "SOMETIMES"}))
            .await,
        422,
        42204,
    );
    assert_eq!(
        r.put(&format!("/mode/{s}"), json!({"mode": "READONLY"}))
            .await,
        (200, json!({"mode": "READONLY"}))
    );
    let body = avro_record("M", &[("a", "int", None)]);
    assert_error(
        &r.post(&format!("/subjects/{s}/versions"), body.clone())
            .await,
        422,
        42205,
    );
    assert_eq!(
        r.delete(&format!("/mode/{s}")).await,
        (200, json!({"mode": "READONLY"}))
    );
    let id = r.register(&s, body.clone()).await;

    // IMPORT mode: the client chooses id and version; outside it, a given id is refused.
    let imported = unique_name("import-value");
    let mut with_id = avro_record("I", &[("a", "int", None)]);
    with_id["id"] = json!(id + 1000);
    with_id["version"] = json!(5);
    assert_error(
        &r.post(&format!("/subjects/{imported}/versions"), with_id.clone())
            .await,
        422,
        42205,
    );
    assert_eq!(
        r.put(&format!("/mode/{imported}"), json!({"mode": "IMPORT"}))
            .await
            .0,
        200
    );
    assert_eq!(r.register(&imported, with_id).await, id + 1000);
    assert_eq!(
        r.get(&format!("/subjects/{imported}/versions")).await.1,
        json!([5])
    );
    assert_eq!(
        r.get(&format!("/mode/{imported}")).await.1,
        json!({"mode": "IMPORT"})
    );
    assert_eq!(
        r.put("/mode", json!({"mode": "READONLY"})).await.1,
        json!({"mode": "READONLY"})
    );
    assert_error(
        &r.post(&format!("/subjects/{s}/versions"), avro_record("M2", &[]))
            .await,
        422,
        42205,
    );
    assert_eq!(
        r.put("/mode", json!({"mode": "READWRITE"})).await.1,
        json!({"mode": "READWRITE"})
    );
    cluster.stop().await;
}

/// Confluent's protobuf serializers register a schema as a base64 `FileDescriptorProto`
/// and read schemas back with `format=serialized`; the registry stores the `.proto` text
/// such a descriptor prints as.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_schemas_as_serialized_descriptors() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    let dep_subject = unique_name("dep.proto");
    let dep = json!({"schemaType": "PROTOBUF",
        "schema": "syntax = \"proto3\";\npackage dep;\nmessage Money { int64 cents = 1; }"});
    r.register(&dep_subject, dep).await;
    let references = json!([{"name": "dep.proto", "subject": dep_subject, "version": 1}]);
    let text = "syntax = \"proto3\";\npackage shop;\nimport \"dep.proto\";\n\
        message Order { string id = 1; dep.Money total = 2; map<string, int32> counts = 3; }";
    let subject = unique_name("orders-value");
    let id = r
        .register(
            &subject,
            json!({"schemaType": "PROTOBUF", "schema": text, "references": references}),
        )
        .await;

    // The text form by default, the descriptor with format=serialized.
    let (status, plain) = r.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(status, 200, "{plain}");
    assert!(
        plain["schema"]
            .as_str()
            .is_some_and(|s| s.contains("message Order"))
    );
    let (status, serialized) = r.get(&format!("/schemas/ids/{id}?format=serialized")).await;
    assert_eq!(status, 200, "{serialized}");
    assert_eq!(serialized["schemaType"], "PROTOBUF");
    assert_eq!(serialized["references"], references);
    let descriptor = serialized["schema"].as_str().expect("schema").to_string();
    assert!(!descriptor.contains("message"), "{descriptor}");
    let (status, version) = r
        .get(&format!(
            "/subjects/{dep_subject}/versions/1?format=serialized"
        ))
        .await;
    assert_eq!(status, 200, "{version}");
    assert!(
        !version["schema"]
            .as_str()
            .unwrap_or("message")
            .contains("message")
    );

    // Registered as a descriptor: stored as the text it prints as, idempotent, found by
    // lookup in the same form.
    let described = unique_name("described-value");
    let body = json!({"schemaType": "PROTOBUF", "schema": descriptor, "references": references});
    let described_id = r.register(&described, body.clone()).await;
    assert_eq!(r.register(&described, body.clone()).await, described_id);
    let (status, found) = r.post(&format!("/subjects/{described}"), body).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        (&found["id"], &found["version"]),
        (&json!(described_id), &json!(1))
    );
    let (status, stored) = r.get(&format!("/schemas/ids/{described_id}")).await;
    assert_eq!(status, 200, "{stored}");
    let printed = stored["schema"].as_str().expect("schema");
    for part in [
        "package shop;",
        "import \"dep.proto\";",
        "message Order {",
        ".dep.Money total = 2;",
        "map<string, int32> counts = 3;",
    ] {
        assert!(printed.contains(part), "{part} in {printed}");
    }

    // The text registered first, given again with another layout or as its
    // descriptor, is the same schema.
    let relaid = text.replace("; ", ";\n  ").replace("{ ", "{\n  ");
    let again = |schema: &str| {
        json!({"schemaType": "PROTOBUF", "schema": format!("// again\n{schema}"),
               "references": references})
    };
    assert_eq!(r.register(&subject, again(&relaid)).await, id);
    let descriptor_again = json!({"schemaType": "PROTOBUF", "schema": descriptor,
                                  "references": references});
    assert_eq!(r.register(&subject, descriptor_again).await, id);
    let (status, versions) = r.get(&format!("/subjects/{subject}/versions")).await;
    assert_eq!((status, versions), (200, json!([1])));

    // A descriptor whose import is not among the references is an invalid schema.
    assert_error(
        &r.post(
            &format!("/subjects/{}/versions", unique_name("unresolved")),
            json!({"schemaType": "PROTOBUF", "schema": descriptor}),
        )
        .await,
        422,
        42201,
    );
    cluster.stop().await;
}
