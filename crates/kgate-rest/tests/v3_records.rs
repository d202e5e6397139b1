//! v3 produce (`POST /v3/clusters/{c}/topics/{t}/records`) against the embedded broker:
//! delivery reports, what landed in Kafka (keys, values, headers, partitions,
//! timestamps), error codes, and streaming mode over one chunked request.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kgate_testkit::{TestCluster, concatenated_json, json_answer, unique_name};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A record as read back with its timestamp.
#[derive(Debug)]
struct Landed {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

/// Reads `count` records from every partition of `topic` from the beginning, sorted by
/// (partition, offset).
async fn read_back(cluster: &TestCluster, topic: &str, count: usize) -> Vec<Landed> {
    let partitions = cluster
        .kafka()
        .topic(topic)
        .await
        .expect("metadata")
        .partitions;
    let bootstrap = cluster.bootstrap();
    let topic = topic.to_string();
    let group = unique_name("v3-records-reader");
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(&topic, p.id, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        while out.len() < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} records arrived",
                out.len()
            );
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m.expect("consume");
                out.push((
                    m.offset(),
                    Landed {
                        partition: m.partition(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        headers: m
                            .headers()
                            .map(|hs| {
                                hs.iter()
                                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        timestamp: m.timestamp().to_millis(),
                    },
                ));
            }
        }
        out.sort_by_key(|(offset, l)| (l.partition, *offset));
        out.into_iter().map(|(_, l)| l).collect()
    })
    .await
    .expect("reader task")
}

async fn post_raw(
    cluster: &TestCluster,
    path: &str,
    content_type: Option<&str>,
    body: String,
) -> (u16, Value) {
    let mut req = cluster
        .http()
        .post(format!("{}{path}", cluster.rest_url()))
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    json_answer(req).await
}

async fn records_path(cluster: &TestCluster, topic: &str) -> String {
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    format!("/v3/clusters/{id}/topics/{topic}/records")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_lands_with_key_value_headers_partition_and_timestamp() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records");
    cluster.create_topic(&topic, 3).await;
    let path = records_path(&cluster, &topic).await;
    let cluster_id = cluster.kafka().cluster_id().await.expect("cluster id");

    // The reference's binary_and_json example.
    let (status, report) = cluster
        .post_json(
            &path,
            &json!({
                "partition_id": 1,
                "headers": [
                    {"name": "Header-1", "value": "SGVhZGVyLTE="},
                    {"name": "Header-2", "value": "SGVhZGVyLTI="},
                    {"name": "Header-3", "value": null}
                ],
                "key": {"type": "BINARY", "data": "Zm9vYmFy"},
                "value": {"type": "JSON", "data": {"foo": "bar"}},
                "timestamp": "2021-02-05T19:14:42Z"
            }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({
            "error_code": 200,
            "cluster_id": cluster_id,
            "topic_name": topic,
            "partition_id": 1,
            "offset": 0,
            "timestamp": "2021-02-05T19:14:42Z",
            "key": {"type": "BINARY", "size": 6},
            "value": {"type": "JSON", "size": 13}
        })
    );

    // A STRING value alone, and records with null and absent parts.
    let (status, report) = cluster
        .post_json(
            &path,
            &json!({"partition_id": 2, "value": {"type": "STRING", "data": "My message"}}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["value"], json!({"type": "STRING", "size": 10}));
    assert!(report.get("key").is_none(), "{report}");
    assert!(
        report["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (status, report) = cluster.post_json(&path,
        &json!({"partition_id": 2, "key": {"type": "STRING", "data": "k"}, "value": {"type": "BINARY", "data": null}}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["value"], json!({"type": "BINARY", "size": 0}));
    assert_eq!(report["offset"], 1);

    let landed = read_back(&cluster, &topic, 3).await;
    assert_eq!(landed.len(), 3);
    let first = &landed[0];
    assert_eq!(first.partition, 1);
    assert_eq!(first.key.as_deref(), Some(&b"foobar"[..]));
    assert_eq!(first.value.as_deref(), Some(&br#"{"foo":"bar"}"#[..]));
    assert_eq!(
        first.headers,
        vec![
            ("Header-1".to_string(), Some(b"Header-1".to_vec())),
            ("Header-2".to_string(), Some(b"Header-2".to_vec())),
            ("Header-3".to_string(), None),
        ]
    );
    assert_eq!(first.timestamp, Some(1_612_552_482_000));
    assert_eq!(landed[1].partition, 2);
    assert_eq!(landed[1].key, None);
    assert_eq!(landed[1].value.as_deref(), Some(&b"My message"[..]));
    assert_eq!(landed[2].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(landed[2].value, None);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_errors_have_the_reference_codes() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-errors");
    cluster.create_topic(&topic, 2).await;
    let path = records_path(&cluster, &topic).await;
    let good = json!({"value": {"type": "STRING", "data": "x"}});

    let (status, body) = cluster
        .post_json(
            &format!("/v3/clusters/no-such-cluster/topics/{topic}/records"),
            &good,
        )
        .await;
    assert_eq!((status, &body["error_code"]), (404, &json!(404)), "{body}");
    assert_eq!(body["message"], "Cluster no-such-cluster cannot be found.");

    let missing = records_path(&cluster, &unique_name("v3-no-topic")).await;
    let (status, body) = cluster.post_json(&missing, &good).await;
    assert_eq!(
        (status, &body["error_code"]),
        (404, &json!(40403)),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "This server does not host this topic-partition."
    );

    let (status, body) = cluster
        .post_json(
            &path,
            &json!({"partition_id": 7, "value": {"type": "STRING", "data": "x"}}),
        )
        .await;
    assert_eq!(
        (status, &body["error_code"]),
        (404, &json!(40403)),
        "{body}"
    );

    let (status, body) = cluster
        .post_json(&path, &json!({"value": {"type": "BINARY", "data": 1}}))
        .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");
    assert_eq!(
        body["message"],
        "Bad Request: data=1 is not a base64 string."
    );

    let (status, body) = cluster.post_json(&path,
        &json!({"headers": [{"name": "h", "value": "not base64!"}], "value": {"type": "STRING", "data": "x"}}),
    )
    .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");

    for schema_format in ["AVRO", "PROTOBUF", "JSONSCHEMA"] {
        let (status, body) = cluster
            .post_json(
                &path,
                &json!({"value": {"type": schema_format, "data": "x"}}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("Schema Registry")),
            "{body}"
        );
    }
    let (status, body) = cluster
        .post_json(&path, &json!({"value": {"data": "x"}}))
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = post_raw(&cluster, &path, Some("application/json"), String::new()).await;
    assert_eq!((status, &body["error_code"]), (422, &json!(422)), "{body}");
    assert_eq!(
        body["message"],
        "Payload error. Request body is empty. Data is required."
    );

    let (status, body) = post_raw(&cluster, &path, Some("text/plain"), good.to_string()).await;
    assert_eq!((status, &body["error_code"]), (415, &json!(415)), "{body}");

    let (status, body) = post_raw(
        &cluster,
        &path,
        Some("application/json"),
        "{oops".to_string(),
    )
    .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");

    let (status, body) = cluster
        .post_json(
            &path,
            &json!({"value": {"type": "STRING", "data": "x"}, "timestamp": "yesterday"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // None of the failed requests wrote anything.
    let offsets = cluster
        .kafka()
        .partition_offsets(&topic, 0)
        .await
        .expect("offsets");
    let offsets1 = cluster
        .kafka()
        .partition_offsets(&topic, 1)
        .await
        .expect("offsets");
    assert_eq!((offsets.end, offsets1.end), (0, 0));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_records_in_one_plain_request_get_reports_in_order() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-plain");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    let body = [
        json!({"value": {"type": "STRING", "data": "a"}}),
        json!({"value": {"type": "BINARY", "data": 5}}),
        json!({"value": {"type": "STRING", "data": "c"}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let resp = cluster
        .http()
        .post(format!("{}{path}", cluster.rest_url()))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let reports = concatenated_json(&resp.bytes().await.expect("body"));
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert_eq!(
        (&reports[0]["error_code"], &reports[0]["offset"]),
        (&json!(200), &json!(0))
    );
    assert_eq!(reports[1]["error_code"], 400);
    assert_eq!(
        (&reports[2]["error_code"], &reports[2]["offset"]),
        (&json!(200), &json!(1))
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_ten_thousand_records_with_a_bad_one_in_the_middle() {
    const COUNT: usize = 10_000;
    const BAD: usize = 5_000;
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-stream");
    cluster.create_topic(&topic, 3).await;
    let path = records_path(&cluster, &topic).await;

    // Records go out in chunks of 100, so the server sees them arrive over time.
    let records: Vec<String> = (0..COUNT)
        .map(|i| {
            if i == BAD {
                json!({"value": {"type": "BINARY", "data": "%%% not base64"}}).to_string()
            } else {
                json!({
                    "key": {"type": "STRING", "data": format!("k{}", i % 17)},
                    "value": {"type": "STRING", "data": format!("v{i}")}
                })
                .to_string()
            }
        })
        .collect();
    let chunks = records.chunks(100).map(|c| c.concat()).collect();
    let (status, reports) = cluster.post_streamed(&path, chunks).await;
    assert_eq!(status, 200);
    assert_eq!(reports.len(), COUNT);
    let mut next_offset = std::collections::HashMap::new();
    for (i, report) in reports.iter().enumerate() {
        if i == BAD {
            assert_eq!(report["error_code"], 400, "{report}");
            assert!(report["message"].is_string(), "{report}");
            continue;
        }
        assert_eq!(report["error_code"], 200, "record {i}: {report}");
        // Reports come in request order: within a partition, offsets grow by one.
        let partition = report["partition_id"].as_i64().expect("partition");
        let offset = report["offset"].as_i64().expect("offset");
        let expected = next_offset.entry(partition).or_insert(0);
        assert_eq!(offset, *expected, "record {i}: {report}");
        *expected += 1;
    }

    let landed = read_back(&cluster, &topic, COUNT - 1).await;
    assert_eq!(landed.len(), COUNT - 1);
    let mut values: Vec<usize> = landed
        .iter()
        .map(|l| {
            let v = String::from_utf8(l.value.clone().expect("value")).expect("utf-8");
            v[1..].parse().expect("number")
        })
        .collect();
    values.sort_unstable();
    let expected: Vec<usize> = (0..COUNT).filter(|&i| i != BAD).collect();
    assert_eq!(values, expected);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_reports_arrive_while_the_request_is_still_open() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-live");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    tx.send(Ok(
        json!({"value": {"type": "STRING", "data": "one"}}).to_string()
    ))
    .await
    .expect("send");
    let resp = cluster
        .http()
        .post(format!("{}{path}", cluster.rest_url()))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut seen = Vec::new();
    for (i, next) in ["two", "three"].into_iter().enumerate() {
        // The report of the records sent so far arrives before the next record is sent.
        let deadline = Instant::now() + WAIT;
        while concatenated_prefix(&seen) < i + 1 {
            let chunk = tokio::time::timeout_at(deadline.into(), stream.next())
                .await
                .expect("a report in time")
                .expect("stream open")
                .expect("chunk");
            seen.extend_from_slice(&chunk);
        }
        tx.send(Ok(
            json!({"value": {"type": "STRING", "data": next}}).to_string()
        ))
        .await
        .expect("send");
    }
    // A malformed element in the middle of a stream ends it with an error report.
    tx.send(Ok("{broken".to_string())).await.expect("send");
    drop(tx);
    while let Some(chunk) = stream.next().await {
        seen.extend_from_slice(&chunk.expect("chunk"));
    }
    let reports = concatenated_json(&seen);
    assert_eq!(reports.len(), 4, "{reports:?}");
    for (i, r) in reports[..3].iter().enumerate() {
        assert_eq!(
            (&r["error_code"], &r["offset"]),
            (&json!(200), &json!(i)),
            "{r}"
        );
    }
    assert_eq!(reports[3]["error_code"], 400);
    cluster.stop().await;
}

/// How many complete JSON values `bytes` starts with.
fn concatenated_prefix(bytes: &[u8]) -> usize {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .take_while(Result::is_ok)
        .count()
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_successes_and_failures_by_id() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-batch");
    cluster.create_topic(&topic, 1).await;
    let path = format!("{}:batch", records_path(&cluster, &topic).await);
    let (status, body) = cluster.post_json(&path,
        &json!({"entries": [
            {"id": "a", "value": {"type": "STRING", "data": "first"}},
            {"id": "b", "value": {"type": "BINARY", "data": 7}},
            {"id": "c", "key": {"type": "STRING", "data": "k"}, "value": {"type": "JSON", "data": [1]}},
        ]}),
    )
    .await;
    assert_eq!(status, 207, "{body}");
    let successes = body["successes"].as_array().expect("successes");
    assert_eq!(successes.len(), 2, "{body}");
    assert_eq!(
        (&successes[0]["id"], &successes[0]["offset"]),
        (&json!("a"), &json!(0))
    );
    assert_eq!(
        (&successes[1]["id"], &successes[1]["offset"]),
        (&json!("c"), &json!(1))
    );
    assert_eq!(successes[1]["value"], json!({"type": "JSON", "size": 3}));
    assert_eq!(
        body["failures"],
        json!([{"id": "b", "error_code": 400, "message": "Bad Request: data=7 is not a base64 string."}])
    );
    let landed = read_back(&cluster, &topic, 2).await;
    assert_eq!(landed[0].value.as_deref(), Some(&b"first"[..]));
    assert_eq!(landed[1].value.as_deref(), Some(&b"[1]"[..]));

    let (status, body) = cluster.post_json(&path,
        &json!({"entries": [{"id": "x", "value": {"type": "STRING", "data": "1"}}, {"id": "x"}]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_stream_loses_nothing_acknowledged() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-vanish");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(64);
    let record =
        |i: usize| Ok(json!({"value": {"type": "STRING", "data": format!("r{i}")}}).to_string());
    tx.send(record(0)).await.expect("send");
    let resp = cluster
        .http()
        .post(format!("{}{path}", cluster.rest_url()))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    for i in 1..50 {
        tx.send(record(i)).await.expect("send");
    }
    // Read some reports, then vanish without ending the request body.
    let mut stream = resp.bytes_stream();
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while concatenated_prefix(&seen) < 20 {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .expect("reports in time")
            .expect("stream open")
            .expect("chunk");
        seen.extend_from_slice(&chunk);
    }
    drop(stream);
    drop(tx);
    let acknowledged: Vec<Value> = serde_json::Deserializer::from_slice(&seen)
        .into_iter::<Value>()
        .take_while(Result::is_ok)
        .map(|v| v.expect("report"))
        .collect();
    assert!(acknowledged.len() >= 20);
    // Every acknowledged record is in Kafka at the offset its report named.
    let landed = read_back(&cluster, &topic, acknowledged.len()).await;
    for (i, report) in acknowledged.iter().enumerate() {
        assert_eq!(report["error_code"], 200, "{report}");
        let offset = report["offset"].as_u64().expect("offset") as usize;
        assert_eq!(
            landed[offset].value.as_deref(),
            Some(format!("r{i}").as_bytes()),
            "record {i}"
        );
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_message_size_limit_is_413() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-large");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    // Above librdkafka's default message.max.bytes (1 MB), well under the body limit.
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, body) = cluster
        .post_json(&path, &json!({"value": {"type": "STRING", "data": big}}))
        .await;
    assert_eq!((status, &body["error_code"]), (413, &json!(413)), "{body}");
    assert_eq!(
        body["message"],
        "The request included a message larger than the maximum message size the server can accept."
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_to_a_partition_added_moments_ago_succeeds() {
    if kgate_testkit::skip_unless_embedded(
        "reads the partition count back at once; on a cluster of several brokers new partitions reach the broker asked a moment later",
    ) {
        return;
    }
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-grown");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    // kgate's producer learns the topic while it has one partition.
    let (status, body) = cluster
        .post_json(
            &path,
            &json!({"partition_id": 0, "value": {"type": "STRING", "data": "before"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let topic_url = format!(
        "{}{}",
        cluster.rest_url(),
        path.trim_end_matches("/records")
    );
    let resp = cluster
        .http()
        .patch(&topic_url)
        .header("Content-Type", "application/json")
        .body(json!({"partitions_count": 3}).to_string())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // At once, a stream of records to the two new partitions.
    const COUNT: usize = 40;
    let chunks = (0..COUNT)
        .map(|i| {
            json!({
                "partition_id": 1 + i % 2,
                "value": {"type": "STRING", "data": format!("v{i}")}
            })
            .to_string()
        })
        .collect();
    let (status, reports) = cluster.post_streamed(&path, chunks).await;
    assert_eq!(status, 200);
    assert_eq!(reports.len(), COUNT);
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(report["error_code"], 200, "record {i}: {report}");
        assert_eq!(report["partition_id"], json!(1 + i % 2), "{report}");
        // Each partition's records landed in the order they were sent.
        assert_eq!(report["offset"], json!(i / 2), "{report}");
    }
    let landed = read_back(&cluster, &topic, COUNT + 1).await;
    for partition in 1..=2 {
        let values: Vec<Vec<u8>> = landed
            .iter()
            .filter(|l| l.partition == partition)
            .map(|l| l.value.clone().expect("value"))
            .collect();
        let expected: Vec<Vec<u8>> = (0..COUNT)
            .filter(|i| 1 + (*i as i32) % 2 == partition)
            .map(|i| format!("v{i}").into_bytes())
            .collect();
        assert_eq!(values, expected, "partition {partition}");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_mixes_plain_records_detours_and_misshapen_ones_in_order() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-mixed");
    cluster.create_topic(&topic, 2).await;
    let path = records_path(&cluster, &topic).await;
    // Each element: (request record, what must land as (partition, key, value, headers)
    // or None when the record fails with that error code).
    let cases: Vec<(String, Option<Landing>, u32)> = vec![
        (
            json!({"partition_id": 1, "key": {"type": "STRING", "data": "k"}, "value": {"type": "BINARY", "data": "aGVsbG8="}}).to_string(),
            Some((1, Some(b"k".to_vec()), Some(b"hello".to_vec()), vec![])),
            200,
        ),
        // Headers take the general conversion; order is kept around it.
        (
            json!({"partition_id": 0, "headers": [{"name": "h", "value": "eA=="}, {"name": "n", "value": null}], "value": {"type": "STRING", "data": "with headers"}}).to_string(),
            Some((0, None, Some(b"with headers".to_vec()), vec![("h".to_string(), Some(b"x".to_vec())), ("n".to_string(), None)])),
            200,
        ),
        // Escaped strings and JSON data.
        (
            json!({"partition_id": 0, "value": {"type": "string", "data": "a \"quoted\" \u{e9}"}}).to_string(),
            Some((0, None, Some("a \"quoted\" \u{e9}".as_bytes().to_vec()), vec![])),
            200,
        ),
        (
            r#"{"partition_id": 1, "key": {"type": "JSON", "data": {"id": 7,  "tags": ["a"]}}, "value": {"type": "JSON", "data": null}, "timestamp": "2021-02-05T19:14:42.5Z"}"#.to_string(),
            Some((1, Some(br#"{"id":7,"tags":["a"]}"#.to_vec()), None, vec![])),
            200,
        ),
        // Well-formed JSON of the wrong shape fails alone.
        (json!({"partition_id": "one", "value": {"type": "STRING", "data": "x"}}).to_string(), None, 400),
        (json!(["not", "a", "record"]).to_string(), None, 400),
        (json!({"value": {"type": "NOPE", "data": "x"}}).to_string(), None, 400),
        (json!({"partition_id": 9, "value": {"type": "STRING", "data": "x"}}).to_string(), None, 40403),
        (
            json!({"partition_id": 0, "value": {"type": "BINARY", "data": "bGFzdA=="}}).to_string(),
            Some((0, None, Some(b"last".to_vec()), vec![])),
            200,
        ),
    ];
    // One record per chunk, the last chunk split inside a record.
    let mut chunks: Vec<String> = cases.iter().map(|(r, _, _)| r.clone()).collect();
    let last = chunks.pop().expect("a record");
    let (head, tail) = last.split_at(10);
    chunks.push(head.to_string());
    chunks.push(format!("{tail}\n"));
    let (status, reports) = cluster.post_streamed(&path, chunks).await;
    assert_eq!(status, 200);
    assert_eq!(reports.len(), cases.len(), "{reports:?}");
    let mut expected_landed = Vec::new();
    for (i, ((_, landing, code), report)) in cases.iter().zip(&reports).enumerate() {
        assert_eq!(report["error_code"], *code, "record {i}: {report}");
        if let Some((partition, key, value, headers)) = landing {
            assert_eq!(report["partition_id"], *partition, "record {i}: {report}");
            let size = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, Vec::len);
            if key.is_some() {
                assert_eq!(report["key"]["size"], size(key), "record {i}: {report}");
            }
            assert_eq!(report["value"]["size"], size(value), "record {i}: {report}");
            expected_landed.push((*partition, key.clone(), value.clone(), headers.clone()));
        }
    }
    // Java's Instant prints whole milliseconds.
    assert_eq!(
        reports[3]["timestamp"], "2021-02-05T19:14:42.500Z",
        "{}",
        reports[3]
    );
    assert_eq!(reports[3]["key"]["type"], "JSON");
    assert_eq!(reports[2]["value"]["type"], "STRING");

    let landed = read_back(&cluster, &topic, expected_landed.len()).await;
    let got: Vec<Landing> = landed
        .into_iter()
        .map(|l| (l.partition, l.key, l.value, l.headers))
        .collect();
    expected_landed.sort_by_key(|l| l.0);
    assert_eq!(got, expected_landed);
    cluster.stop().await;
}

/// Where a record must land: partition, key, value, headers.
type Landing = (
    i32,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_streamed_records_fill_each_partition_in_turn() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-records-keyless");
    cluster.create_topic(&topic, 3).await;
    let path = records_path(&cluster, &topic).await;
    let records: Vec<String> = (0..3000)
        .map(|i| json!({"value": {"type": "STRING", "data": format!("v{i}")}}).to_string())
        .collect();
    let chunks = records.chunks(250).map(|c| c.concat()).collect();
    let (status, reports) = cluster.post_streamed(&path, chunks).await;
    assert_eq!(status, 200);
    assert_eq!(reports.len(), 3000);
    // Runs of 1,000 records per partition, each partition once.
    let partitions: Vec<i64> = reports
        .iter()
        .map(|r| r["partition_id"].as_i64().expect("partition"))
        .collect();
    for run in partitions.chunks(1000) {
        assert!(run.iter().all(|p| *p == run[0]), "{run:?}");
    }
    let mut firsts: Vec<i64> = partitions.chunks(1000).map(|run| run[0]).collect();
    firsts.sort_unstable();
    assert_eq!(firsts, vec![0, 1, 2]);
    let landed = read_back(&cluster, &topic, 3000).await;
    for p in 0..3 {
        assert_eq!(landed.iter().filter(|l| l.partition == p).count(), 1000);
    }
    cluster.stop().await;
}
