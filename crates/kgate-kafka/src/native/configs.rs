//! Native admin: DescribeConfigs with synonyms and IncrementalAlterConfigs, for topics
//! and single brokers. (Cluster-wide broker defaults, the broker resource named "", are
//! refused by librdkafka and go through [`crate::raw`].)

use rdkafka::bindings as rd;

use super::{admin_call, c_string, code_error, error_object, owned_string};
use crate::{ConfigValueSource, Kafka, KafkaError};

/// The kind of resource a configuration belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// One broker, by node id.
    Broker(i32),
    /// The dynamic defaults shared by all brokers (the broker resource named "").
    BrokerDefaults,
}

/// One synonym of a configuration: the same setting at another level (dynamic broker,
/// static, default, ...), in order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The synonym's key (may differ from the entry's, e.g. `log.retention.ms`).
    pub name: String,
    /// Its value, `None` when sensitive or unset.
    pub value: Option<String>,
    /// Where it is set.
    pub source: ConfigValueSource,
}

/// One configuration entry with everything DescribeConfigs tells about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key, e.g. `cleanup.policy`.
    pub name: String,
    /// The value; `None` for sensitive or unset values.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigValueSource,
    /// Whether the value is the default.
    pub is_default: bool,
    /// Whether the value cannot be changed.
    pub is_read_only: bool,
    /// Whether the value is sensitive (passwords...).
    pub is_sensitive: bool,
    /// The same setting at other levels, the entry's own level first.
    pub synonyms: Vec<ConfigSynonym>,
}

/// One change of an IncrementalAlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Sets `name` to `value`.
    Set {
        /// The key.
        name: String,
        /// The new value.
        value: String,
    },
    /// Removes the override of `name`, so the next level's value applies again.
    Delete {
        /// The key.
        name: String,
    },
}

impl ConfigChange {
    fn name(&self) -> &str {
        match self {
            ConfigChange::Set { name, .. } | ConfigChange::Delete { name } => name,
        }
    }
}

/// Maps librdkafka's config source.
pub(crate) fn source_of(source: rd::rd_kafka_ConfigSource_t) -> ConfigValueSource {
    use rd::rd_kafka_ConfigSource_t as S;
    match source {
        S::RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG => ConfigValueSource::DynamicTopic,
        S::RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG => ConfigValueSource::DynamicBroker,
        S::RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG => {
            ConfigValueSource::DynamicDefaultBroker
        }
        S::RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG => ConfigValueSource::StaticBroker,
        S::RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG => ConfigValueSource::Default,
        _ => ConfigValueSource::Unknown,
    }
}

/// A ConfigResource built for a request, destroyed when dropped.
struct NativeResource(*mut rd::rd_kafka_ConfigResource_t);

impl Drop for NativeResource {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_ConfigResource_new; librdkafka copies resources
        // when a request is enqueued.
        unsafe { rd::rd_kafka_ConfigResource_destroy(self.0) }
    }
}

fn new_resource(resource: &ConfigResource) -> Result<NativeResource, KafkaError> {
    let (kind, name) = match resource {
        ConfigResource::Topic(t) => (
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            t.clone(),
        ),
        ConfigResource::Broker(b) => (
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER,
            b.to_string(),
        ),
        ConfigResource::BrokerDefaults => {
            return Err(KafkaError::Internal(
                "broker defaults cannot be sent through librdkafka".to_string(),
            ));
        }
    };
    let name = c_string(&name)?;
    // SAFETY: name is a valid C string; librdkafka copies it.
    let ptr = unsafe { rd::rd_kafka_ConfigResource_new(kind, name.as_ptr()) };
    if ptr.is_null() {
        return Err(KafkaError::Internal(
            "librdkafka could not allocate a config resource".to_string(),
        ));
    }
    Ok(NativeResource(ptr))
}

fn context_of(resource: &ConfigResource) -> String {
    match resource {
        ConfigResource::Topic(t) => t.clone(),
        ConfigResource::Broker(b) => format!("broker {b}"),
        ConfigResource::BrokerDefaults => "broker defaults".to_string(),
    }
}

/// Copies one entry and its synonyms.
///
/// # Safety
/// `entry` must be a live `rd_kafka_ConfigEntry_t`.
unsafe fn entry_of(entry: *const rd::rd_kafka_ConfigEntry_t) -> ConfigEntry {
    // SAFETY: guaranteed by the caller; synonyms live as long as their entry.
    unsafe {
        let mut count = 0usize;
        let synonyms_ptr = rd::rd_kafka_ConfigEntry_synonyms(entry, &mut count);
        let mut synonyms = Vec::with_capacity(count);
        if !synonyms_ptr.is_null() {
            for i in 0..count {
                let s = *synonyms_ptr.add(i);
                if s.is_null() {
                    continue;
                }
                synonyms.push(ConfigSynonym {
                    name: owned_string(rd::rd_kafka_ConfigEntry_name(s)).unwrap_or_default(),
                    value: owned_string(rd::rd_kafka_ConfigEntry_value(s)),
                    source: source_of(rd::rd_kafka_ConfigEntry_source(s)),
                });
            }
        }
        ConfigEntry {
            name: owned_string(rd::rd_kafka_ConfigEntry_name(entry)).unwrap_or_default(),
            value: owned_string(rd::rd_kafka_ConfigEntry_value(entry)),
            source: source_of(rd::rd_kafka_ConfigEntry_source(entry)),
            is_default: rd::rd_kafka_ConfigEntry_is_default(entry) != 0,
            is_read_only: rd::rd_kafka_ConfigEntry_is_read_only(entry) != 0,
            is_sensitive: rd::rd_kafka_ConfigEntry_is_sensitive(entry) != 0,
            synonyms,
        }
    }
}

/// The resources of a result, each with its error, in the order librdkafka gives them.
///
/// # Safety
/// `resources` must point to `count` live resources.
unsafe fn resource_results(
    resources: *mut *const rd::rd_kafka_ConfigResource_t,
    count: usize,
) -> Vec<(
    rd::rd_kafka_ResourceType_t,
    String,
    Option<KafkaError>,
    Vec<ConfigEntry>,
)> {
    let mut out = Vec::with_capacity(count);
    if resources.is_null() {
        return out;
    }
    // SAFETY: guaranteed by the caller.
    unsafe {
        for i in 0..count {
            let r = *resources.add(i);
            if r.is_null() {
                continue;
            }
            let kind = rd::rd_kafka_ConfigResource_type(r);
            let name = owned_string(rd::rd_kafka_ConfigResource_name(r)).unwrap_or_default();
            let context = if kind == rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC {
                name.clone()
            } else {
                format!("broker {name}")
            };
            let error = code_error(
                rd::rd_kafka_ConfigResource_error(r),
                owned_string(rd::rd_kafka_ConfigResource_error_string(r)),
                &context,
            );
            let mut n = 0usize;
            let entries_ptr = rd::rd_kafka_ConfigResource_configs(r, &mut n);
            let mut entries = Vec::with_capacity(n);
            if !entries_ptr.is_null() {
                for j in 0..n {
                    let e = *entries_ptr.add(j);
                    if !e.is_null() {
                        entries.push(entry_of(e));
                    }
                }
            }
            out.push((kind, name, error, entries));
        }
    }
    out
}

fn matches(resource: &ConfigResource, kind: rd::rd_kafka_ResourceType_t, name: &str) -> bool {
    match resource {
        ConfigResource::Topic(t) => {
            kind == rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC && t == name
        }
        ConfigResource::Broker(b) => {
            kind == rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER && name == b.to_string()
        }
        ConfigResource::BrokerDefaults => false,
    }
}

impl Kafka {
    /// Every configuration entry (with synonyms) of each resource, in one DescribeConfigs
    /// request per broker asked (Kafka answers broker configs only from that broker);
    /// one result per resource, in order.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<Vec<Result<Vec<ConfigEntry>, KafkaError>>, KafkaError> {
        let topics: Vec<ConfigResource> = resources
            .iter()
            .filter(|r| matches!(r, ConfigResource::Topic(_)))
            .cloned()
            .collect();
        let mut batches: Vec<Vec<ConfigResource>> = Vec::new();
        if !topics.is_empty() {
            batches.push(topics);
        }
        for r in resources {
            if !matches!(r, ConfigResource::Topic(_)) {
                batches.push(vec![r.clone()]);
            }
        }
        let answers = futures::future::join_all(batches.into_iter().map(|batch| async move {
            let answer = self.describe_batch(&batch).await;
            (batch, answer)
        }))
        .await;
        let mut found: Vec<(ConfigResource, Result<Vec<ConfigEntry>, KafkaError>)> = Vec::new();
        for (batch, answer) in answers {
            match answer {
                Ok(results) => found.extend(results),
                Err(e) => found.extend(batch.into_iter().map(|r| (r, Err(e.clone())))),
            }
        }
        Ok(resources
            .iter()
            .map(|r| {
                found
                    .iter()
                    .find(|(f, _)| f == r)
                    .map(|(_, answer)| answer.clone())
                    .unwrap_or_else(|| {
                        Err(KafkaError::Internal(format!(
                            "no configs answer for {}",
                            context_of(r)
                        )))
                    })
            })
            .collect())
    }

    async fn describe_batch(
        &self,
        batch: &[ConfigResource],
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>, KafkaError>)>, KafkaError> {
        if batch
            .iter()
            .any(|r| matches!(r, ConfigResource::BrokerDefaults))
        {
            let answer = self.describe_broker_defaults().await;
            return Ok(vec![(ConfigResource::BrokerDefaults, answer)]);
        }
        let owned = batch.to_vec();
        let wanted = batch.to_vec();
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
            "describing configs",
            move |req| {
                let resources = owned
                    .iter()
                    .map(new_resource)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut ptrs: Vec<*mut rd::rd_kafka_ConfigResource_t> =
                    resources.iter().map(|r| r.0).collect();
                // SAFETY: the handles are live (see admin_call) and the resources outlive
                // the call, which copies them.
                unsafe {
                    rd::rd_kafka_DescribeConfigs(
                        req.client(),
                        ptrs.as_mut_ptr(),
                        ptrs.len(),
                        req.options(),
                        req.queue(),
                    )
                };
                Ok(())
            },
            move |event| {
                // SAFETY: the event is a live DescribeConfigs result, copied before it is
                // dropped.
                let results = unsafe {
                    let result = rd::rd_kafka_event_DescribeConfigs_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "DescribeConfigs answered with another event".to_string(),
                        ));
                    }
                    let mut count = 0usize;
                    let resources =
                        rd::rd_kafka_DescribeConfigs_result_resources(result, &mut count);
                    resource_results(resources, count)
                };
                Ok(wanted
                    .into_iter()
                    .map(|w| {
                        let answer = results
                            .iter()
                            .find(|(kind, name, _, _)| matches(&w, *kind, name))
                            .map(|(_, _, error, entries)| match error {
                                Some(e) => Err(e.clone()),
                                None => Ok(entries.clone()),
                            })
                            .unwrap_or_else(|| {
                                Err(KafkaError::Internal(format!(
                                    "no configs answer for {}",
                                    context_of(&w)
                                )))
                            });
                        (w, answer)
                    })
                    .collect())
            },
        )
        .await
    }

    /// Applies `changes` to one resource with IncrementalAlterConfigs; with
    /// `validate_only` the broker only checks them.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        if matches!(resource, ConfigResource::BrokerDefaults) {
            return self.alter_broker_defaults(changes, validate_only).await;
        }
        let resource = resource.clone();
        let changes = changes.to_vec();
        let context = context_of(&resource);
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            &context,
            move |req| {
                req.set_validate_only(validate_only)?;
                let native = new_resource(&resource)?;
                for change in &changes {
                    let name = c_string(change.name())?;
                    let (op, value) = match change {
                        ConfigChange::Set { value, .. } => (
                            rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                            Some(c_string(value)?),
                        ),
                        ConfigChange::Delete { .. } => (
                            rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE,
                            None,
                        ),
                    };
                    // SAFETY: native is live; the strings outlive the call, which copies
                    // them; a null value is allowed for DELETE.
                    let err = unsafe {
                        rd::rd_kafka_ConfigResource_add_incremental_config(
                            native.0,
                            name.as_ptr(),
                            op,
                            value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                        )
                    };
                    // SAFETY: err is null or an error object we own and destroy here.
                    let failed = unsafe { error_object(err, change.name()) };
                    if !err.is_null() {
                        // SAFETY: as above.
                        unsafe { rd::rd_kafka_error_destroy(err) };
                    }
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
                let mut ptrs = [native.0];
                // SAFETY: the handles are live and native outlives the call.
                unsafe {
                    rd::rd_kafka_IncrementalAlterConfigs(
                        req.client(),
                        ptrs.as_mut_ptr(),
                        1,
                        req.options(),
                        req.queue(),
                    )
                };
                Ok(())
            },
            move |event| {
                // SAFETY: the event is a live IncrementalAlterConfigs result.
                let results = unsafe {
                    let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "IncrementalAlterConfigs answered with another event".to_string(),
                        ));
                    }
                    let mut count = 0usize;
                    let resources =
                        rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
                    resource_results(resources, count)
                };
                match results.into_iter().find_map(|(_, _, e, _)| e) {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            },
        )
        .await
    }
}
