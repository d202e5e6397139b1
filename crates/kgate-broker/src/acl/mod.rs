//! ACLs: the durable binding store (`<data_dir>/acls.json`), Kafka's matching rules for
//! filters, and the authorizer that enforces them (`enforce`).

pub mod enforce;

use std::collections::BTreeSet;
use std::path::PathBuf;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Resource type codes of the Kafka protocol.
pub mod resource {
    /// Matches any resource type in a filter.
    pub const ANY: i8 = 1;
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A consumer group.
    pub const GROUP: i8 = 3;
    /// The cluster.
    pub const CLUSTER: i8 = 4;
    /// A transactional id.
    pub const TRANSACTIONAL_ID: i8 = 5;
    /// A user.
    pub const USER: i8 = 7;
}

/// Pattern type codes.
pub mod pattern {
    /// Any pattern type (filters only).
    pub const ANY: i8 = 1;
    /// Every binding that would apply to the named resource (filters only).
    pub const MATCH: i8 = 2;
    /// The name as is (or `*` for every resource).
    pub const LITERAL: i8 = 3;
    /// Every resource whose name starts with the name.
    pub const PREFIXED: i8 = 4;
}

/// Operation codes.
pub mod op {
    /// Any operation (filters only).
    pub const ANY: i8 = 1;
    /// Every operation.
    pub const ALL: i8 = 2;
    /// Read.
    pub const READ: i8 = 3;
    /// Write.
    pub const WRITE: i8 = 4;
    /// Create.
    pub const CREATE: i8 = 5;
    /// Delete.
    pub const DELETE: i8 = 6;
    /// Alter.
    pub const ALTER: i8 = 7;
    /// Describe.
    pub const DESCRIBE: i8 = 8;
    /// Describe configs.
    pub const DESCRIBE_CONFIGS: i8 = 10;
    /// Alter configs.
    pub const ALTER_CONFIGS: i8 = 11;
    /// Idempotent write.
    pub const IDEMPOTENT_WRITE: i8 = 12;
    /// Describe delegation tokens.
    pub const DESCRIBE_TOKENS: i8 = 14;
}

/// Permission type codes.
pub mod permission {
    /// Any permission (filters only).
    pub const ANY: i8 = 1;
    /// Deny.
    pub const DENY: i8 = 2;
    /// Allow.
    pub const ALLOW: i8 = 3;
}

/// One ACL: who may (or may not) do what on which resources from where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    /// Resource type code.
    pub resource_type: i8,
    /// Resource name (`*` for all with a literal pattern).
    pub resource_name: String,
    /// LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// `User:<name>` (or `User:*`).
    pub principal: String,
    /// Host (`*` for any).
    pub host: String,
    /// Operation code.
    pub operation: i8,
    /// ALLOW or DENY.
    pub permission_type: i8,
}

/// A DescribeAcls / DeleteAcls filter.
#[derive(Debug, Clone)]
pub struct AclFilter {
    /// Resource type code (ANY matches all).
    pub resource_type: i8,
    /// Resource name (`None` matches all).
    pub resource_name: Option<String>,
    /// Pattern type code (ANY, MATCH, LITERAL, PREFIXED).
    pub pattern_type: i8,
    /// Principal (`None` matches all).
    pub principal: Option<String>,
    /// Host (`None` matches all).
    pub host: Option<String>,
    /// Operation code (ANY matches all).
    pub operation: i8,
    /// Permission code (ANY matches all).
    pub permission_type: i8,
}

impl AclFilter {
    /// Whether `b` is selected by this filter, with Kafka's rules.
    pub fn matches(&self, b: &AclBinding) -> bool {
        if self.resource_type != resource::ANY && self.resource_type != b.resource_type {
            return false;
        }
        let name_ok = match (&self.resource_name, self.pattern_type) {
            (_, p) if p != pattern::ANY && p != pattern::MATCH && p != b.pattern_type => false,
            (None, _) => true,
            (Some(name), pattern::MATCH) => match b.pattern_type {
                pattern::LITERAL => b.resource_name == *name || b.resource_name == "*",
                pattern::PREFIXED => name.starts_with(&b.resource_name),
                _ => false,
            },
            (Some(name), _) => b.resource_name == *name,
        };
        name_ok
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && (self.operation == op::ANY || self.operation == b.operation)
            && (self.permission_type == permission::ANY
                || self.permission_type == b.permission_type)
    }
}

/// Checks a binding's codes are concrete (what CreateAcls accepts).
pub fn validate(b: &AclBinding) -> Result<(), String> {
    if !(resource::TOPIC..=resource::USER).contains(&b.resource_type) {
        return Err(format!("invalid resource type {}", b.resource_type));
    }
    if b.pattern_type != pattern::LITERAL && b.pattern_type != pattern::PREFIXED {
        return Err(format!("invalid pattern type {}", b.pattern_type));
    }
    if !(op::ALL..=op::DESCRIBE_TOKENS).contains(&b.operation) {
        return Err(format!("invalid operation {}", b.operation));
    }
    if b.permission_type != permission::ALLOW && b.permission_type != permission::DENY {
        return Err(format!("invalid permission type {}", b.permission_type));
    }
    if b.resource_name.is_empty() {
        return Err("resource name must not be empty".into());
    }
    if b.resource_type == resource::CLUSTER && b.resource_name != "kafka-cluster" {
        return Err("the cluster resource is named kafka-cluster".into());
    }
    if !b.principal.contains(':') {
        return Err(format!(
            "principal `{}` is not of the form Type:name",
            b.principal
        ));
    }
    Ok(())
}

/// The ACL store and the authorizer settings.
pub struct Authorizer {
    /// Whether requests are checked at all (`authorizer.enabled` / `authorizer.class.name`).
    pub enabled: bool,
    super_users: BTreeSet<String>,
    allow_if_no_acl: bool,
    bindings: RwLock<BTreeSet<AclBinding>>,
    path: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredAcls {
    acls: Vec<AclBinding>,
}

/// Operations that imply DESCRIBE when allowed (Kafka's AclAuthorizer rules).
const IMPLY_DESCRIBE: &[i8] = &[op::READ, op::WRITE, op::DELETE, op::ALTER];

impl Authorizer {
    /// Loads the bindings kept at `path`.
    pub fn open(
        path: PathBuf,
        enabled: bool,
        super_users: BTreeSet<String>,
        allow_if_no_acl: bool,
    ) -> std::io::Result<Self> {
        let stored: StoredAcls = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredAcls::default(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            enabled,
            super_users,
            allow_if_no_acl,
            bindings: RwLock::new(stored.acls.into_iter().collect()),
            path,
        })
    }

    fn persist(&self, bindings: &BTreeSet<AclBinding>) -> std::io::Result<()> {
        let stored = StoredAcls {
            acls: bindings.iter().cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Adds bindings (already validated) durably.
    pub fn add(&self, new: Vec<AclBinding>) -> std::io::Result<()> {
        let mut bindings = self.bindings.write();
        let mut next = bindings.clone();
        next.extend(new);
        self.persist(&next)?;
        *bindings = next;
        Ok(())
    }

    /// The bindings selected by `filter`.
    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.bindings
            .read()
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    /// Removes the bindings selected by each filter; returns them per filter.
    pub fn delete(&self, filters: &[AclFilter]) -> std::io::Result<Vec<Vec<AclBinding>>> {
        let mut bindings = self.bindings.write();
        let mut next = bindings.clone();
        let mut out = Vec::new();
        for f in filters {
            let gone: Vec<AclBinding> = bindings.iter().filter(|b| f.matches(b)).cloned().collect();
            for b in &gone {
                next.remove(b);
            }
            out.push(gone);
        }
        self.persist(&next)?;
        *bindings = next;
        Ok(out)
    }

    /// Whether `principal` connecting from `host` may perform `operation` on the resource.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> bool {
        if !self.enabled || self.super_users.contains(principal) {
            return true;
        }
        let bindings = self.bindings.read();
        let applicable: Vec<&AclBinding> = bindings
            .iter()
            .filter(|b| {
                b.resource_type == resource_type
                    && match b.pattern_type {
                        pattern::LITERAL => b.resource_name == name || b.resource_name == "*",
                        pattern::PREFIXED => name.starts_with(&b.resource_name),
                        _ => false,
                    }
            })
            .collect();
        if applicable.is_empty() {
            return self.allow_if_no_acl;
        }
        let mine = |b: &&&AclBinding| {
            (b.principal == principal || b.principal == "User:*")
                && (b.host == host || b.host == "*")
        };
        let denied = applicable.iter().filter(mine).any(|b| {
            b.permission_type == permission::DENY
                && (b.operation == operation || b.operation == op::ALL)
        });
        if denied {
            return false;
        }
        applicable.iter().filter(mine).any(|b| {
            b.permission_type == permission::ALLOW
                && (b.operation == operation
                    || b.operation == op::ALL
                    || (operation == op::DESCRIBE && IMPLY_DESCRIBE.contains(&b.operation))
                    || (operation == op::DESCRIBE_CONFIGS && b.operation == op::ALTER_CONFIGS))
        })
    }

    /// Whether `principal` has an ALLOW on some resource of `resource_type` for
    /// `operation` (Kafka lets idempotent producers in with WRITE on any topic).
    pub fn allows_any(&self, principal: &str, operation: i8, resource_type: i8) -> bool {
        if !self.enabled || self.super_users.contains(principal) {
            return true;
        }
        self.bindings.read().iter().any(|b| {
            b.resource_type == resource_type
                && (b.principal == principal || b.principal == "User:*")
                && b.permission_type == permission::ALLOW
                && (b.operation == operation || b.operation == op::ALL)
        })
    }
}
