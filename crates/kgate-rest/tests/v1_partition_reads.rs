//! REST Proxy v1 reads of one partition without a consumer group: seed 001's
//! `GET /topics/{t}/partitions/{p}/messages` by offset, count and timestamp, seed 002's
//! `GET /topics/{t}/partitions/{p}?offset=N`, their errors, and the bounded pool of
//! partition readers behind them (503 with 50301 when none is free in time).

use std::time::Duration;

use base64::Engine;
use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, text_answer, unique_name};
use rdkafka::producer::FutureRecord;
use serde_json::{Value, json};

const V1: &str = "application/vnd.kafka.v1+json";
const BINARY_V1: &str = "application/vnd.kafka.binary.v1+json";
const JSON_V1: &str = "application/vnd.kafka.json.v1+json";
/// 2019-10-15T13:30:00Z, the instant of seed 001's example, in milliseconds.
const SEED_INSTANT_MS: i64 = 1_571_146_200_000;

async fn get(cluster: &TestCluster, path: &str, accept: &str) -> (u16, String, Value) {
    let req = cluster
        .http()
        .get(format!("{}{path}", cluster.rest_url()))
        .header("Accept", accept);
    let (status, ct, text) = text_answer(req).await;
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, ct, body)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Produces `value` (with key `k<value>`) to `partition` with a given timestamp.
async fn produce_at(cluster: &TestCluster, topic: &str, partition: i32, value: &str, ts: i64) {
    let key = format!("k{value}");
    let record = FutureRecord::to(topic)
        .partition(partition)
        .key(key.as_bytes())
        .payload(value.as_bytes())
        .timestamp(ts);
    cluster
        .producer()
        .send(record, Duration::from_secs(30))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
}

/// The offsets of the records of a read.
fn offsets(records: &Value) -> Vec<i64> {
    records
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {records}"))
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect()
}

fn assert_error(answer: &(u16, String, Value), status: u16, code: u64, what: &str) {
    let (got, ct, body) = answer;
    assert_eq!(*got, status, "{what}: {body}");
    assert_eq!(body["error_code"], json!(code), "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(ct, V1, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_offset_count_and_timestamp() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-reads");
    cluster.create_topic(&topic, 2).await;
    // Partition 1 holds five records a second apart around the seed's instant; the JSON
    // values read back in both formats.
    for (i, value) in ["0", "1", "2", "3", "4"].iter().enumerate() {
        let ts = SEED_INSTANT_MS + (i as i64 - 2) * 1_000;
        produce_at(&cluster, &topic, 1, value, ts).await;
    }
    let messages = format!("/topics/{topic}/partitions/1/messages");

    // Seed 001's binary example: offset and count.
    let (status, ct, read) =
        get(&cluster, &format!("{messages}?offset=1&count=2"), BINARY_V1).await;
    assert_eq!((status, ct.as_str()), (200, BINARY_V1), "{read}");
    assert_eq!(
        read,
        json!([
            {"key": b64(b"k1"), "value": b64(b"1"), "partition": 1, "offset": 1},
            {"key": b64(b"k2"), "value": b64(b"2"), "partition": 1, "offset": 2},
        ])
    );
    // count defaults to 1.
    let (_, _, read) = get(&cluster, &format!("{messages}?offset=3"), BINARY_V1).await;
    assert_eq!(offsets(&read), vec![3]);
    // A count past the end returns what there is, without waiting for more.
    let started = std::time::Instant::now();
    let (status, _, read) = get(
        &cluster,
        &format!("{messages}?offset=2&count=100"),
        BINARY_V1,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(offsets(&read), vec![2, 3, 4]);
    assert!(started.elapsed() < Duration::from_secs(30));
    // JSON records, read in the json format.
    cluster
        .produce(&topic, Some(0), Some(br#""k""#), Some(br#"{"n":4}"#))
        .await;
    let (status, ct, read) = get(
        &cluster,
        &format!("/topics/{topic}/partitions/0/messages?offset=0"),
        JSON_V1,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, JSON_V1), "{read}");
    assert_eq!(
        read,
        json!([{"key": "k", "value": {"n": 4}, "partition": 0, "offset": 0}])
    );
    // By timestamp (seed 001's `timestamp`, and its example's instant given as `offset`).
    for query in [
        "timestamp=2019-10-15T13:30:00Z&count=2",
        "offset=2019-10-15T13:30:00Z&count=2",
        "timestamp=2019-10-15T15:30:00%2B02:00&count=2",
    ] {
        let (status, _, read) = get(&cluster, &format!("{messages}?{query}"), BINARY_V1).await;
        assert_eq!(status, 200, "{query}: {read}");
        assert_eq!(offsets(&read), vec![2, 3], "{query}");
    }
    // A time after every record: nothing.
    let (status, _, read) = get(
        &cluster,
        &format!("{messages}?timestamp=2030-01-01T00:00:00Z"),
        BINARY_V1,
    )
    .await;
    assert_eq!((status, read), (200, json!([])));
    // No offset at all: from the first record.
    let (_, _, read) = get(&cluster, &format!("{messages}?count=2"), V1).await;
    assert_eq!(offsets(&read), vec![0, 1]);

    // Seed 002's form: the partition path with an offset reads from there to the end.
    let (status, ct, read) = get(
        &cluster,
        &format!("/topics/{topic}/partitions/1?offset=1"),
        BINARY_V1,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, BINARY_V1), "{read}");
    assert_eq!(offsets(&read), vec![1, 2, 3, 4]);
    assert_eq!(read[0]["value"], json!(b64(b"1")));
    // Without one it is the partition's metadata.
    let (status, _, meta) = get(&cluster, &format!("/topics/{topic}/partitions/1"), V1).await;
    assert_eq!(
        (status, meta["partition"].clone()),
        (200, json!(1)),
        "{meta}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reads_get_the_seed_codes() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-reads-bad");
    cluster.create_topic(&topic, 1).await;
    for value in ["a", "b", "c"] {
        produce_at(&cluster, &topic, 0, value, SEED_INSTANT_MS).await;
    }
    let messages = format!("/topics/{topic}/partitions/0/messages");
    let missing = unique_name("v1-none");
    assert_error(
        &get(
            &cluster,
            &format!("/topics/{missing}/partitions/0/messages?offset=0"),
            BINARY_V1,
        )
        .await,
        404,
        40401,
        "unknown topic",
    );
    assert_error(
        &get(
            &cluster,
            &format!("/topics/{topic}/partitions/3/messages?offset=0"),
            BINARY_V1,
        )
        .await,
        404,
        40402,
        "unknown partition",
    );
    assert_error(
        &get(
            &cluster,
            &format!("/topics/{missing}/partitions/0?offset=0"),
            BINARY_V1,
        )
        .await,
        404,
        40401,
        "unknown topic, seed 002's form",
    );
    for (query, what) in [("offset=4", "past the end"), ("offset=-1", "negative")] {
        let answer = get(&cluster, &format!("{messages}?{query}"), BINARY_V1).await;
        assert_error(&answer, 422, 422, what);
        assert!(
            answer.2["message"].as_str().unwrap().contains("0 to 2"),
            "{what}: {}",
            answer.2
        );
    }
    for (query, what) in [
        ("offset=ten", "offset neither number nor instant"),
        ("timestamp=yesterday", "bad timestamp"),
        ("offset=0&count=-1", "negative count"),
        (
            "offset=0&timestamp=2019-10-15T13:30:00Z",
            "offset and timestamp",
        ),
    ] {
        assert_error(
            &get(&cluster, &format!("{messages}?{query}"), BINARY_V1).await,
            400,
            400,
            what,
        );
    }
    assert_error(
        &get(
            &cluster,
            &format!("{messages}?offset=0"),
            "application/vnd.kafka.avro.v1+json",
        )
        .await,
        415,
        415,
        "avro without a registry",
    );
    let (status, _, body) = get(
        &cluster,
        &format!("{messages}?offset=0"),
        "application/vnd.kafka.protobuf.v1+json",
    )
    .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (406, json!(406)),
        "{body}"
    );
    // Records that are not JSON, read as JSON: the data is wrong, not the server (422,
    // naming the offset to read past).
    assert_error(
        &get(&cluster, &format!("{messages}?offset=0"), JSON_V1).await,
        422,
        42206,
        "binary data read as json",
    );
    // count=0 is an empty read.
    let (status, _, read) = get(&cluster, &format!("{messages}?offset=0&count=0"), BINARY_V1).await;
    assert_eq!((status, read), (200, json!([])));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_at_the_end_waits_and_a_full_pool_answers_50301() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            simpleconsumer_pool_size_max: 1,
            simpleconsumer_pool_timeout: Duration::from_millis(200),
            consumer_request_timeout: Duration::from_secs(20),
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("v1-pool");
    cluster.create_topic(&topic, 1).await;
    let url = format!(
        "{}/topics/{topic}/partitions/0/messages?offset=0",
        cluster.rest_url()
    );

    // The partition is empty: this read takes the only reader and waits for a record.
    let waiting = tokio::spawn({
        let req = cluster.http().get(url.clone()).header("Accept", BINARY_V1);
        async move { text_answer(req).await }
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    if waiting.is_finished() {
        let (status, _, text) = waiting.await.expect("read task");
        panic!("the read at the end should wait, but answered {status}: {text}");
    }
    let busy = get(
        &cluster,
        &format!("/topics/{topic}/partitions/0/messages?offset=0"),
        BINARY_V1,
    )
    .await;
    assert_error(&busy, 503, 50301, "no reader free");

    cluster.produce(&topic, Some(0), None, Some(b"late")).await;
    let (status, _, text) = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the waiting read ends once a record arrives")
        .expect("read task");
    assert_eq!(status, 200, "{text}");
    let read: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        read,
        json!([{"key": null, "value": b64(b"late"), "partition": 0, "offset": 0}])
    );

    // The reader went back to the pool.
    let (status, _, read) = get(
        &cluster,
        &format!("/topics/{topic}/partitions/0/messages?offset=0"),
        BINARY_V1,
    )
    .await;
    assert_eq!((status, offsets(&read)), (200, vec![0]));
    cluster.stop().await;
}
