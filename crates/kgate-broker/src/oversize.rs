//! Responses holding a string their version cannot carry.
//!
//! Non-flexible versions of the protocol write strings with a 16-bit length, so at most
//! 32,767 bytes; flexible versions have no such limit. A string that arrived through a
//! flexible request (an ACL's resource name, a topic config value, a group id) or an
//! error message quoting a long name can therefore make a response unencodable at an
//! older version. Apache Kafka fails such a response and the client loses its
//! connection; kgate answers instead: error messages are shortened, and an item that
//! still does not fit is replaced by an error code for it (or for the whole response
//! where the response has no per-item code).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ResponseKind;
use kafka_protocol::protocol::{Encodable, StrBytes};

/// The longest string a non-flexible version can carry (a positive 16-bit length).
pub const MAX_STRING: usize = i16::MAX as usize;

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn clip_str(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn clip(message: &mut Option<StrBytes>) {
    if let Some(m) = message
        && m.len() > MAX_STRING
    {
        // Keep room for the marker that says the message was cut.
        let cut = format!("{}...", clip_str(m.as_str(), MAX_STRING - 3));
        *m = StrBytes::from_string(cut);
    }
}

fn fits<T: Encodable>(item: &T, version: i16) -> bool {
    item.compute_size(version).is_ok()
}

const TOO_LONG: &str = "a name or value in this answer is longer than this request version can carry (32,767 bytes); use a newer version of the request";

/// The same response made encodable at `version` where kgate knows how: error messages
/// shortened, items that do not fit replaced by an error for them.
pub fn fit(version: i16, response: ResponseKind) -> ResponseKind {
    let unknown = ResponseError::UnknownServerError.code();
    match response {
        ResponseKind::CreateTopics(mut r) => {
            r.topics.iter_mut().for_each(|t| clip(&mut t.error_message));
            ResponseKind::CreateTopics(r)
        }
        ResponseKind::CreatePartitions(mut r) => {
            r.results
                .iter_mut()
                .for_each(|t| clip(&mut t.error_message));
            ResponseKind::CreatePartitions(r)
        }
        ResponseKind::AlterConfigs(mut r) => {
            r.responses
                .iter_mut()
                .for_each(|t| clip(&mut t.error_message));
            ResponseKind::AlterConfigs(r)
        }
        ResponseKind::IncrementalAlterConfigs(mut r) => {
            r.responses
                .iter_mut()
                .for_each(|t| clip(&mut t.error_message));
            ResponseKind::IncrementalAlterConfigs(r)
        }
        ResponseKind::CreateAcls(mut r) => {
            r.results
                .iter_mut()
                .for_each(|t| clip(&mut t.error_message));
            ResponseKind::CreateAcls(r)
        }
        ResponseKind::SaslAuthenticate(mut r) => {
            clip(&mut r.error_message);
            ResponseKind::SaslAuthenticate(r)
        }
        ResponseKind::FindCoordinator(mut r) => {
            clip(&mut r.error_message);
            r.coordinators
                .iter_mut()
                .for_each(|c| clip(&mut c.error_message));
            ResponseKind::FindCoordinator(r)
        }
        ResponseKind::Produce(mut r) => {
            for p in r
                .responses
                .iter_mut()
                .flat_map(|t| &mut t.partition_responses)
            {
                clip(&mut p.error_message);
                p.record_errors
                    .iter_mut()
                    .for_each(|e| clip(&mut e.batch_index_error_message));
            }
            ResponseKind::Produce(r)
        }
        ResponseKind::ElectLeaders(mut r) => {
            for p in r
                .replica_election_results
                .iter_mut()
                .flat_map(|t| &mut t.partition_result)
            {
                clip(&mut p.error_message);
            }
            ResponseKind::ElectLeaders(r)
        }
        ResponseKind::DescribeConfigs(mut r) => {
            for result in &mut r.results {
                clip(&mut result.error_message);
                if !fits(result, version) {
                    result.error_code = unknown;
                    result.error_message = Some(StrBytes::from_static_str(TOO_LONG));
                    result.configs.clear();
                }
            }
            ResponseKind::DescribeConfigs(r)
        }
        ResponseKind::DescribeGroups(mut r) => {
            for group in &mut r.groups {
                clip(&mut group.error_message);
                if !fits(group, version) {
                    group.error_code = unknown;
                    group.error_message = Some(StrBytes::from_static_str(TOO_LONG));
                    group.members.clear();
                    group.protocol_data = StrBytes::default();
                }
            }
            ResponseKind::DescribeGroups(r)
        }
        ResponseKind::DeleteAcls(mut r) => {
            for result in &mut r.filter_results {
                clip(&mut result.error_message);
                let before = result.matching_acls.len();
                // The ACLs are deleted either way; one that cannot be named at this
                // version is left out of the list rather than failing the answer.
                result.matching_acls.retain(|acl| fits(acl, version));
                if result.matching_acls.len() < before {
                    tracing::warn!(
                        omitted = before - result.matching_acls.len(),
                        "DeleteAcls v{version} answer omits deleted ACLs whose names it cannot carry"
                    );
                }
            }
            ResponseKind::DeleteAcls(r)
        }
        ResponseKind::DescribeAcls(mut r) => {
            clip(&mut r.error_message);
            if r.resources.iter().any(|res| !fits(res, version)) {
                r.resources.clear();
                r.error_code = unknown;
                r.error_message = Some(StrBytes::from_static_str(TOO_LONG));
            }
            ResponseKind::DescribeAcls(r)
        }
        // Names a flexible member registered (protocol names, instance ids) that an
        // older member's version cannot carry: that member is told the join failed.
        ResponseKind::JoinGroup(mut r) => {
            if !fits(&r, version) {
                r.error_code = unknown;
                r.generation_id = -1;
                r.protocol_type = None;
                r.protocol_name = None;
                r.leader = StrBytes::default();
                r.members.clear();
                if r.member_id.len() > MAX_STRING {
                    r.member_id = StrBytes::default();
                }
            }
            ResponseKind::JoinGroup(r)
        }
        ResponseKind::SyncGroup(mut r) => {
            if !fits(&r, version) {
                r.error_code = unknown;
                r.protocol_type = None;
                r.protocol_name = None;
                r.assignment = bytes::Bytes::new();
            }
            ResponseKind::SyncGroup(r)
        }
        ResponseKind::ListGroups(mut r) => {
            if r.groups.iter().any(|g| !fits(g, version)) {
                r.groups.clear();
                r.error_code = unknown;
            }
            ResponseKind::ListGroups(r)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_acls_response::DescribeAclsResource;
    use kafka_protocol::messages::{ApiKey, CreateTopicsResponse, DescribeAclsResponse};

    #[test]
    fn clipping_respects_character_boundaries() {
        assert_eq!(clip_str("héllo", 2), "h");
        assert_eq!(clip_str("héllo", 3), "hé");
        assert_eq!(clip_str("abc", 10), "abc");
    }

    #[test]
    fn long_messages_and_names_become_encodable() {
        let long = "x".repeat(100_000);
        let mut t =
            kafka_protocol::messages::create_topics_response::CreatableTopicResult::default();
        t.error_code = 17;
        t.error_message = Some(StrBytes::from_string(long.clone()));
        let mut r = CreateTopicsResponse::default();
        r.topics.push(t);
        let kind = ResponseKind::CreateTopics(r);
        assert!(crate::codec::encode_response(ApiKey::CreateTopics, 4, 1, &kind).is_err());
        let fixed = fit(4, kind);
        assert!(crate::codec::encode_response(ApiKey::CreateTopics, 4, 1, &fixed).is_ok());

        let mut res = DescribeAclsResource::default();
        res.resource_name = StrBytes::from_string(long);
        let mut r = DescribeAclsResponse::default();
        r.resources.push(res);
        let kind = ResponseKind::DescribeAcls(r);
        // Flexible versions carry the name as it is.
        assert!(crate::codec::encode_response(ApiKey::DescribeAcls, 2, 1, &kind).is_ok());
        let ResponseKind::DescribeAcls(fixed) = fit(1, kind) else {
            unreachable!()
        };
        assert_eq!(fixed.error_code, -1);
        assert!(fixed.resources.is_empty());
    }

    #[test]
    fn a_join_answer_naming_a_long_instance_id_fails_that_join_only() {
        use kafka_protocol::messages::JoinGroupResponse;
        use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
        let mut member = JoinGroupResponseMember::default();
        member.member_id = StrBytes::from_static_str("b-1");
        member.group_instance_id = Some(StrBytes::from_string("i".repeat(40_000)));
        let mut r = JoinGroupResponse::default();
        r.member_id = StrBytes::from_static_str("a-1");
        r.leader = StrBytes::from_static_str("a-1");
        r.members.push(member);
        let kind = ResponseKind::JoinGroup(r);
        assert!(crate::codec::encode_response(ApiKey::JoinGroup, 9, 1, &kind).is_ok());
        assert!(crate::codec::encode_response(ApiKey::JoinGroup, 5, 1, &kind).is_err());
        let fixed = fit(5, kind);
        assert!(crate::codec::encode_response(ApiKey::JoinGroup, 5, 1, &fixed).is_ok());
        let ResponseKind::JoinGroup(fixed) = fixed else {
            unreachable!()
        };
        assert_eq!((fixed.error_code, fixed.member_id.as_str()), (-1, "a-1"));
    }
}
