//! Logging set-up: tracing to standard error, as text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. The filter comes from `--log-level`, else RUST_LOG,
/// else the `log.level` key, else `info`.
pub fn init(format: LogFormat, cli_level: Option<&str>, key_level: Option<&str>) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let spec = cli_level
        .map(str::to_string)
        .or(from_env)
        .or(key_level.map(str::to_string))
        .unwrap_or_else(|| "info".to_string());
    // A filter that does not parse must not keep kgate from starting: fall back to info
    // and say so once logging works.
    let (filter, bad_spec) = match EnvFilter::try_new(&spec) {
        Ok(filter) => (filter, None),
        Err(_) => (EnvFilter::new("info"), Some(spec)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if installed.is_ok()
        && let Some(spec) = bad_spec
    {
        tracing::warn!(filter = %spec, "log filter not understood; logging at info");
    }
}
