//! CreateAcls: add ACL bindings, durably.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::s;
use crate::acl::{AclBinding, Authorizer, pattern, validate};

/// Answers a CreateAcls request.
pub fn handle(authz: &Authorizer, req: CreateAclsRequest, version: i16) -> CreateAclsResponse {
    let mut resp = CreateAclsResponse::default();
    let mut accepted = Vec::new();
    let mut slots = Vec::new();
    for c in req.creations {
        let binding = AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            // v0 predates pattern types: every binding is literal.
            pattern_type: if version == 0 {
                pattern::LITERAL
            } else {
                c.resource_pattern_type
            },
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission_type: c.permission_type,
        };
        let mut result = AclCreationResult::default();
        match validate(&binding) {
            Ok(()) => {
                accepted.push(binding);
                slots.push(resp.results.len());
            }
            Err(why) => {
                result.error_code = kafka_protocol::ResponseError::InvalidRequest.code();
                result.error_message = Some(s(why));
            }
        }
        resp.results.push(result);
    }
    if !accepted.is_empty()
        && let Err(e) = authz.add(accepted)
    {
        tracing::error!("cannot store ACLs: {e}");
        for i in slots {
            resp.results[i].error_code = kafka_protocol::ResponseError::UnknownServerError.code();
            resp.results[i].error_message = Some(s(format!("cannot store ACLs: {e}")));
        }
    }
    resp
}
