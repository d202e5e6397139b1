//! Native admin: ACLs (CreateAcls, DescribeAcls, DeleteAcls).

use std::ffi::CString;
use std::ptr;

use rdkafka::bindings as rd;

use super::{ErrBuf, NativeEvent, admin_call, c_string, error_object, owned_string};
use crate::{Kafka, KafkaError};

/// Declares an ACL field's values with their Kafka names and librdkafka codes.
macro_rules! acl_enum {
    ($(#[$doc:meta])* $name:ident, $rd:ty { $($(#[$vdoc:meta])* $variant:ident = $text:literal => $rdv:ident,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in Kafka's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The name Kafka and the REST Proxy use (`TOPIC`, `ALLOW`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// Parses a name, ignoring case.
            pub fn from_name(name: &str) -> Option<$name> {
                let upper = name.to_ascii_uppercase();
                $name::ALL.iter().copied().find(|v| v.name() == upper)
            }

            fn to_rd(self) -> $rd {
                match self {
                    $($name::$variant => <$rd>::$rdv,)*
                }
            }

            fn from_rd(value: $rd) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.to_rd() == value)
            }
        }
    };
}

acl_enum!(
    /// The kind of resource an ACL protects.
    AclResourceType, rd::rd_kafka_ResourceType_t {
        /// Matches any type (filters only).
        Any = "ANY" => RD_KAFKA_RESOURCE_ANY,
        /// A topic.
        Topic = "TOPIC" => RD_KAFKA_RESOURCE_TOPIC,
        /// A consumer group.
        Group = "GROUP" => RD_KAFKA_RESOURCE_GROUP,
        /// The cluster (librdkafka calls it BROKER; the wire code is Kafka's CLUSTER).
        Cluster = "CLUSTER" => RD_KAFKA_RESOURCE_BROKER,
        /// A transactional id.
        TransactionalId = "TRANSACTIONAL_ID" => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
    }
);

acl_enum!(
    /// How an ACL's resource name matches resource names.
    AclPatternType, rd::rd_kafka_ResourcePatternType_t {
        /// Matches any pattern type (filters only).
        Any = "ANY" => RD_KAFKA_RESOURCE_PATTERN_ANY,
        /// Matches the ACLs that would apply to the named resource (filters only).
        Match = "MATCH" => RD_KAFKA_RESOURCE_PATTERN_MATCH,
        /// The name is the resource's exact name (or `*`).
        Literal = "LITERAL" => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        /// The name is a prefix of resource names.
        Prefixed = "PREFIXED" => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    }
);

acl_enum!(
    /// The operation an ACL allows or denies.
    AclOperation, rd::rd_kafka_AclOperation_t {
        /// Matches any operation (filters only).
        Any = "ANY" => RD_KAFKA_ACL_OPERATION_ANY,
        /// Every operation.
        All = "ALL" => RD_KAFKA_ACL_OPERATION_ALL,
        /// Read.
        Read = "READ" => RD_KAFKA_ACL_OPERATION_READ,
        /// Write.
        Write = "WRITE" => RD_KAFKA_ACL_OPERATION_WRITE,
        /// Create.
        Create = "CREATE" => RD_KAFKA_ACL_OPERATION_CREATE,
        /// Delete.
        Delete = "DELETE" => RD_KAFKA_ACL_OPERATION_DELETE,
        /// Alter.
        Alter = "ALTER" => RD_KAFKA_ACL_OPERATION_ALTER,
        /// Describe.
        Describe = "DESCRIBE" => RD_KAFKA_ACL_OPERATION_DESCRIBE,
        /// Cluster action.
        ClusterAction = "CLUSTER_ACTION" => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        /// Describe configs.
        DescribeConfigs = "DESCRIBE_CONFIGS" => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        /// Alter configs.
        AlterConfigs = "ALTER_CONFIGS" => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        /// Idempotent write.
        IdempotentWrite = "IDEMPOTENT_WRITE" => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
    }
);

acl_enum!(
    /// Whether an ACL allows or denies.
    AclPermission, rd::rd_kafka_AclPermissionType_t {
        /// Matches either (filters only).
        Any = "ANY" => RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
        /// Denies the operation.
        Deny = "DENY" => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        /// Allows the operation.
        Allow = "ALLOW" => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
    }
);

/// One ACL: who may or may not do what on which resources, from which host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The kind of resource.
    pub resource_type: AclResourceType,
    /// The resource name or prefix (`kafka-cluster` for the cluster).
    pub resource_name: String,
    /// How `resource_name` matches.
    pub pattern_type: AclPatternType,
    /// The principal, e.g. `User:alice`.
    pub principal: String,
    /// The host, or `*`.
    pub host: String,
    /// The operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
}

/// Which ACLs to describe or delete; `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// The kind of resource (`Any` for all).
    pub resource_type: AclResourceType,
    /// The resource name, or any.
    pub resource_name: Option<String>,
    /// The pattern type (`Any` for all).
    pub pattern_type: AclPatternType,
    /// The principal, or any.
    pub principal: Option<String>,
    /// The host, or any.
    pub host: Option<String>,
    /// The operation (`Any` for all).
    pub operation: AclOperation,
    /// The permission (`Any` for all).
    pub permission: AclPermission,
}

impl Default for AclFilter {
    fn default() -> Self {
        AclFilter {
            resource_type: AclResourceType::Any,
            resource_name: None,
            pattern_type: AclPatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }
}

/// Owned `rd_kafka_AclBinding_t`s, destroyed when dropped.
struct Bindings(Vec<*mut rd::rd_kafka_AclBinding_t>);

// SAFETY: the bindings are plain heap objects librdkafka does not share; they are only
// used by one thread at a time.
unsafe impl Send for Bindings {}

impl Drop for Bindings {
    fn drop(&mut self) {
        for b in self.0.drain(..) {
            // SAFETY: each pointer came from AclBinding(Filter)_new and is destroyed once.
            unsafe { rd::rd_kafka_AclBinding_destroy(b) }
        }
    }
}

/// Builds one binding or filter from the fields of `f`; `filter` selects the
/// constructor (a binding has every field set).
fn new_binding(filter: bool, f: &AclFilter) -> Result<*mut rd::rd_kafka_AclBinding_t, KafkaError> {
    let name = f.resource_name.as_deref().map(c_string).transpose()?;
    let principal = f.principal.as_deref().map(c_string).transpose()?;
    let host = f.host.as_deref().map(c_string).transpose()?;
    let ptr_of = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    let mut buf = ErrBuf::new();
    let constructor = if filter {
        rd::rd_kafka_AclBindingFilter_new
    } else {
        rd::rd_kafka_AclBinding_new
    };
    // SAFETY: the strings live until the call returns (librdkafka copies them); buf
    // outlives the call.
    let binding = unsafe {
        constructor(
            f.resource_type.to_rd(),
            ptr_of(&name),
            f.pattern_type.to_rd(),
            ptr_of(&principal),
            ptr_of(&host),
            f.operation.to_rd(),
            f.permission.to_rd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if binding.is_null() {
        // Reuse the setter's error text reading: librdkafka wrote why it refused.
        buf.check(
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__INVALID_ARG,
            "invalid ACL",
        )?;
        return Err(KafkaError::InvalidRequest("invalid ACL".to_string()));
    }
    Ok(binding)
}

/// Copies a binding librdkafka returned.
///
/// # Safety
/// `b` must point to a live `rd_kafka_AclBinding_t`.
unsafe fn read_binding(b: *const rd::rd_kafka_AclBinding_t) -> Result<AclBinding, KafkaError> {
    // SAFETY: guaranteed by the caller; strings are copied at once.
    unsafe {
        let unknown = |what: &str| {
            KafkaError::Internal(format!("the broker returned an ACL with an unknown {what}"))
        };
        Ok(AclBinding {
            resource_type: AclResourceType::from_rd(rd::rd_kafka_AclBinding_restype(b))
                .ok_or_else(|| unknown("resource type"))?,
            resource_name: owned_string(rd::rd_kafka_AclBinding_name(b)).unwrap_or_default(),
            pattern_type: AclPatternType::from_rd(rd::rd_kafka_AclBinding_resource_pattern_type(b))
                .ok_or_else(|| unknown("pattern type"))?,
            principal: owned_string(rd::rd_kafka_AclBinding_principal(b)).unwrap_or_default(),
            host: owned_string(rd::rd_kafka_AclBinding_host(b)).unwrap_or_default(),
            operation: AclOperation::from_rd(rd::rd_kafka_AclBinding_operation(b))
                .ok_or_else(|| unknown("operation"))?,
            permission: AclPermission::from_rd(rd::rd_kafka_AclBinding_permission_type(b))
                .ok_or_else(|| unknown("permission"))?,
        })
    }
}

/// Copies an array of bindings librdkafka returned.
///
/// # Safety
/// `items` must point to `count` live binding pointers (or be null with `count` 0).
unsafe fn read_bindings(
    items: *mut *const rd::rd_kafka_AclBinding_t,
    count: usize,
) -> Result<Vec<AclBinding>, KafkaError> {
    if items.is_null() || count == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: guaranteed by the caller.
    let items = unsafe { std::slice::from_raw_parts(items, count) };
    // SAFETY: each element is a live binding (caller's guarantee).
    items.iter().map(|&b| unsafe { read_binding(b) }).collect()
}

impl Kafka {
    /// Creates ACLs in one CreateAcls request; the first ACL the broker refused fails
    /// the call.
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), KafkaError> {
        let mut bindings = Bindings(Vec::with_capacity(acls.len()));
        for a in acls {
            let every_field = AclFilter {
                resource_type: a.resource_type,
                resource_name: Some(a.resource_name.clone()),
                pattern_type: a.pattern_type,
                principal: Some(a.principal.clone()),
                host: Some(a.host.clone()),
                operation: a.operation,
                permission: a.permission,
            };
            bindings.0.push(new_binding(false, &every_field)?);
        }
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
            "creating ACLs",
            move |req| {
                let mut bindings = bindings;
                // SAFETY: the handles are live (see admin_call); librdkafka copies the
                // bindings, which `bindings` destroys afterwards.
                unsafe {
                    rd::rd_kafka_CreateAcls(
                        req.client(),
                        bindings.0.as_mut_ptr(),
                        bindings.0.len(),
                        req.options(),
                        req.queue(),
                    )
                };
                Ok(())
            },
            |event: &NativeEvent| {
                // SAFETY: the event is a live CreateAcls result while `event` lives.
                unsafe {
                    let result = rd::rd_kafka_event_CreateAcls_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal("not a CreateAcls result".into()));
                    }
                    let mut count = 0usize;
                    let items = rd::rd_kafka_CreateAcls_result_acls(result, &mut count);
                    if !items.is_null() {
                        for &item in std::slice::from_raw_parts(items, count) {
                            if let Some(e) =
                                error_object(rd::rd_kafka_acl_result_error(item), "creating ACL")
                            {
                                return Err(e);
                            }
                        }
                    }
                    Ok(())
                }
            },
        )
        .await
    }

    /// The ACLs matching `filter`, in one DescribeAcls request.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, KafkaError> {
        let bindings = Bindings(vec![new_binding(true, filter)?]);
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
            "describing ACLs",
            move |req| {
                let bindings = bindings;
                // SAFETY: as in create_acls.
                unsafe {
                    rd::rd_kafka_DescribeAcls(
                        req.client(),
                        bindings.0[0],
                        req.options(),
                        req.queue(),
                    )
                };
                Ok(())
            },
            |event: &NativeEvent| {
                // SAFETY: the event is a live DescribeAcls result while `event` lives.
                unsafe {
                    let result = rd::rd_kafka_event_DescribeAcls_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal("not a DescribeAcls result".into()));
                    }
                    let mut count = 0usize;
                    let items = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
                    read_bindings(items, count)
                }
            },
        )
        .await
    }

    /// Deletes the ACLs matching any of `filters` in one DeleteAcls request and returns
    /// the ACLs deleted.
    pub async fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<AclBinding>, KafkaError> {
        let mut bindings = Bindings(Vec::with_capacity(filters.len()));
        for f in filters {
            bindings.0.push(new_binding(true, f)?);
        }
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
            "deleting ACLs",
            move |req| {
                let mut bindings = bindings;
                // SAFETY: as in create_acls.
                unsafe {
                    rd::rd_kafka_DeleteAcls(
                        req.client(),
                        bindings.0.as_mut_ptr(),
                        bindings.0.len(),
                        req.options(),
                        req.queue(),
                    )
                };
                Ok(())
            },
            |event: &NativeEvent| {
                // SAFETY: the event is a live DeleteAcls result while `event` lives.
                unsafe {
                    let result = rd::rd_kafka_event_DeleteAcls_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal("not a DeleteAcls result".into()));
                    }
                    let mut count = 0usize;
                    let responses = rd::rd_kafka_DeleteAcls_result_responses(result, &mut count);
                    let mut deleted = Vec::new();
                    if responses.is_null() {
                        return Ok(deleted);
                    }
                    for &response in std::slice::from_raw_parts(responses, count) {
                        if let Some(e) = error_object(
                            rd::rd_kafka_DeleteAcls_result_response_error(response),
                            "deleting ACLs",
                        ) {
                            return Err(e);
                        }
                        let mut n = 0usize;
                        let acls =
                            rd::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut n);
                        deleted.extend(read_bindings(acls, n)?);
                    }
                    Ok(deleted)
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cluster_is_librdkafkas_broker() {
        for t in AclResourceType::ALL {
            assert_eq!(AclResourceType::from_name(t.name()), Some(*t));
        }
        assert_eq!(
            AclOperation::from_name("describe_configs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(
            AclResourceType::Cluster.to_rd() as u32,
            4,
            "Kafka's CLUSTER resource type is 4 on the wire"
        );
        assert_eq!(AclPermission::from_name("nope"), None);
    }
}
