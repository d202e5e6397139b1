//! kgate measured against the native Kafka client (issue 7).
//!
//! Starts the broker (`kgate broker`) and a separate kgate gateway pointed at it, so the
//! gateway's own CPU and peak RSS are read from /proc apart from the broker and from this
//! process (the load generator and the native clients). Every workload runs for 100 B and
//! 1 KiB values; one table and the issue's goals are printed at the end. With `--apache`
//! every workload runs again against a running Apache Kafka cluster (issue 16), with a
//! gateway of its own, and a second table is printed.
//!
//! ```text
//! cargo bench -p kgate --bench gateway -- [--quick] [--records N] [--single N]
//!     [--c1000 N] [--sizes 100,1024] [--workloads name,prefix*,...] [--partitions N]
//!     [--connections N] [--streams N] [--kgate PATH] [--apache BOOTSTRAP]
//!     [--apache-pids PID,...] [--apache-only]
//! ```
//!
//! `cargo bench` builds the release `kgate` binary first and this program runs it.

mod loadgen;
mod native;
mod procs;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::loadgen::Template;
use crate::procs::Proc;
use crate::stats::{Row, Run};

/// What the command line chose.
struct Options {
    /// Records of the throughput workloads (native, v2 with 100 and 1,000 records per
    /// request, v3 streaming, consume) for 100 B values; a quarter of it for values of
    /// 1 KiB and more, so a run stays within minutes and a few GB of disk.
    records: u64,
    /// Records of the single-record workloads (v2 with 1 per request, v3 single, native
    /// latency).
    single: u64,
    /// Records of the 1,000-connection workload.
    c1000: u64,
    sizes: Vec<usize>,
    workloads: Option<Vec<String>>,
    partitions: i32,
    /// Concurrent connections of the v2 and v3 single-record workloads.
    connections: usize,
    /// Long-lived connections of v3 streaming.
    streams: usize,
    /// `max_bytes` of each v2 consumer read; one consume workload per value.
    max_bytes: Vec<u64>,
    kgate: PathBuf,
    /// Bootstrap servers of a running Apache Kafka cluster to measure too.
    apache: Option<String>,
    /// That cluster's broker processes, whose CPU seconds fill the broker column.
    apache_pids: Vec<u32>,
    /// Only the Apache Kafka run, not the embedded broker's.
    apache_only: bool,
}

/// The Kafka a gateway is measured on.
#[derive(Clone)]
enum Peer {
    /// `kgate broker`, started by this program.
    Embedded,
    /// A running cluster at these bootstrap servers, with these broker processes.
    Apache { bootstrap: String, pids: Vec<u32> },
}

impl Options {
    fn parse() -> Result<Options> {
        let mut o = Options {
            records: 500_000,
            single: 20_000,
            c1000: 50_000,
            sizes: vec![100, 1024],
            workloads: None,
            partitions: 1,
            connections: 8,
            streams: 4,
            max_bytes: vec![1024 * 1024, 64 * 1024 * 1024],
            kgate: PathBuf::from(env!("CARGO_BIN_EXE_kgate")),
            apache: None,
            apache_pids: Vec::new(),
            apache_only: false,
        };
        let mut quick = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                // cargo bench passes --bench to every bench program.
                "--bench" => {}
                "--quick" => quick = true,
                "--records" => o.records = value()?.parse()?,
                "--single" => o.single = value()?.parse()?,
                "--c1000" => o.c1000 = value()?.parse()?,
                "--partitions" => o.partitions = value()?.parse()?,
                "--connections" => o.connections = value()?.parse()?,
                "--streams" => o.streams = value()?.parse()?,
                "--max-bytes" => {
                    o.max_bytes = value()?
                        .split(',')
                        .map(|s| s.trim().parse())
                        .collect::<Result<_, _>>()?
                }
                "--kgate" => o.kgate = PathBuf::from(value()?),
                "--apache" => o.apache = Some(value()?),
                "--apache-pids" => {
                    o.apache_pids = value()?
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| s.trim().parse())
                        .collect::<Result<_, _>>()?
                }
                "--apache-only" => o.apache_only = true,
                "--sizes" => {
                    o.sizes = value()?
                        .split(',')
                        .map(|s| s.trim().parse())
                        .collect::<Result<_, _>>()?
                }
                "--workloads" => {
                    o.workloads = Some(value()?.split(',').map(|s| s.trim().to_string()).collect())
                }
                "-h" | "--help" => {
                    println!("{}", include_str!("usage.txt"));
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (see --help)"),
            }
        }
        if o.apache_only && o.apache.is_none() {
            bail!("--apache-only needs --apache BOOTSTRAP");
        }
        if quick {
            o.records /= 10;
            o.single /= 10;
            o.c1000 /= 10;
        }
        Ok(o)
    }

    fn wants(&self, workload: &str) -> bool {
        match &self.workloads {
            None => true,
            Some(list) => list.iter().any(|w| match w.strip_suffix('*') {
                Some(prefix) => workload.starts_with(prefix),
                None => w == workload,
            }),
        }
    }
}

/// The running processes and where they listen.
struct Setup {
    /// `kgate broker` on the embedded peer.
    broker: Option<Proc>,
    /// The Apache Kafka brokers' processes on that peer (may be empty: then the broker
    /// CPU column reads 0).
    broker_pids: Vec<u32>,
    /// What the topics' names start with: unique per run on a cluster that outlives it.
    prefix: String,
    gateway: Proc,
    bootstrap: String,
    rest: SocketAddr,
    cluster_id: String,
    data: tempfile::TempDir,
    /// Workload topics not deleted yet.
    topics: std::sync::Mutex<Vec<String>>,
}

/// CPU readings taken before a workload.
struct Before {
    gateway: f64,
    broker: f64,
    own: f64,
}

impl Setup {
    fn before(&self) -> Result<Before> {
        self.gateway.reset_peak()?;
        Ok(Before {
            gateway: self.gateway.cpu_seconds()?,
            broker: self.broker_cpu()?,
            own: procs::own_cpu_seconds(),
        })
    }

    /// CPU seconds of the broker side: `kgate broker`, or every Apache Kafka process.
    fn broker_cpu(&self) -> Result<f64> {
        match &self.broker {
            Some(b) => b.cpu_seconds(),
            None => self
                .broker_pids
                .iter()
                .map(|p| procs::cpu_seconds(*p))
                .sum(),
        }
    }

    fn row(
        &self,
        workload: &str,
        size: usize,
        before: Before,
        mut run: Run,
        native: bool,
    ) -> Result<Row> {
        Ok(Row {
            workload: workload.to_string(),
            size,
            rate: run.rate(),
            mb_s: run.mb_per_s(),
            p50: run.percentile_ms(0.50),
            p99: run.percentile_ms(0.99),
            peak_rss: (!native).then(|| self.gateway.peak_rss_mib()).transpose()?,
            kgate_cpu: self.gateway.cpu_seconds()? - before.gateway,
            broker_cpu: self.broker_cpu()? - before.broker,
            loadgen_cpu: procs::own_cpu_seconds() - before.own,
            ratio: None,
            errors: run.errors,
            records: run.records,
            seconds: run.elapsed.as_secs_f64(),
        })
    }
}

fn main() {
    let options = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gateway bench: {e:#}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gateway bench: no runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(options)) {
        eprintln!("gateway bench failed: {e:#}");
        std::process::exit(1);
    }
}

async fn run(options: Options) -> Result<()> {
    procs::raise_open_files();
    let started = Instant::now();
    println!(
        "kgate gateway benchmark: {} (records {}, single-record {}, 1,000-connection {}, sizes {:?}, {} partition(s))",
        options.kgate.display(),
        options.records,
        options.single,
        options.c1000,
        options.sizes,
        options.partitions
    );
    let all_in_one_idle = if options.wants("idle") || options.workloads.is_none() {
        Some(all_in_one_idle_rss(&options).await?)
    } else {
        None
    };
    let mut peers = Vec::new();
    if !options.apache_only {
        peers.push(Peer::Embedded);
    }
    if let Some(bootstrap) = &options.apache {
        peers.push(Peer::Apache {
            bootstrap: bootstrap.clone(),
            pids: options.apache_pids.clone(),
        });
    }
    for peer in peers {
        let name = match &peer {
            Peer::Embedded => "embedded broker (kgate broker)".to_string(),
            Peer::Apache { bootstrap, .. } => format!("Apache Kafka at {bootstrap}"),
        };
        println!("\n=== peer: {name}");
        let setup = start(&options, &peer).await?;
        // Idle: started, connected to the broker, no request served yet.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let gateway_idle = setup.gateway.rss_mib()?;
        println!("gateway idle RSS: {gateway_idle:.1} MiB");
        if let Some(rss) = all_in_one_idle {
            println!("all-in-one kgate (embedded broker) idle RSS: {rss:.1} MiB");
        }

        let mut rows = Vec::new();
        for &size in &options.sizes {
            if let Err(e) = run_size(&options, &setup, size, &mut rows).await {
                eprintln!("workloads of {size} B values stopped: {e:#}");
                eprintln!("gateway output tail:\n{}", setup.gateway.tail());
            }
            if let Err(e) = drop_topics(&setup, true).await {
                eprintln!("deleting the benchmark topics failed: {e:#}");
            }
        }
        println!("\npeer: {name}");
        stats::print_table(&rows);
        println!();
        goals(&rows, gateway_idle);
        println!(
            "\ngateway pid {}, broker pid(s) {}, data in {}",
            setup.gateway.pid(),
            match &setup.broker {
                Some(b) => b.pid().to_string(),
                None => format!("{:?}", setup.broker_pids),
            },
            setup.data.path().display()
        );
    }
    println!("\nwhole run: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Starts `kgate broker` (on the embedded peer) and a kgate gateway pointed at the peer.
async fn start(options: &Options, peer: &Peer) -> Result<Setup> {
    let data = tempfile::tempdir()?;
    let (broker, broker_pids, bootstrap, prefix) = match peer {
        Peer::Embedded => {
            let broker_dir = data.path().join("broker");
            let broker_dir = broker_dir.to_str().context("temporary path is not UTF-8")?;
            let mut broker = Proc::spawn(
                "kgate broker",
                &options.kgate,
                &[
                    "broker",
                    "--listen",
                    "127.0.0.1:0",
                    "--data-dir",
                    broker_dir,
                    "--log-level",
                    "warn",
                ],
            )?;
            let bootstrap = broker.wait_for("kgate broker listening on ")?;
            (Some(broker), Vec::new(), bootstrap, "bench".to_string())
        }
        Peer::Apache { bootstrap, pids } => {
            // The cluster outlives the run: topic names of their own.
            let tag = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            (None, pids.clone(), bootstrap.clone(), format!("bench{tag}"))
        }
    };
    let servers = format!("bootstrap.servers={bootstrap}");
    let mut gateway = Proc::spawn(
        "kgate gateway",
        &options.kgate,
        &[
            "serve",
            "--set",
            &servers,
            "--set",
            "listeners=http://127.0.0.1:0",
            "--set",
            "schema.registry.listeners=http://127.0.0.1:0",
            // Connect's state topics want replication 3 on a cluster kgate did not
            // start, which one broker cannot hold; this bench measures the REST gateway.
            "--set",
            "connect.enable=false",
        ],
    )?;
    let url = gateway.wait_for("kgate REST Proxy listening on ")?;
    let rest: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("REST address {url}"))?;
    let cluster_id = cluster_id(rest).await?;
    println!(
        "broker {bootstrap}, gateway {url} (pid {}), cluster {cluster_id}",
        gateway.pid()
    );
    Ok(Setup {
        broker,
        broker_pids,
        prefix,
        gateway,
        bootstrap,
        rest,
        cluster_id,
        data,
        topics: std::sync::Mutex::new(Vec::new()),
    })
}

/// RSS of `kgate` with its embedded broker, three seconds after start with no traffic.
async fn all_in_one_idle_rss(options: &Options) -> Result<f64> {
    let data = tempfile::tempdir()?;
    let dir = format!(
        "data.dir={}",
        data.path()
            .to_str()
            .context("temporary path is not UTF-8")?
    );
    let mut kgate = Proc::spawn(
        "all-in-one kgate",
        &options.kgate,
        &[
            "--set",
            &dir,
            "--set",
            "broker.listeners=127.0.0.1:0",
            "--set",
            "listeners=http://127.0.0.1:0",
            "--set",
            "schema.registry.listeners=http://127.0.0.1:0",
        ],
    )?;
    kgate.wait_for("kgate REST Proxy listening on ")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kgate.rss_mib()
}

async fn get_json(rest: SocketAddr, path: &str) -> Result<(StatusCode, serde_json::Value)> {
    let mut sender = loadgen::connect(rest).await?;
    let template = Template {
        method: Method::GET,
        path: path.to_string(),
        content_type: None,
        accept: "application/json",
        body: Bytes::new(),
    };
    let (status, body) = loadgen::call(&mut sender, &template).await?;
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    ))
}

async fn cluster_id(rest: SocketAddr) -> Result<String> {
    let (status, body) = get_json(rest, "/v3/clusters").await?;
    body["data"][0]["cluster_id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("GET /v3/clusters answered {status}: {body}"))
}

/// Creates a topic and waits until the gateway knows it; the previous workload's topic
/// (not the fill topic the consume workloads read) is deleted first, so a run keeps at
/// most two topics' data on disk.
async fn topic(setup: &Setup, options: &Options, name: &str) -> Result<()> {
    drop_topics(setup, false).await?;
    native::create_topic(&setup.bootstrap, name, options.partitions).await?;
    if let Ok(mut t) = setup.topics.lock() {
        t.push(name.to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = get_json(setup.rest, &format!("/topics/{name}")).await?;
        if status == StatusCode::OK {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the gateway does not see topic {name} (last answer {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deletes the workload topics created so far (the fill topic too when `all`).
async fn drop_topics(setup: &Setup, all: bool) -> Result<()> {
    let doomed: Vec<String> = match setup.topics.lock() {
        Ok(mut t) => {
            let (doomed, kept) = t
                .drain(..)
                .partition(|n: &String| all || !n.starts_with(&format!("{}-fill-", setup.prefix)));
            *t = kept;
            doomed
        }
        Err(_) => Vec::new(),
    };
    native::delete_topics(&setup.bootstrap, &doomed).await
}

fn value_bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A v2 produce body of `n` records in `format` (binary or json) whose values are `size`
/// bytes once in Kafka.
fn v2_body(format: &str, n: usize, size: usize) -> Bytes {
    let value = match format {
        // A JSON string of size - 2 characters is `size` bytes with its quotes.
        "json" => format!("\"{}\"", "x".repeat(size.saturating_sub(2))),
        _ => format!("\"{}\"", base64(&value_bytes(size))),
    };
    let record = format!("{{\"value\":{value}}}");
    let records = vec![record; n].join(",");
    Bytes::from(format!("{{\"records\":[{records}]}}"))
}

fn v3_record(size: usize) -> String {
    format!(
        "{{\"value\":{{\"type\":\"BINARY\",\"data\":\"{}\"}}}}",
        base64(&value_bytes(size))
    )
}

fn per(total: u64, divisor: u64) -> u64 {
    total.div_ceil(divisor.max(1)).max(1)
}

async fn run_size(
    options: &Options,
    setup: &Setup,
    size: usize,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let records = if size >= 1024 {
        options.records / 4
    } else {
        options.records
    };
    let options = &Options {
        records,
        sizes: vec![size],
        workloads: options.workloads.clone(),
        max_bytes: options.max_bytes.clone(),
        kgate: options.kgate.clone(),
        apache: options.apache.clone(),
        apache_pids: options.apache_pids.clone(),
        ..*options
    };
    let value = value_bytes(size);
    let fill = format!("{}-fill-{size}", setup.prefix);
    topic(setup, options, &fill).await?;
    let mut native_consume: Option<f64> = None;

    // 1. native producer: the produce limit; its records feed the consume workloads.
    let native_produce = {
        let before = setup.before()?;
        let (bootstrap, topic, n, v) = (
            setup.bootstrap.clone(),
            fill.clone(),
            options.records,
            value.clone(),
        );
        let run = tokio::task::spawn_blocking(move || native::produce(&bootstrap, &topic, n, &v))
            .await??;
        let row = setup.row("native produce", size, before, run, true)?;
        let rate = row.rate;
        if options.wants("native-produce") {
            rows.push(row);
        }
        Some(rate)
    };
    if options.wants("native-consume") || options.wants("v2-consume") {
        let before = setup.before()?;
        let (bootstrap, topic, n, partitions) = (
            setup.bootstrap.clone(),
            fill.clone(),
            options.records,
            options.partitions,
        );
        let run =
            tokio::task::spawn_blocking(move || native::consume(&bootstrap, &topic, partitions, n))
                .await??;
        let row = setup.row("native consume", size, before, run, true)?;
        native_consume = Some(row.rate);
        rows.push(row);
    }

    // 2. v2 produce, binary and json, 1 / 100 / 1,000 records per request.
    for format in ["binary", "json"] {
        for batch in [1u64, 100, 1000] {
            let name = format!("v2-{format}-{batch}");
            if !options.wants(&name) {
                continue;
            }
            let t = format!("{}-{name}-{size}", setup.prefix);
            topic(setup, options, &t).await?;
            let total = if batch == 1 {
                options.single
            } else {
                options.records
            };
            let per_connection = per(total, batch * options.connections as u64);
            let template = Template {
                method: Method::POST,
                path: format!("/topics/{t}"),
                content_type: Some(if format == "json" {
                    "application/vnd.kafka.json.v2+json"
                } else {
                    "application/vnd.kafka.binary.v2+json"
                }),
                accept: "application/vnd.kafka.v2+json",
                body: v2_body(format, batch as usize, size),
            };
            let before = setup.before()?;
            let run = loadgen::closed_loop(
                setup.rest,
                options.connections,
                per_connection,
                template,
                batch,
                size,
                loadgen::check_v2,
            )
            .await?;
            let mut row = setup.row(
                &format!(
                    "v2 {format}, {batch}/request, {} conns",
                    options.connections
                ),
                size,
                before,
                run,
                false,
            )?;
            row.ratio = native_produce.map(|n| row.rate / n);
            rows.push(row);
        }
    }

    // 3. v3 single-record produce, then the native producer at the same rate.
    let v3_path = |t: &str| format!("/v3/clusters/{}/topics/{t}/records", setup.cluster_id);
    // A v3 produce request of `body` (concatenated JSON records) to topic `t`.
    let v3_post = |t: &str, body: String| Template {
        method: Method::POST,
        path: v3_path(t),
        content_type: Some("application/json"),
        accept: "application/json",
        body: Bytes::from(body),
    };
    let mut v3_rate = None;
    if options.wants("v3-single") {
        let t = format!("{}-v3-single-{size}", setup.prefix);
        topic(setup, options, &t).await?;
        let template = v3_post(&t, v3_record(size));
        let before = setup.before()?;
        let run = loadgen::closed_loop(
            setup.rest,
            options.streams,
            per(options.single, options.streams as u64),
            template,
            1,
            size,
            loadgen::check_v3,
        )
        .await?;
        let mut row = setup.row(
            &format!("v3 single record, {} conns", options.streams),
            size,
            before,
            run,
            false,
        )?;
        row.ratio = native_produce.map(|n| row.rate / n);
        v3_rate = Some(row.rate);
        rows.push(row);
    }
    if options.wants("native-latency") {
        let rate = v3_rate.unwrap_or(2000.0);
        let t = format!("{}-native-latency-{size}", setup.prefix);
        topic(setup, options, &t).await?;
        let before = setup.before()?;
        let (bootstrap, n, v) = (setup.bootstrap.clone(), options.single, value.clone());
        let run =
            tokio::task::spawn_blocking(move || native::produce_paced(&bootstrap, &t, n, &v, rate))
                .await??;
        rows.push(setup.row(
            &format!("native produce at {rate:.0}/s (linger 0)"),
            size,
            before,
            run,
            true,
        )?);
    }
    if options.wants("v3-stream") {
        let t = format!("{}-v3-stream-{size}", setup.prefix);
        topic(setup, options, &t).await?;
        let per_chunk = 50usize;
        let record = v3_record(size);
        let chunk = Bytes::from(record.repeat(per_chunk));
        let chunks_per_stream = per(options.records, (per_chunk * options.streams) as u64);
        let streams = (0..options.streams)
            .map(|_| vec![chunk.clone(); chunks_per_stream as usize])
            .collect();
        // Like the native producer's warm-up: the gateway's producer for records that come
        // many at a time connects and gets its producer id before the clock starts.
        let warm_up = v3_post(&t, record.repeat(2));
        let mut sender = loadgen::connect(setup.rest).await?;
        let (status, body) = loadgen::call(&mut sender, &warm_up).await?;
        if status != StatusCode::OK {
            bail!(
                "the streaming warm-up answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let before = setup.before()?;
        let run = loadgen::streaming(setup.rest, v3_path(&t), streams, per_chunk, size).await?;
        let mut row = setup.row(
            &format!("v3 streaming, {} conns", options.streams),
            size,
            before,
            run,
            false,
        )?;
        row.ratio = native_produce.map(|n| row.rate / n);
        rows.push(row);
    }

    // 4. v2 consume through a consumer instance.
    if options.wants("v2-consume") {
        for &max_bytes in &options.max_bytes {
            let before = setup.before()?;
            let run = v2_consume(setup, options, &fill, size, max_bytes).await?;
            let label = format!("v2 consume, 1 instance, max_bytes {} KiB", max_bytes / 1024);
            let mut row = setup.row(&label, size, before, run, false)?;
            row.ratio = native_consume.map(|n| row.rate / n);
            rows.push(row);
        }
    }

    // 5. 1,000 connections, single records.
    if options.wants("c1000") {
        let t = format!("{}-c1000-{size}", setup.prefix);
        topic(setup, options, &t).await?;
        let template = v3_post(&t, v3_record(size));
        let before = setup.before()?;
        let run = loadgen::closed_loop(
            setup.rest,
            1000,
            per(options.c1000, 1000),
            template,
            1,
            size,
            loadgen::check_v3,
        )
        .await?;
        let mut row = setup.row("v3 single record, 1000 conns", size, before, run, false)?;
        row.ratio = native_produce.map(|n| row.rate / n);
        rows.push(row);
    }
    Ok(())
}

/// Reads `options.records` records of `topic` from its beginning through one binary
/// consumer instance (manual assignment, no group join), `max_bytes` per read.
async fn v2_consume(
    setup: &Setup,
    options: &Options,
    topic: &str,
    size: usize,
    max_bytes: u64,
) -> Result<Run> {
    let group = format!("bench-v2-{topic}-{max_bytes}");
    let instance = format!("/consumers/{group}/instances/bench");
    let mut sender = loadgen::connect(setup.rest).await?;
    let v2 = "application/vnd.kafka.v2+json";
    let call = |method: Method, path: String, body: String| Template {
        method,
        path,
        content_type: Some(v2),
        accept: v2,
        body: Bytes::from(body),
    };
    let create = call(
        Method::POST,
        format!("/consumers/{group}"),
        r#"{"name":"bench","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false"}"#
            .to_string(),
    );
    let (status, body) = loadgen::call(&mut sender, &create).await?;
    if status != StatusCode::OK {
        bail!(
            "creating the consumer answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let partitions: Vec<String> = (0..options.partitions)
        .map(|p| format!(r#"{{"topic":"{topic}","partition":{p}}}"#))
        .collect();
    let assign = call(
        Method::POST,
        format!("{instance}/assignments"),
        format!(r#"{{"partitions":[{}]}}"#, partitions.join(",")),
    );
    let (status, body) = loadgen::call(&mut sender, &assign).await?;
    if !status.is_success() {
        bail!(
            "assigning answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let read = Template {
        method: Method::GET,
        path: format!("{instance}/records?max_bytes={max_bytes}"),
        content_type: None,
        accept: "application/vnd.kafka.binary.v2+json",
        body: Bytes::new(),
    };
    let mut run = Run::default();
    let started = Instant::now();
    while run.records < options.records {
        if started.elapsed() > Duration::from_secs(300) {
            bail!(
                "v2 consume read {} of {} records in time",
                run.records,
                options.records
            );
        }
        let sent = Instant::now();
        // Each record is one object without nested objects here (no headers; binary
        // values are base64, which has no braces), so closing braces count records at a
        // fraction of a parse's cost, counted as the body arrives: the load generator
        // stays out of the way.
        let (status, records, body) = loadgen::call_counting(&mut sender, &read, b'}').await?;
        if status != StatusCode::OK {
            bail!(
                "reading records answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        if records > 0 {
            run.latencies_us.push(sent.elapsed().as_micros() as u32);
        }
        run.records += records;
    }
    run.elapsed = started.elapsed();
    run.bytes = run.records * size as u64;
    let delete = call(Method::DELETE, instance, String::new());
    let _ = loadgen::call(&mut sender, &delete).await;
    Ok(run)
}

/// Prints each goal of the issue with its figures and whether it is met.
fn goals(rows: &[Row], gateway_idle: f64) {
    let find = |prefix: &str, size: usize| {
        rows.iter()
            .find(|r| r.size == size && r.workload.starts_with(prefix))
    };
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!("Goals (100 B values):");
    let ratio_goal = |label: &str, prefix: &str, want: f64| match find(prefix, 100)
        .and_then(|r| r.ratio.map(|x| (r, x)))
    {
        Some((r, x)) => println!(
            "- {label}: {:.0} records/s = {:.0}% of native (goal >= {:.0}%): {}",
            r.rate,
            x * 100.0,
            want * 100.0,
            verdict(x >= want)
        ),
        None => println!("- {label}: not measured"),
    };
    ratio_goal("v3 streaming produce", "v3 streaming", 0.6);
    ratio_goal(
        "v2 produce binary, 1,000 records/request",
        "v2 binary, 1000/",
        0.5,
    );
    ratio_goal(
        "v2 produce json, 1,000 records/request",
        "v2 json, 1000/",
        0.5,
    );
    for r in rows
        .iter()
        .filter(|r| r.size == 100 && r.workload.starts_with("v2 consume"))
    {
        ratio_goal(&r.workload, &r.workload, 0.5);
    }
    match (
        find("v3 single record, ", 100).filter(|r| !r.workload.contains("1000 conns")),
        find("native produce at", 100),
    ) {
        (Some(v3), Some(native)) => match (v3.p99, native.p99) {
            (Some(a), Some(b)) => println!(
                "- single-record v3 p99 {a:.2} ms vs native p99 {b:.2} ms at {:.0}/s: {:+.2} ms (goal <= +2 ms): {}",
                v3.rate,
                a - b,
                verdict(a - b <= 2.0)
            ),
            _ => println!("- single-record v3 p99: no latencies"),
        },
        _ => println!("- single-record v3 p99 against native: not measured"),
    }
    println!(
        "- gateway idle RSS {gateway_idle:.1} MiB (goal < 64 MiB): {}",
        verdict(gateway_idle < 64.0)
    );
    let c1000_peak = rows
        .iter()
        .filter(|r| r.workload.contains("1000 conns"))
        .filter_map(|r| r.peak_rss)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    match c1000_peak {
        Some(p) => println!(
            "- gateway peak RSS under 1,000 connections {p:.1} MiB (goal < 256 MiB): {}",
            verdict(p < 256.0)
        ),
        None => println!("- 1,000-connection RSS: not measured"),
    }
}
