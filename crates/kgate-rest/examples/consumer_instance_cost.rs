//! Measures what one v2 consumer instance costs the process: threads, file descriptors
//! and resident memory, read from `/proc/self` before and after creating instances.
//!
//! ```sh
//! cargo run -p kgate-rest --example consumer_instance_cost -- 200
//! cargo run -p kgate-rest --example consumer_instance_cost -- 200 connections.max.idle.ms=10000
//! ```
//!
//! The first argument is how many instances to create (each subscribed to one topic in
//! its own group, as clients use them); the others are librdkafka settings for the
//! instances' consumers (`consumer.*` without the prefix). The embedded broker runs in
//! the same process, so only the differences are the instances' cost.

use std::time::Duration;

use kgate_testkit::{TestCluster, unique_name};
use serde_json::json;

/// Threads, open file descriptors and resident kilobytes of this process.
fn usage() -> (u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    (field("Threads:"), fds, field("VmRSS:"))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let mut builder = TestCluster::builder();
    let mut settings = Vec::new();
    for setting in args {
        if let Some((k, v)) = setting.split_once('=') {
            builder = builder.consumer_property(k, v);
            settings.push(setting.clone());
        }
    }
    let cluster = builder.start().await;
    let topic = unique_name("cost");
    cluster.create_topic(&topic, 1).await;
    let http = cluster.http();
    let url = cluster.rest_url();
    let v2_type = "application/vnd.kafka.v2+json";
    // One instance first, so that what every instance shares (the REST server's pools,
    // the broker's first group) is counted before the measurement starts.
    let mut instances = Vec::new();
    let create = |group: String| {
        let http = http.clone();
        let url = url.clone();
        let topic = topic.clone();
        async move {
            let created: serde_json::Value = http
                .post(format!("{url}/consumers/{group}"))
                .header("Content-Type", v2_type)
                .body(json!({"auto.offset.reset": "earliest"}).to_string())
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("created");
            let base = created["base_uri"].as_str().expect("base_uri").to_string();
            let subscribed = http
                .post(format!("{base}/subscription"))
                .header("Content-Type", v2_type)
                .body(json!({"topics": [topic]}).to_string())
                .send()
                .await
                .expect("subscribe");
            assert_eq!(subscribed.status().as_u16(), 204);
            base
        }
    };
    instances.push(create(unique_name("warm")).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (t0, f0, r0) = usage();
    for _ in 0..count {
        instances.push(create(unique_name("g")).await);
    }
    // Let every group settle (joins, first fetches) before measuring.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (t1, f1, r1) = usage();
    let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / count as f64;
    println!(
        "{count} instances{}: threads {t0} -> {t1} ({:.1} each), fds {f0} -> {f1} ({:.1} each), RSS {} -> {} MiB ({:.0} KiB each)",
        if settings.is_empty() {
            String::new()
        } else {
            format!(" with {}", settings.join(" "))
        },
        per(t0, t1),
        per(f0, f1),
        r0 / 1024,
        r1 / 1024,
        per(r0, r1),
    );
    // Which threads there are, by name (librdkafka's start with `rdk:`).
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let name = name
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        *names.entry(name.to_string()).or_default() += 1;
    }
    println!("threads by name: {names:?}");
    for base in instances {
        let _ = http.delete(&base).send().await;
    }
    cluster.stop().await;
}
