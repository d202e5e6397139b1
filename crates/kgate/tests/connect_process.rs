//! The Connect face in the kgate binary: its settings are checked before anything
//! starts.

mod common;

use std::time::Duration;

use common::Kgate;

#[test]
fn a_bad_connect_setting_stops_startup_before_any_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (setting, key) in [
        (
            "connect.offset.flush.interval.ms=soon",
            "connect.offset.flush.interval.ms",
        ),
        // Standalone mode needs a file for its offsets.
        (
            "connect.mode=standalone",
            "connect.offset.storage.file.filename",
        ),
    ] {
        let mut kgate = Kgate::serve(dir.path(), &["broker.listeners=127.0.0.1:0", setting]);
        let output = kgate.refused_start(Duration::from_secs(30), "a bad Connect setting");
        assert!(output.contains(key), "{setting}: {output}");
        assert!(
            !output.contains("listening on"),
            "{setting}: a listener was announced before the setting was refused:\n{output}"
        );
    }
    // The test harness places Connect with KGATE_CONNECT_LISTENERS, which outranks --set.
    let data = format!("data.dir={}", common::path_str(dir.path()));
    let mut kgate = Kgate::spawn_with_env(
        &[
            "serve",
            "--set",
            "listeners=http://127.0.0.1:0",
            "--set",
            &data,
        ],
        &[("KGATE_CONNECT_LISTENERS", "https://127.0.0.1:0")],
    );
    let output = kgate.refused_start(Duration::from_secs(30), "an https Connect listener");
    assert!(output.contains("connect.listeners"), "{output}");
    assert!(!output.contains("listening on"), "{output}");
}
