//! DescribeAcls: the bindings a filter selects, grouped by resource pattern.

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::s;
use crate::acl::{AclFilter, Authorizer, pattern};

/// Answers a DescribeAcls request.
pub fn handle(authz: &Authorizer, req: DescribeAclsRequest, version: i16) -> DescribeAclsResponse {
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.map(|n| n.to_string()),
        pattern_type: if version == 0 {
            pattern::LITERAL
        } else {
            req.pattern_type_filter
        },
        principal: req.principal_filter.map(|p| p.to_string()),
        host: req.host_filter.map(|h| h.to_string()),
        operation: req.operation,
        permission_type: req.permission_type,
    };
    let mut resp = DescribeAclsResponse::default();
    // Bindings come sorted by resource, so each resource's ACLs are adjacent.
    for b in authz.describe(&filter) {
        let same = resp
            .resources
            .last()
            .is_some_and(|r: &DescribeAclsResource| {
                r.resource_type == b.resource_type
                    && r.pattern_type == b.pattern_type
                    && *r.resource_name == *b.resource_name
            });
        if !same {
            let mut r = DescribeAclsResource::default();
            r.resource_type = b.resource_type;
            r.resource_name = s(b.resource_name.clone());
            r.pattern_type = b.pattern_type;
            resp.resources.push(r);
        }
        let mut acl = AclDescription::default();
        acl.principal = s(b.principal);
        acl.host = s(b.host);
        acl.operation = b.operation;
        acl.permission_type = b.permission_type;
        if let Some(r) = resp.resources.last_mut() {
            r.acls.push(acl);
        }
    }
    resp
}
