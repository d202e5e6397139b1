//! DeleteAcls: remove the bindings each filter selects and report them.

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::s;
use crate::acl::{AclFilter, Authorizer, pattern};

/// Answers a DeleteAcls request.
pub fn handle(authz: &Authorizer, req: DeleteAclsRequest, version: i16) -> DeleteAclsResponse {
    let filters: Vec<AclFilter> = req
        .filters
        .into_iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.map(|n| n.to_string()),
            pattern_type: if version == 0 {
                pattern::LITERAL
            } else {
                f.pattern_type_filter
            },
            principal: f.principal_filter.map(|p| p.to_string()),
            host: f.host_filter.map(|h| h.to_string()),
            operation: f.operation,
            permission_type: f.permission_type,
        })
        .collect();
    let mut resp = DeleteAclsResponse::default();
    match authz.delete(&filters) {
        Ok(per_filter) => {
            for gone in per_filter {
                let mut result = DeleteAclsFilterResult::default();
                result.matching_acls = gone
                    .into_iter()
                    .map(|b| {
                        let mut m = DeleteAclsMatchingAcl::default();
                        m.resource_type = b.resource_type;
                        m.resource_name = s(b.resource_name);
                        m.pattern_type = b.pattern_type;
                        m.principal = s(b.principal);
                        m.host = s(b.host);
                        m.operation = b.operation;
                        m.permission_type = b.permission_type;
                        m
                    })
                    .collect();
                resp.filter_results.push(result);
            }
        }
        Err(e) => {
            tracing::error!("cannot store ACLs: {e}");
            for _ in &filters {
                let mut result = DeleteAclsFilterResult::default();
                result.error_code = kafka_protocol::ResponseError::UnknownServerError.code();
                result.error_message = Some(s(format!("cannot store ACLs: {e}")));
                resp.filter_results.push(result);
            }
        }
    }
    resp
}
