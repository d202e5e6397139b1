//! Apache Kafka's validators of broker and topic configs (the `ConfigDef` definitions of
//! Kafka 4.x: types, ranges and allowed values), as kgate applies them to start-up
//! properties, dynamic broker configs, CreateTopics configs and topic alterations.
//!
//! What Kafka accepts, kgate accepts, and refusals carry Kafka's own message
//! (`Invalid value 0 for configuration num.io.threads: Value must be at least 1`), sent
//! as INVALID_CONFIG. A few values only a multi-broker cluster can use are refused on top
//! of that, in `config.rs`, and say why.

/// How one config's value is checked, after Kafka's `ConfigDef` type and validator.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// INT with an optional inclusive range.
    Int(Option<i64>, Option<i64>),
    /// SHORT with an optional lower bound.
    Short(Option<i64>),
    /// LONG with an optional lower bound.
    Long(Option<i64>),
    /// DOUBLE with an optional inclusive range.
    Double(Option<f64>, Option<f64>),
    /// BOOLEAN.
    Bool,
    /// STRING that must be one of these.
    OneOf(&'static [&'static str]),
    /// LIST whose every item must be one of these.
    ListOf(&'static [&'static str]),
    /// STRING or LIST without a validator.
    Text,
    /// `compression.gzip.level`: 1 to 9, or -1 for the codec's default.
    GzipLevel,
    /// `*.replication.throttled.replicas`: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

/// The codecs `compression.type` may name (Kafka's BrokerCompressionType).
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

const LZ4_LEVELS: Rule = Rule::Int(Some(1), Some(17));
const ZSTD_LEVELS: Rule = Rule::Int(Some(-131_072), Some(22));

/// The rule of topic config `name`, if Kafka (or kgate, for a few that Kafka 3.x had)
/// knows it.
pub fn topic_rule(name: &str) -> Option<Rule> {
    use Rule::*;
    Some(match name {
        "cleanup.policy" => ListOf(CLEANUP_POLICIES),
        "compression.type" => OneOf(COMPRESSION_TYPES),
        "compression.gzip.level" => GzipLevel,
        "compression.lz4.level" => LZ4_LEVELS,
        "compression.zstd.level" => ZSTD_LEVELS,
        "delete.retention.ms" | "file.delete.delay.ms" | "flush.ms" => Long(Some(0)),
        "flush.messages" => Long(Some(1)),
        "follower.replication.throttled.replicas" | "leader.replication.throttled.replicas" => {
            ThrottledReplicas
        }
        "index.interval.bytes" | "max.message.bytes" => Int(Some(0), None),
        // Kafka's internal override of segment.bytes, without its lower bound (tests use
        // it for small segments); not listed by DescribeConfigs.
        "internal.segment.bytes" => Int(None, None),
        "local.retention.bytes" | "local.retention.ms" => Long(Some(-2)),
        "max.compaction.lag.ms" | "segment.ms" => Long(Some(1)),
        "message.timestamp.after.max.ms"
        | "message.timestamp.before.max.ms"
        | "min.compaction.lag.ms"
        | "segment.jitter.ms" => Long(Some(0)),
        "message.timestamp.type" => OneOf(TIMESTAMP_TYPES),
        "min.cleanable.dirty.ratio" => Double(Some(0.0), Some(1.0)),
        "min.insync.replicas" => Int(Some(1), None),
        "preallocate"
        | "remote.log.copy.disable"
        | "remote.log.delete.on.disable"
        | "remote.storage.enable"
        | "unclean.leader.election.enable" => Bool,
        "remote.copy.lag.bytes" | "remote.copy.lag.ms" => Long(Some(-1)),
        "retention.bytes" => Long(None),
        "retention.ms" => Long(Some(-1)),
        "segment.bytes" => Int(Some(1_048_576), None),
        "segment.index.bytes" => Int(Some(4), None),
        // Removed in Kafka 4.0; still accepted (and without effect) for 3.x clients.
        "message.downconversion.enable" => Bool,
        "message.format.version" => Text,
        "message.timestamp.difference.max.ms" => Long(Some(0)),
        _ => return None,
    })
}

/// The rule of broker config `name`, for the broker configs kgate knows.
pub fn broker_rule(name: &str) -> Option<Rule> {
    use Rule::*;
    Some(match name {
        "auto.create.topics.enable"
        | "delete.topic.enable"
        | "log.preallocate"
        | "unclean.leader.election.enable" => Bool,
        "broker.id"
        | "default.replication.factor"
        | "group.initial.rebalance.delay.ms"
        | "group.max.session.timeout.ms"
        | "group.min.session.timeout.ms"
        | "log.retention.hours"
        | "log.retention.minutes"
        | "node.id"
        | "socket.receive.buffer.bytes"
        | "socket.send.buffer.bytes" => Int(None, None),
        "compression.type" => OneOf(COMPRESSION_TYPES),
        "compression.gzip.level" => GzipLevel,
        "compression.lz4.level" => LZ4_LEVELS,
        "compression.zstd.level" => ZSTD_LEVELS,
        "log.cleaner.backoff.ms"
        | "log.cleaner.delete.retention.ms"
        | "log.cleaner.min.compaction.lag.ms"
        | "log.message.timestamp.after.max.ms"
        | "log.message.timestamp.before.max.ms"
        | "log.segment.delete.delay.ms" => Long(Some(0)),
        "log.cleaner.dedupe.buffer.size"
        | "log.flush.interval.ms"
        | "log.retention.bytes"
        | "log.retention.ms"
        | "log.roll.ms" => Long(None),
        "log.cleaner.io.buffer.load.factor" | "log.cleaner.io.max.bytes.per.second" => {
            Double(None, None)
        }
        "log.cleaner.io.buffer.size" | "log.cleaner.threads" | "log.index.interval.bytes" => {
            Int(Some(0), None)
        }
        "message.max.bytes" => Int(Some(0), None),
        "log.cleaner.max.compaction.lag.ms"
        | "log.flush.interval.messages"
        | "log.retention.check.interval.ms"
        | "offsets.retention.check.interval.ms" => Long(Some(1)),
        "log.cleaner.min.cleanable.ratio" => Double(Some(0.0), Some(1.0)),
        "log.cleanup.policy" => ListOf(CLEANUP_POLICIES),
        "log.index.size.max.bytes" => Int(Some(4), None),
        "log.message.timestamp.type" => OneOf(TIMESTAMP_TYPES),
        "log.roll.hours"
        | "max.broker.partitions"
        | "max.partitions.per.request"
        | "min.insync.replicas"
        | "num.io.threads"
        | "num.network.threads"
        | "num.partitions"
        | "num.recovery.threads.per.data.dir"
        | "offsets.retention.minutes"
        | "producer.id.expiration.ms"
        | "socket.request.max.bytes"
        | "transaction.abort.timed.out.transaction.cleanup.interval.ms"
        | "transaction.max.timeout.ms"
        | "transaction.remove.expired.transaction.cleanup.interval.ms"
        | "transaction.state.log.min.isr"
        | "transactional.id.expiration.ms" => Int(Some(1), None),
        "log.segment.bytes" => Int(Some(1_048_576), None),
        "offsets.topic.replication.factor" | "transaction.state.log.replication.factor" => {
            Short(Some(1))
        }
        "sasl.enabled.mechanisms" | "ssl.certificate.location" | "ssl.key.location" => Text,
        _ => return None,
    })
}

/// Kafka's ConfigException message: `Invalid value <v> for configuration <k>: <why>`.
pub fn invalid(name: &str, value: &str, why: impl std::fmt::Display) -> String {
    format!("Invalid value {value} for configuration {name}: {why}")
}

fn range_message(min: Option<i64>, max: Option<i64>, n: i64) -> Option<String> {
    if let Some(min) = min
        && n < min
    {
        return Some(format!("Value must be at least {min}"));
    }
    if let Some(max) = max
        && n > max
    {
        return Some(format!("Value must be no more than {max}"));
    }
    None
}

/// A bound as Java prints the integer literals Kafka's `between(0, 1)` holds.
fn bound(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// Checks `value` of config `name` against `rule`; the error is Kafka's message.
pub fn check(name: &str, value: &str, rule: Rule) -> Result<(), String> {
    let v = value.trim();
    let number = |kind: &str| invalid(name, value, format!("Not a number of type {kind}"));
    match rule {
        Rule::Int(min, max) => {
            let n: i32 = v.parse().map_err(|_| number("INT"))?;
            match range_message(min, max, n as i64) {
                Some(why) => Err(invalid(name, value, why)),
                None => Ok(()),
            }
        }
        Rule::Short(min) => {
            let n: i16 = v.parse().map_err(|_| number("SHORT"))?;
            match range_message(min, None, n as i64) {
                Some(why) => Err(invalid(name, value, why)),
                None => Ok(()),
            }
        }
        Rule::Long(min) => {
            let n: i64 = v.parse().map_err(|_| number("LONG"))?;
            match range_message(min, None, n) {
                Some(why) => Err(invalid(name, value, why)),
                None => Ok(()),
            }
        }
        Rule::Double(min, max) => {
            let x: f64 = v.parse().map_err(|_| number("DOUBLE"))?;
            if let Some(min) = min
                && x < min
            {
                return Err(invalid(
                    name,
                    value,
                    format!("Value must be at least {}", bound(min)),
                ));
            }
            if let Some(max) = max
                && x > max
            {
                return Err(invalid(
                    name,
                    value,
                    format!("Value must be no more than {}", bound(max)),
                ));
            }
            Ok(())
        }
        Rule::Bool => {
            if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    value,
                    "Expected value to be either true or false",
                ))
            }
        }
        Rule::OneOf(allowed) => {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    value,
                    format!("String must be one of: {}", allowed.join(", ")),
                ))
            }
        }
        Rule::ListOf(allowed) => {
            for item in list_items(v) {
                if !allowed.contains(&item) {
                    return Err(invalid(
                        name,
                        item,
                        format!("String must be one of: {}", allowed.join(", ")),
                    ));
                }
            }
            Ok(())
        }
        Rule::Text => Ok(()),
        Rule::GzipLevel => {
            let n: i32 = v.parse().map_err(|_| number("INT"))?;
            if n == -1 || (1..=9).contains(&n) {
                Ok(())
            } else {
                Err(invalid(name, value, "Value must be between 1 and 9, or -1"))
            }
        }
        Rule::ThrottledReplicas => {
            let items = list_items(v);
            let pairs = items.iter().all(|item| {
                item.split_once(':').is_some_and(|(p, b)| {
                    !p.trim().is_empty()
                        && !b.trim().is_empty()
                        && p.trim().bytes().all(|c| c.is_ascii_digit())
                        && b.trim().bytes().all(|c| c.is_ascii_digit())
                })
            });
            if (items.len() == 1 && items[0] == "*") || pairs {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    value,
                    format!(
                        "{name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                    ),
                ))
            }
        }
    }
}

/// The items of a LIST value, as Kafka splits them (commas, surrounding space trimmed,
/// an empty value being the empty list).
pub fn list_items(value: &str) -> Vec<&str> {
    let value = value.trim();
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::trim).collect()
}

/// Checks one topic config entry by Kafka's rules.
pub fn check_topic(name: &str, value: &str) -> Result<(), String> {
    let Some(rule) = topic_rule(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    check(name, value, rule)?;
    if name == "remote.storage.enable" && value.trim().eq_ignore_ascii_case("true") {
        // Kafka's answer on a broker without tiered storage, which kgate never has.
        return Err(
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_kafkas() {
        assert_eq!(
            check(
                "num.io.threads",
                "0",
                broker_rule("num.io.threads").unwrap()
            ),
            Err(
                "Invalid value 0 for configuration num.io.threads: Value must be at least 1".into()
            )
        );
        assert_eq!(
            check_topic("retention.ms", "soon"),
            Err(
                "Invalid value soon for configuration retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert_eq!(
            check_topic("cleanup.policy", "compact,forever"),
            Err("Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete".into())
        );
        assert_eq!(
            check_topic("min.cleanable.dirty.ratio", "1.5"),
            Err("Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1".into())
        );
        assert_eq!(
            check_topic("preallocate", "yes"),
            Err("Invalid value yes for configuration preallocate: Expected value to be either true or false".into())
        );
        assert_eq!(
            check_topic("no.such", "1"),
            Err("Unknown topic config name: no.such".into())
        );
    }

    #[test]
    fn what_kafka_accepts_is_accepted() {
        for (name, value) in [
            ("retention.bytes", "-7"),
            ("retention.ms", "-1"),
            ("cleanup.policy", "compact, delete"),
            ("cleanup.policy", ""),
            ("compression.type", "zstd"),
            ("compression.zstd.level", "-5"),
            ("compression.gzip.level", "-1"),
            ("min.insync.replicas", "3"),
            ("preallocate", "TRUE"),
            ("leader.replication.throttled.replicas", "*"),
            ("follower.replication.throttled.replicas", "0:1,1:1"),
            ("segment.bytes", "1048576"),
            ("internal.segment.bytes", "100"),
        ] {
            assert_eq!(check_topic(name, value), Ok(()), "{name}={value}");
        }
        for (name, value) in [
            ("log.retention.ms", "-5"),
            ("log.cleaner.io.max.bytes.per.second", "0"),
            ("log.cleaner.threads", "0"),
            ("socket.request.max.bytes", "1"),
            ("group.initial.rebalance.delay.ms", "0"),
        ] {
            let rule = broker_rule(name).unwrap();
            assert_eq!(check(name, value, rule), Ok(()), "{name}={value}");
        }
    }

    #[test]
    fn what_kafka_refuses_is_refused() {
        for (name, value) in [
            ("retention.ms", "-2"),
            ("flush.messages", "0"),
            ("segment.bytes", "1024"),
            ("segment.index.bytes", "3"),
            ("compression.lz4.level", "18"),
            ("compression.gzip.level", "0"),
            ("max.message.bytes", "2147483648"),
            ("leader.replication.throttled.replicas", "0-1"),
            ("remote.storage.enable", "true"),
        ] {
            assert!(check_topic(name, value).is_err(), "{name}={value}");
        }
        for (name, value) in [
            ("num.io.threads", "0"),
            ("num.network.threads", "-1"),
            ("log.segment.bytes", "1"),
            ("offsets.topic.replication.factor", "40000"),
            ("log.cleaner.min.cleanable.ratio", "-0.1"),
        ] {
            let rule = broker_rule(name).unwrap();
            assert!(check(name, value, rule).is_err(), "{name}={value}");
        }
    }
}
