//! The broker under file-descriptor pressure, with the process's RLIMIT_NOFILE lowered:
//! the accept loop survives running out (a client's connection waits in the kernel's
//! backlog and is answered once descriptors are released; the trouble is logged once,
//! not once per attempt), and topic creation refuses partitions whose files would use up
//! what the listeners need.
//!
//! The limit is process-wide, so these tests live in their own test binary and take
//! turns through one lock.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestKind};
use support::wire::{frame, read_frame, send_frame};

/// Collects the log output of the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn nofile() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit");
    limit
}

fn set_soft_nofile(soft: libc::rlim_t) {
    let mut limit = nofile();
    limit.rlim_cur = soft;
    // SAFETY: setrlimit reads the struct it is given; lowering the soft limit is allowed.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Opens /dev/null until the process is out of descriptors.
fn exhaust() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
        assert!(held.len() < 100_000, "the lowered limit did not apply");
    }
}

/// Held by each test while it changes the process's descriptor limit.
static LIMIT: Mutex<()> = Mutex::new(());

#[test]
fn accept_loop_survives_running_out_of_file_descriptors() {
    let _turn = LIMIT.lock().unwrap_or_else(|e| e.into_inner());
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // One runtime thread, created before the limit is lowered (its epoll and wake-up
    // descriptors must exist already).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let original = nofile();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let broker = support::start_in(dir.path(), &[]).await;
        let addr = broker.local_addr();
        let request = frame(
            &RequestKind::ApiVersions(ApiVersionsRequest::default()),
            ApiKey::ApiVersions,
            0,
            7,
        );

        // A working connection before the trouble, which keeps working through it.
        let mut before = tokio::net::TcpStream::connect(addr).await.unwrap();
        send_frame(&mut before, &request).await;
        assert!(read_frame(&mut before).await.is_some());

        set_soft_nofile((open_fds() + 32) as libc::rlim_t);
        let mut held = exhaust();
        // One descriptor for the client's own socket; the broker has none left to
        // accept it with, so the connection waits in the listen backlog.
        drop(held.pop());
        let mut waiting = tokio::net::TcpStream::connect(addr).await.unwrap();
        send_frame(&mut waiting, &request).await;
        let early =
            tokio::time::timeout(Duration::from_millis(800), read_frame(&mut waiting)).await;
        assert!(
            early.is_err(),
            "no answer is possible while the broker has no descriptor to accept with"
        );
        // The connection accepted earlier is still served meanwhile.
        send_frame(&mut before, &request).await;
        assert!(read_frame(&mut before).await.is_some());

        drop(held);
        set_soft_nofile(original.rlim_cur);
        let answer = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut waiting))
            .await
            .expect("the waiting connection is accepted once descriptors are free");
        assert!(
            answer.is_some(),
            "the broker answers the waiting connection"
        );

        // And new connections are accepted as usual.
        let mut after = tokio::net::TcpStream::connect(addr).await.unwrap();
        send_frame(&mut after, &request).await;
        assert!(read_frame(&mut after).await.is_some());
        broker.shutdown().await.unwrap();
    });
    set_soft_nofile(original.rlim_cur);

    let text = logs.text();
    let warnings = text.matches("out of file descriptors").count();
    assert_eq!(
        warnings, 1,
        "logged once per episode, not per attempt:\n{text}"
    );
    assert!(
        text.contains("accepts connections again"),
        "the recovery is logged:\n{text}"
    );
}

async fn create(s: &mut tokio::net::TcpStream, topic: &str, partitions: i32) -> (i16, String) {
    use kafka_protocol::messages::*;
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(kafka_protocol::protocol::StrBytes::from_string(
        topic.into(),
    ));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut r = CreateTopicsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 30_000;
    let ResponseKind::CreateTopics(resp) =
        support::wire::call(s, RequestKind::CreateTopics(r), ApiKey::CreateTopics, 5).await
    else {
        panic!("wrong response kind")
    };
    let t = &resp.topics[0];
    (
        t.error_code,
        t.error_message.as_deref().unwrap_or_default().to_string(),
    )
}

#[test]
fn partitions_that_would_use_up_the_descriptors_are_refused() {
    let _turn = LIMIT.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let original = nofile();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let broker = support::start_in(dir.path(), &[]).await;
        let addr = broker.local_addr();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Room for about 1,000 more descriptors, 256 of them kept for connections.
        set_soft_nofile((open_fds() + 1_000) as libc::rlim_t);

        // 3 descriptors a partition: 5,000 partitions are far beyond what is left.
        let (code, message) = create(&mut s, "too-many", 5_000).await;
        assert_eq!(
            code,
            kafka_protocol::ResponseError::PolicyViolation.code(),
            "{message}"
        );
        assert!(message.contains("file descriptors"), "{message}");
        let logs = dir.path().join("logs");
        let left: Vec<_> = std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("too-many"))
            .collect();
        assert!(left.is_empty(), "nothing is created: {left:?}");

        // What fits is created, and the broker still accepts connections.
        let (code, message) = create(&mut s, "fits", 100).await;
        assert_eq!(code, 0, "{message}");
        let mut again = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (code, _) = create(&mut again, "fits", 1).await;
        assert_eq!(
            code,
            kafka_protocol::ResponseError::TopicAlreadyExists.code()
        );
        set_soft_nofile(original.rlim_cur);
        broker.shutdown().await.unwrap();
    });
    set_soft_nofile(original.rlim_cur);
}
