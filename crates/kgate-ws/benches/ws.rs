//! The WebSocket proxy measured against the native Kafka client (issue 15).
//!
//! Starts the broker (`kgate broker`) and a separate `kgate serve` pointed at it, so the
//! gateway's CPU and RSS are read from /proc apart from the broker and from this process
//! (the WebSocket clients and the native client). Workloads, 100 B values by default:
//!
//! - `native-in`: rdkafka producer (acks=all, idempotence, linger 5 ms), all in flight;
//! - `ws-in`: the same records as frames on `/socket/in` sockets, results read back;
//! - `native-out`: rdkafka consumer reading them from the beginning;
//! - `ws-out`: one `/socket/out` socket reading them;
//! - `idle`: N idle `/socket/in` sockets held open; the gateway's RSS before and after.
//!
//! ```text
//! cargo build --release -p kgate
//! cargo bench -p kgate-ws --bench ws -- [--records N] [--size B] [--sockets N]
//!     [--idle N] [--workloads native-in,ws-in,native-out,ws-out,idle] [--kgate PATH]
//!     [--set key=value ...]   # more settings for the gateway's `kgate serve`
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_tungstenite::tungstenite::Message;

struct Options {
    records: usize,
    size: usize,
    sockets: usize,
    idle: usize,
    workloads: Vec<String>,
    kgate: std::path::PathBuf,
    /// More `--set` settings for the gateway.
    sets: Vec<String>,
}

fn options() -> Options {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_string());
    let mut o = Options {
        records: 200_000,
        size: 100,
        sockets: 4,
        idle: 10_000,
        workloads: ["native-in", "ws-in", "native-out", "ws-out", "idle"]
            .map(String::from)
            .to_vec(),
        kgate: std::path::PathBuf::from(target).join("release/kgate"),
        sets: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--records" => o.records = value().parse().expect("--records N"),
            "--size" => o.size = value().parse().expect("--size B"),
            "--sockets" => o.sockets = value().parse().expect("--sockets N"),
            "--idle" => o.idle = value().parse().expect("--idle N"),
            "--workloads" => o.workloads = value().split(',').map(String::from).collect(),
            "--kgate" => o.kgate = value().into(),
            "--set" => o.sets.push(value()),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// A child process whose output lines are collected.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(program: &std::path::Path, args: &[String]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {}: {e} (build it: cargo build --release -p kgate)",
                    program.display()
                )
            });
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines }
    }

    fn wait_for(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line {prefix:?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds (user + system) used by `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Row {
    name: &'static str,
    records: usize,
    seconds: f64,
    gateway_cpu: Option<f64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = Proc::spawn(
        &o.kgate,
        &[
            "broker".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            dir.path().join("broker").display().to_string(),
            // A new group's first join would wait Kafka's 3 s for more members: a cost
            // of the ws-out socket's start, not of its throughput (native-out assigns).
            "--set".into(),
            "group.initial.rebalance.delay.ms=0".into(),
        ],
    );
    let bootstrap = broker.wait_for("kgate broker listening on ");
    let set = |kv: &str| ["--set".to_string(), kv.to_string()];
    let mut args = vec!["serve".to_string()];
    for kv in [
        format!("bootstrap.servers={bootstrap}"),
        "listeners=http://127.0.0.1:0".into(),
        "schema.registry.enable=false".into(),
        "ws.listeners=http://127.0.0.1:0".into(),
        "ws.admin.listeners=http://127.0.0.1:0".into(),
        // Every socket holds a connection: room for the idle workload's sockets.
        format!("server.connection.limit={}", o.idle + 1_000),
        format!("data.dir={}", dir.path().join("gateway").display()),
        // Connect's state topics would ask for Apache's replication factor of 3.
        "connect.enable=false".into(),
    ]
    .into_iter()
    .chain(o.sets.iter().cloned())
    {
        args.extend(set(&kv));
    }
    let gateway = Proc::spawn(&o.kgate, &args);
    let ws_http = gateway.wait_for("kgate WebSocket proxy listening on ");
    let ws = format!("ws://{}", ws_http.trim_start_matches("http://"));
    println!(
        "kgate WebSocket proxy at {ws}, broker at {bootstrap}; {} records of {} B, {} sockets, {} cores",
        o.records,
        o.size,
        o.sockets,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    for topic in ["native-in", "ws-in"] {
        admin
            .create_topics(
                &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .expect("create topics");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let value = "x".repeat(o.size);
    let mut rows = Vec::new();
    let wants = |w: &str| o.workloads.iter().any(|x| x == w);
    if wants("native-in") || wants("native-out") || wants("ws-out") {
        rows.push(native_in(&bootstrap, &value, o.records).await);
    }
    if wants("ws-in") {
        let cpu = cpu_seconds(gateway.pid());
        let mut row = ws_in(&ws, &value, o.records, o.sockets).await;
        row.gateway_cpu = Some(cpu_seconds(gateway.pid()) - cpu);
        rows.push(row);
    }
    if wants("native-out") {
        rows.push(native_out(&bootstrap, o.records).await);
    }
    if wants("ws-out") {
        let cpu = cpu_seconds(gateway.pid());
        let mut row = ws_out(&ws, o.records).await;
        row.gateway_cpu = Some(cpu_seconds(gateway.pid()) - cpu);
        rows.push(row);
    }
    println!();
    println!("| workload | records | seconds | records/s | vs native | gateway CPU s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let rate = |r: &Row| r.records as f64 / r.seconds;
    let native_in_rate = rows.iter().find(|r| r.name == "native-in").map(rate);
    let native_out_rate = rows.iter().find(|r| r.name == "native-out").map(rate);
    for r in &rows {
        let base = if r.name.ends_with("-in") {
            native_in_rate
        } else {
            native_out_rate
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} |",
            r.name,
            r.records,
            r.seconds,
            rate(r),
            base.map_or("".into(), |b| format!("{:.2}", rate(r) / b)),
            r.gateway_cpu.map_or("".into(), |c| format!("{c:.2}")),
        );
    }
    if wants("idle") {
        idle(&ws, gateway.pid(), o.idle).await;
    }
}

/// Counts delivery reports, so the native producer pays no future per record.
#[derive(Default)]
struct Counted {
    delivered: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicUsize,
}

impl rdkafka::ClientContext for Counted {}

impl rdkafka::producer::ProducerContext for Counted {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        use std::sync::atomic::Ordering;
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

async fn native_in(bootstrap: &str, value: &str, records: usize) -> Row {
    use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    use std::sync::atomic::Ordering;
    let bootstrap = bootstrap.to_string();
    let value = value.to_string();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<Counted> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(Counted::default())
            .expect("producer");
        let started = Instant::now();
        for _ in 0..records {
            let mut record = BaseRecord::<(), str>::to("native-in").payload(value.as_str());
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(120)).expect("flush");
        let context = producer.context();
        assert_eq!(
            context.failed.load(Ordering::Relaxed),
            0,
            "native deliveries failed"
        );
        assert_eq!(context.delivered.load(Ordering::Relaxed), records);
        Row {
            name: "native-in",
            records,
            seconds: started.elapsed().as_secs_f64(),
            gateway_cpu: None,
        }
    })
    .await
    .expect("native producer")
}

async fn ws_in(ws: &str, value: &str, records: usize, sockets: usize) -> Row {
    let frame = serde_json::json!({"value": {"value": value, "format": "string"}}).to_string();
    let per_socket = records / sockets;
    let mut connections = Vec::new();
    for i in 0..sockets {
        let url = format!("{ws}/socket/in?clientId=bench-{i}&topic=ws-in");
        let (socket, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        connections.push(socket);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for socket in connections {
        let frame = frame.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            let writer = tokio::spawn(async move {
                for i in 0..per_socket {
                    sink.feed(Message::Text(frame.clone().into()))
                        .await
                        .expect("send");
                    if i % 256 == 255 {
                        sink.flush().await.expect("flush");
                    }
                }
                sink.flush().await.expect("flush");
                sink
            });
            let mut answered = 0;
            while answered < per_socket {
                match stream.next().await {
                    Some(Ok(Message::Text(t))) => {
                        assert!(!t.contains("\"error\""), "{t}");
                        answered += 1;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("socket ended: {other:?}"),
                }
            }
            let mut sink = writer.await.expect("writer");
            let _ = sink.close().await;
        }));
    }
    for t in tasks {
        t.await.expect("socket task");
    }
    Row {
        name: "ws-in",
        records: per_socket * sockets,
        seconds: started.elapsed().as_secs_f64(),
        gateway_cpu: None,
    }
}

async fn native_out(bootstrap: &str, records: usize) -> Row {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "bench-native-out")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("native-in", 0, Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let started = Instant::now();
        let mut got = 0;
        while got < records {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                m.expect("record");
                got += 1;
            }
        }
        Row {
            name: "native-out",
            records,
            seconds: started.elapsed().as_secs_f64(),
            gateway_cpu: None,
        }
    })
    .await
    .expect("native consumer")
}

async fn ws_out(ws: &str, records: usize) -> Row {
    let url = format!("{ws}/socket/out?clientId=bench&groupId=bench-ws-out&topic=native-in");
    let started = Instant::now();
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let mut got = 0;
    while got < records {
        match socket.next().await {
            Some(Ok(Message::Text(_))) => got += 1,
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = socket.close(None).await;
    Row {
        name: "ws-out",
        records,
        seconds,
        gateway_cpu: None,
    }
}

async fn idle(ws: &str, pid: u32, count: usize) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss(pid);
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(count);
    let mut opening = futures::stream::FuturesUnordered::new();
    let mut next = 0;
    while sockets.len() < count {
        while next < count && opening.len() < 100 {
            let url = format!("{ws}/socket/in?clientId=idle&topic=ws-in");
            opening.push(async move { tokio_tungstenite::connect_async(url).await });
            next += 1;
        }
        match opening.next().await {
            Some(Ok((socket, _))) => sockets.push(socket),
            Some(Err(e)) => panic!("opening an idle socket failed after {}: {e}", sockets.len()),
            None => break,
        }
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss(pid);
    println!();
    println!(
        "idle: {count} /socket/in sockets opened in {:.1} s; gateway RSS {} MiB before, {} MiB with them open ({:.1} KiB per socket)",
        opened.as_secs_f64(),
        before / (1024 * 1024),
        after / (1024 * 1024),
        (after.saturating_sub(before)) as f64 / 1024.0 / count as f64
    );
    for mut s in sockets {
        let _ = s.close(None).await;
    }
}
