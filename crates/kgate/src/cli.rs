//! The command line: `kgate [serve]` and `kgate broker`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

/// kgate: Kafka's HTTP faces (Confluent REST Proxy API) in one program, with an embedded
/// Kafka-compatible broker when no cluster is configured.
#[derive(Debug, Parser)]
#[command(
    name = "kgate",
    version,
    about = "Kafka's HTTP faces (Confluent REST Proxy API) in one program, with an embedded broker when no Kafka cluster is configured",
    after_help = "Without a command, kgate runs `serve` (so `kgate --config FILE` works). See `kgate serve --help` for the configuration keys."
)]
pub struct Cli {
    /// What to run; without one, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// `serve`'s options, for when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Logging options, valid with every command.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Logging options.
#[derive(Debug, Args, Clone, Default)]
pub struct LogArgs {
    /// Log format: human-readable text or one JSON object per line (key `log.format`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. `info`, `debug` or `kgate=debug,warn`; overrides RUST_LOG and the
    /// key `log.level` (default: info).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

/// kgate's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST Proxy; starts the embedded broker too unless `bootstrap.servers` is
    /// set (the default command).
    Serve(ServeArgs),
    /// Run only the embedded Kafka-compatible broker, in the foreground.
    Broker(BrokerArgs),
    /// Create or list topics on a Kafka cluster (the embedded broker by default).
    Topics(TopicsArgs),
}

/// Options of `kgate topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// The cluster to talk to.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,

    /// What to do.
    #[command(subcommand)]
    pub action: TopicsAction,
}

/// What `kgate topics` does.
#[derive(Debug, Subcommand)]
pub enum TopicsAction {
    /// Create a topic.
    Create {
        /// The topic's name.
        name: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor; -1 uses the cluster's default.
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        replication_factor: i32,
        /// A topic setting, e.g. `retention.ms=3600000`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List the topics' names, one a line.
    List,
}

/// Options of `kgate serve`.
#[derive(Debug, Args, Default)]
#[command(after_help = SERVE_AFTER_HELP)]
pub struct ServeArgs {
    /// Configuration file: TOML (.toml) or Java properties (.properties, e.g. an existing
    /// kafka-rest.properties); other names are read as TOML if they parse as TOML.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Set one configuration key, overriding the file; repeatable. Environment variables
    /// KGATE_<KEY> (dots as underscores, upper case) override both.
    #[arg(long = "set", short = 's', value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Options of `kgate broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Where to listen for Kafka clients: a comma list of [PROTOCOL://]HOST:PORT
    /// (PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL); port 0 picks a free port.
    #[arg(
        long,
        value_name = "[PROTOCOL://]HOST:PORT,...",
        default_value = "127.0.0.1:9092"
    )]
    pub listen: String,

    /// Directory holding the broker's logs, offsets and metadata.
    #[arg(long, value_name = "DIR", default_value = "./kgate-data/broker")]
    pub data_dir: PathBuf,

    /// Host and port announced to clients in Metadata (default: the bound address, with
    /// 0.0.0.0 announced as 127.0.0.1).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised: Option<String>,

    /// The broker's node id.
    #[arg(long, value_name = "ID", default_value_t = 1)]
    pub node_id: i32,

    /// A broker setting under Apache Kafka's name, e.g. `auto.create.topics.enable=false`,
    /// `num.partitions=3`, `log.retention.ms=3600000`; repeatable.
    #[arg(long = "set", short = 's', value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

const SERVE_AFTER_HELP: &str = "\
Configuration keys (Confluent REST Proxy names where one exists):
  bootstrap.servers             Kafka cluster to use; unset starts the embedded broker
  listeners                     REST Proxy listener (default http://0.0.0.0:8082)
  advertised.listeners          base of consumer base_uri (else host.name, else Host header)
  host.name                     host used in consumer base_uri
  id                            this instance's id
  api.v1.enable, api.v2.enable, api.v3.enable
                                switch REST API versions on or off (default true)
  consumer.instance.timeout.ms  idle time before a consumer instance is removed (300000)
  consumer.request.timeout.ms   longest wait of a consumer read (1000)
  consumer.request.max.bytes    largest consumer read response (67108864)
  consumer.iterator.timeout.ms  consumer iterator timeout (1000)
  simpleconsumer.pool.size.max  most partition readers serving v1 partition reads (25)
  simpleconsumer.pool.timeout.ms
                                wait for a free partition reader before 503 (1000)
  max.request.body.bytes        largest request body accepted (67108864)
  shutdown.graceful.ms          time in-flight requests get after a signal (10000)
  idle.timeout.ms               close an HTTP connection with no request this long (30000)
  http.header.timeout.ms        longest time to receive a request's headers (10000)
  http.body.timeout.ms          longest wait for more of a request body, or for a client
                                to take more of a response (30000)
  server.connection.limit       most connections per HTTP listener (default: an eighth
                                of the open-file limit; 0: no limit)
  client.init.timeout.ms        how long start-up waits for the Kafka cluster (60000)
  client.* producer.* consumer.* admin.*
                                librdkafka settings for all / producer / consumer / admin
                                clients (prefix removed)
  data.dir                      embedded broker data lives in <data.dir>/broker (./kgate-data)
  broker.listeners              embedded broker listeners, comma list of
                                [PROTOCOL://]host:port with PLAINTEXT, SASL_PLAINTEXT,
                                SSL or SASL_SSL (127.0.0.1:9092); kgate connects to the
                                first PLAINTEXT one (else the first)
  broker.advertised.listeners   host:port the embedded broker announces
  broker.node.id                embedded broker node id (1)
  broker.sasl.enabled.mechanisms
                                PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (all by default)
  broker.sasl.user.<name>       password of SASL user <name>
  broker.ssl.certificate.location, broker.ssl.key.location
                                PEM certificate chain and key of SSL/SASL_SSL listeners
  broker.authorizer.enabled     enforce ACLs (false)
  broker.super.users            User:a;User:b, allowed everything
  broker.allow.everyone.if.no.acl.found
                                allow resources no ACL names (false)
  broker.*                      other embedded broker settings, Apache Kafka names
  schema.registry.enable        serve the built-in Schema Registry (default true)
  schema.registry.listeners     its listener (default http://0.0.0.0:8081)
  schema.registry.url           registry used by the avro/protobuf/jsonschema formats;
                                set, it replaces the built-in one
  schema.registry.basic.auth.user.info
                                user:password for that registry
  schema.registry.ssl.ca.location, schema.registry.ssl.certificate.location,
  schema.registry.ssl.key.location
                                PEM files for an https registry: authorities to
                                trust (default: the system's), client certificate
                                and key for mutual TLS
  log.format, log.level         text|json, and a tracing filter

Precedence, lowest to highest: --config FILE, --set KEY=VALUE, environment KGATE_<KEY>
(e.g. KGATE_BOOTSTRAP_SERVERS). Unknown keys stop start-up; Confluent keys kgate does not
support yet (ssl.*, authentication.*, ...) are logged as ignored.";
