//! What one workload measured, and the table row it becomes.

use std::time::Duration;

/// The outcome of one workload, as the load generator saw it.
#[derive(Debug, Default)]
pub struct Run {
    /// Records acknowledged (produce) or read (consume).
    pub records: u64,
    /// Bytes of record values among them.
    pub bytes: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// One latency per request (HTTP) or per record (native, v3 streaming), microseconds.
    pub latencies_us: Vec<u32>,
    /// Records or requests that failed.
    pub errors: u64,
}

impl Run {
    /// Records per second.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Megabytes (10^6) of values per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the latencies in milliseconds, when there are any.
    pub fn percentile_ms(&mut self, q: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        Some(f64::from(self.latencies_us[i]) / 1000.0)
    }
}

/// One line of the result table.
#[derive(Debug)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// Value size in bytes.
    pub size: usize,
    /// Records per second.
    pub rate: f64,
    /// Megabytes of values per second.
    pub mb_s: f64,
    /// Median latency, ms.
    pub p50: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99: Option<f64>,
    /// kgate gateway's peak RSS during the workload, MiB (None for native workloads).
    pub peak_rss: Option<f64>,
    /// kgate gateway's CPU seconds during the workload.
    pub kgate_cpu: f64,
    /// Broker CPU seconds during the workload.
    pub broker_cpu: f64,
    /// This process's CPU seconds (load generator or native client).
    pub loadgen_cpu: f64,
    /// records/s divided by the native limit's records/s.
    pub ratio: Option<f64>,
    /// Failed records or requests.
    pub errors: u64,
    /// Records measured.
    pub records: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// Prints rows as one Markdown table.
pub fn print_table(rows: &[Row]) {
    println!(
        "| workload | value | records/s | MB/s | p50 ms | p99 ms | kgate peak RSS MiB | kgate CPU s | broker CPU s | loadgen CPU s | vs native | records | s | errors |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} B | {:.0} | {:.1} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} | {} |",
            r.workload,
            r.size,
            r.rate,
            r.mb_s,
            opt(r.p50, 2),
            opt(r.p99, 2),
            opt(r.peak_rss, 1),
            r.kgate_cpu,
            r.broker_cpu,
            r.loadgen_cpu,
            r.ratio
                .map_or_else(|| "-".to_string(), |v| format!("{:.0}%", v * 100.0)),
            r.records,
            r.seconds,
            r.errors,
        );
    }
}
