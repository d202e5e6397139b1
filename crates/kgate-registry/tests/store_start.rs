//! The store's start: a `_schemas` creation the broker refuses for want of room (as it
//! does while the process has too few file descriptors to spare) is waited for, then the
//! store serves as usual.

use std::time::Duration;

use kgate_registry::{RegistryConfig, Store};
use kgate_testkit::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schemas_topic_the_broker_has_no_room_for_yet_is_waited_for() {
    if kgate_testkit::skip_unless_embedded("sets max.broker.partitions") {
        return;
    }
    let cluster = TestCluster::builder()
        .broker_property("max.broker.partitions", "4")
        .start()
        .await;
    let kafka = cluster.kafka().clone();
    cluster.fill_partitions("filler", 4).await;

    let starting = {
        let kafka = kafka.clone();
        tokio::spawn(async move { Store::start(kafka, RegistryConfig::default()).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !starting.is_finished(),
        "the start ended while the broker still had no room: {:?}",
        starting.await.map(|r| r.map(|_| ()))
    );
    kafka.delete_topic("filler").await.expect("make room");
    let store = starting
        .await
        .expect("task")
        .expect("started once there is room");
    // Its NOOP record was read back, and nothing else is there.
    assert!(store.read(|state| state.subjects.is_empty()));
    let configs = kafka.topic_overrides("_schemas").await.expect("configs");
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    drop(store);
    cluster.stop().await;
}
