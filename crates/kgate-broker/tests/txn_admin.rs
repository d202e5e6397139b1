//! ListTransactions and DescribeTransactions through raw requests (librdkafka has no
//! client for them), checked against transactions driven raw and by rdkafka, and the
//! expiry of idle transactional ids (`transactional.id.expiration.ms`).

mod support;
mod txn_wire;

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use support::{DEADLINE, start_in, unique};
use tokio::net::TcpStream;
use txn_wire::*;

/// TRANSACTIONAL_ID_NOT_FOUND.
const NOT_FOUND: i16 = 105;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_listed_by_state_producer_and_duration_and_described() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut c = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("txn-list");
    create_topic(&mut c, &topic, 2).await;
    let [empty, ongoing, committed, aborted] =
        ["empty", "ongoing", "committed", "aborted"].map(|n| unique(&format!("tid-{n}")));
    let p_empty = init_producer_id(&mut c, Some(&empty), 60_000)
        .await
        .unwrap();
    let p_ongoing = init_producer_id(&mut c, Some(&ongoing), 45_000)
        .await
        .unwrap();
    let p_committed = init_producer_id(&mut c, Some(&committed), 60_000)
        .await
        .unwrap();
    let p_aborted = init_producer_id(&mut c, Some(&aborted), 60_000)
        .await
        .unwrap();
    let both = [(topic.as_str(), 0), (topic.as_str(), 1)];
    let added = add_partitions(&mut c, &ongoing, p_ongoing, &both).await;
    assert!(added.iter().all(|a| a.2 == 0), "{added:?}");
    for (id, p, commit) in [
        (&committed, p_committed, true),
        (&aborted, p_aborted, false),
    ] {
        add_partitions(&mut c, id, p, &[(topic.as_str(), 0)]).await;
        assert_eq!(end_txn(&mut c, id, p, commit).await, 0);
    }

    let (all, unknown) = list_transactions(&mut c, ListFilter::default()).await;
    let mut expected = vec![
        (empty.clone(), p_empty.0, "Empty".to_string()),
        (ongoing.clone(), p_ongoing.0, "Ongoing".to_string()),
        (
            committed.clone(),
            p_committed.0,
            "CompleteCommit".to_string(),
        ),
        (aborted.clone(), p_aborted.0, "CompleteAbort".to_string()),
    ];
    expected.sort();
    assert_eq!(all, expected);
    assert!(unknown.is_empty());

    let ids = |listed: Vec<(String, i64, String)>| -> Vec<String> {
        listed.into_iter().map(|l| l.0).collect()
    };
    let filter = ListFilter {
        states: &["Ongoing"],
        ..Default::default()
    };
    let (listed, _) = list_transactions(&mut c, filter).await;
    assert_eq!(ids(listed), std::slice::from_ref(&ongoing));
    let filter = ListFilter {
        states: &["CompleteCommit", "CompleteAbort", "Sleeping"],
        ..Default::default()
    };
    let (listed, unknown) = list_transactions(&mut c, filter).await;
    let mut finished = vec![committed.clone(), aborted.clone()];
    finished.sort();
    assert_eq!(ids(listed), finished);
    assert_eq!(unknown, ["Sleeping"]);
    let filter = ListFilter {
        producer_ids: &[p_empty.0, p_committed.0],
        ..Default::default()
    };
    let (listed, _) = list_transactions(&mut c, filter).await;
    let mut by_producer = vec![empty.clone(), committed.clone()];
    by_producer.sort();
    assert_eq!(ids(listed), by_producer);
    // v1: a transaction open for less than a minute is not "running longer than" it.
    let filter = ListFilter {
        states: &["Ongoing"],
        min_duration_ms: Some(60_000),
        ..Default::default()
    };
    assert!(list_transactions(&mut c, filter).await.0.is_empty());
    let filter = ListFilter {
        states: &["Ongoing"],
        min_duration_ms: Some(-1),
        ..Default::default()
    };
    assert_eq!(
        ids(list_transactions(&mut c, filter).await.0),
        std::slice::from_ref(&ongoing)
    );

    let described =
        describe_transactions(&mut c, &[ongoing.as_str(), &committed, "no-such-tid"]).await;
    let open = &described[0];
    assert_eq!(open.error_code, 0);
    assert_eq!(open.transaction_state.as_str(), "Ongoing");
    assert_eq!(open.producer_id.0, p_ongoing.0);
    assert_eq!(open.producer_epoch, p_ongoing.1);
    assert_eq!(open.transaction_timeout_ms, 45_000);
    assert!(open.transaction_start_time_ms > 0);
    assert_eq!(open.topics.len(), 1, "{open:?}");
    assert_eq!(open.topics[0].topic.as_str(), topic);
    assert_eq!(open.topics[0].partitions, [0, 1]);
    let done = &described[1];
    assert_eq!(done.transaction_state.as_str(), "CompleteCommit");
    assert!(done.topics.is_empty(), "{done:?}");
    assert_eq!(described[2].error_code, NOT_FOUND);
    assert_eq!(described[2].transactional_id.as_str(), "no-such-tid");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rdkafka_transaction_is_described_while_open_and_after_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let mut c = TcpStream::connect(addr).await.unwrap();
    let topic = unique("txn-describe");
    create_topic(&mut c, &topic, 1).await;
    let txn_id = unique("tid-rdkafka");
    let (id, t) = (txn_id.clone(), topic.clone());
    let producer = tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", addr.to_string())
            .set("transactional.id", &id)
            .set("transaction.timeout.ms", "30000")
            .create()
            .unwrap();
        producer.init_transactions(DEADLINE).unwrap();
        producer.begin_transaction().unwrap();
        producer
            .send(BaseRecord::<(), _>::to(&t).partition(0).payload("v"))
            .unwrap();
        producer.flush(DEADLINE).unwrap();
        producer
    })
    .await
    .unwrap();
    let open = describe_transactions(&mut c, &[&txn_id]).await.remove(0);
    assert_eq!(open.transaction_state.as_str(), "Ongoing");
    assert_eq!(open.transaction_timeout_ms, 30_000);
    assert_eq!(open.topics[0].topic.as_str(), topic);
    let producer = tokio::task::spawn_blocking(move || {
        producer.commit_transaction(DEADLINE).unwrap();
        producer
    })
    .await
    .unwrap();
    let done = describe_transactions(&mut c, &[&txn_id]).await.remove(0);
    assert_eq!(done.transaction_state.as_str(), "CompleteCommit");
    assert_eq!(done.producer_id, open.producer_id);
    let filter = ListFilter {
        producer_ids: &[open.producer_id.0],
        ..Default::default()
    };
    let (listed, _) = list_transactions(&mut c, filter).await;
    assert_eq!(
        listed,
        [(txn_id.clone(), open.producer_id.0, "CompleteCommit".into())]
    );
    drop(producer);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_transactional_ids_expire_durably_but_open_transactions_stay() {
    let dir = tempfile::tempdir().unwrap();
    let props = [("transactional.id.expiration.ms", "3000")];
    let broker = start_in(dir.path(), &props).await;
    let mut c = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("txn-expiry");
    create_topic(&mut c, &topic, 1).await;
    let [idle, open] = ["idle", "open"].map(|n| unique(&format!("tid-{n}")));
    let p_idle = init_producer_id(&mut c, Some(&idle), 60_000).await.unwrap();
    let p_open = init_producer_id(&mut c, Some(&open), 120_000)
        .await
        .unwrap();
    add_partitions(&mut c, &open, p_open, &[(topic.as_str(), 0)]).await;
    let listed = |l: &[(String, i64, String)], id: &str| l.iter().any(|t| t.0 == id);
    let (now, _) = list_transactions(&mut c, ListFilter::default()).await;
    assert!(listed(&now, &idle) && listed(&now, &open), "{now:?}");

    let start = Instant::now();
    loop {
        let (now, _) = list_transactions(&mut c, ListFilter::default()).await;
        if !listed(&now, &idle) {
            assert!(listed(&now, &open), "an open transaction never expires");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the idle id never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        describe_transactions(&mut c, &[&idle]).await[0].error_code,
        NOT_FOUND
    );
    drop(c);
    broker.shutdown().await.unwrap();

    // Forgotten for good: after a restart the id is unknown, and initialising it again
    // starts over with a new producer id.
    let broker = start_in(dir.path(), &props).await;
    let mut c = TcpStream::connect(broker.local_addr()).await.unwrap();
    let gone = describe_transactions(&mut c, &[&idle, &open]).await;
    assert_eq!(gone[0].error_code, NOT_FOUND);
    assert_eq!(gone[1].transaction_state.as_str(), "Ongoing");
    let again = init_producer_id(&mut c, Some(&idle), 60_000).await.unwrap();
    assert_ne!(again.0, p_idle.0);
    assert_eq!(again.1, 0);
    broker.shutdown().await.unwrap();
}

/// ListTransactions v2 with a transactional-id pattern: (error code, listed ids sorted).
async fn list_matching(c: &mut TcpStream, pattern: Option<&str>) -> (i16, Vec<String>) {
    use kafka_protocol::messages::{ApiKey, ListTransactionsRequest, RequestKind, ResponseKind};
    let mut req = ListTransactionsRequest::default();
    req.transactional_id_pattern = pattern.map(s);
    let ResponseKind::ListTransactions(resp) = support::wire::call(
        c,
        RequestKind::ListTransactions(req),
        ApiKey::ListTransactions,
        2,
    )
    .await
    else {
        panic!("not a ListTransactions response")
    };
    let mut ids: Vec<String> = resp
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.to_string())
        .collect();
    ids.sort();
    (resp.error_code, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_transactions_v2_filters_ids_by_a_whole_match_regular_expression() {
    /// INVALID_REGULAR_EXPRESSION.
    const INVALID_REGEX: i16 = 128;
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut c = TcpStream::connect(broker.local_addr()).await.unwrap();
    let stem = unique("rx");
    let (orders1, orders2, payments) = (
        format!("{stem}-orders-1"),
        format!("{stem}-orders-2"),
        format!("{stem}-payments"),
    );
    for id in [&orders1, &orders2, &payments] {
        init_producer_id(&mut c, Some(id), 60_000).await.unwrap();
    }
    let mut all = vec![orders1.clone(), orders2.clone(), payments.clone()];
    all.sort();
    // Null and empty patterns list everything.
    assert_eq!(list_matching(&mut c, None).await, (0, all.clone()));
    assert_eq!(list_matching(&mut c, Some("")).await, (0, all.clone()));
    let orders = format!("{stem}-orders-\\d+");
    assert_eq!(
        list_matching(&mut c, Some(&orders)).await,
        (0, vec![orders1.clone(), orders2.clone()])
    );
    let either = format!("{stem}-(orders-2|payments)");
    assert_eq!(
        list_matching(&mut c, Some(&either)).await,
        (0, vec![orders2.clone(), payments.clone()])
    );
    // The pattern must match the whole id, as Java's Matcher.matches(): a prefix or a
    // substring selects nothing.
    assert_eq!(list_matching(&mut c, Some(&stem)).await, (0, vec![]));
    assert_eq!(list_matching(&mut c, Some("orders")).await, (0, vec![]));
    assert_eq!(
        list_matching(&mut c, Some(&format!("{stem}.*"))).await,
        (0, all)
    );
    for bad in ["(unclosed", "a)(b", "*x"] {
        assert_eq!(
            list_matching(&mut c, Some(bad)).await,
            (INVALID_REGEX, vec![]),
            "{bad}"
        );
    }
    broker.shutdown().await.unwrap();
}
