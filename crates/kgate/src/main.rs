//! The kgate binary: configuration, wiring, listeners and shutdown.

mod cli;
mod cluster;
mod config;
mod error;
mod faces;
mod logging;
mod run;
mod shutdown;
mod topics;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, LogArgs, ServeArgs};
use crate::config::{LogFormat, Sources};
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// jemalloc serves every allocation of the process, librdkafka's included: its `malloc`
/// and `free` replace the C library's. librdkafka allocates each fetched record on a
/// broker thread and frees it on the consumer's thread; the C library's allocator made
/// those frees queue on its arena locks (v2 consume: about 1.4x the records/s with a
/// third less gateway CPU, see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts (the `MALLOC_CONF` environment variable still
/// overrides them): two arenas for this small process, and freed pages handed back to the
/// system after a second rather than ten, so the resident size follows what is in use
/// (the 1,000-connection benchmark's peak: 105 to 176 MiB with jemalloc's defaults, 56 to
/// 98 MiB with these).
#[unsafe(export_name = "malloc_conf")]
static MALLOC_CONF: AllocatorSettings =
    AllocatorSettings(c"narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// A C string pointer jemalloc reads at start-up.
#[repr(transparent)]
struct AllocatorSettings(*const std::ffi::c_char);

// SAFETY: the pointer is to a string literal, never written.
unsafe impl Sync for AllocatorSettings {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A blocking Kafka call still waiting on an unreachable cluster must not hold the
    // exit up for its whole timeout; everything that matters was awaited already.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kgate: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as the JVM does for
/// Confluent's servers: a soft limit of 1,024 is a few hundred HTTP connections once the
/// broker's files and the Kafka clients' sockets are counted. The connection limit of
/// each listener is derived from the result (see `server.connection.limit`).
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            // Not fatal: kgate then works within the lower limit.
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

async fn run(cli: Cli) -> Result<(), KgateError> {
    match cli.command {
        None => serve(cli.serve, cli.log).await,
        Some(Command::Serve(args)) => {
            // Options given before the word `serve` count too, as if written after it.
            let mut merged = cli.serve;
            merged.config = args.config.or(merged.config);
            merged.sets.extend(args.sets);
            serve(merged, cli.log).await
        }
        Some(Command::Broker(args)) => {
            logging::init(
                cli.log.log_format.unwrap_or(LogFormat::Text),
                cli.log.log_level.as_deref(),
                None,
            );
            kgate_http::log_panics();
            let shutdown = Shutdown::on_signals().map_err(KgateError::Signals)?;
            run::broker(args, shutdown).await
        }
        Some(Command::Topics(args)) => {
            // A one-shot tool: only warnings and errors unless asked for more.
            logging::init(
                cli.log.log_format.unwrap_or(LogFormat::Text),
                cli.log.log_level.as_deref(),
                Some("warn,librdkafka=off"),
            );
            topics::run(args).await
        }
    }
}

/// Loads the configuration, sets up logging and runs `serve`.
async fn serve(args: ServeArgs, log: LogArgs) -> Result<(), KgateError> {
    let (config, stray_env) = config::load(&Sources::with_process_env(args.config, args.sets))?;
    logging::init(
        log.log_format.unwrap_or(config.log_format),
        log.log_level.as_deref(),
        config.log_level.as_deref(),
    );
    // A panic anywhere (a request handler's is answered 500 and the process goes on) is
    // one ERROR line in the log, not a multi-line report beside it.
    kgate_http::log_panics();
    for name in stray_env {
        tracing::warn!(variable = %name, "environment variable names no kgate configuration key; ignored");
    }
    let shutdown = Shutdown::on_signals().map_err(KgateError::Signals)?;
    run::serve(config, shutdown).await
}
