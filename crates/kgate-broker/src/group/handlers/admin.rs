//! FindCoordinator, ListGroups, DescribeGroups and DeleteGroups.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse,
};

use super::{str_bytes, text};
use crate::context::RequestContext;
use crate::group::admin::GROUP_TYPE;
use crate::group::{Inner, codes, durable};

/// Coordinator key types: 0 is a consumer group, 1 a transactional id. Both live on this
/// single broker; share groups (2) are not supported.
const KEY_TYPES: [i8; 2] = [0, 1];

/// The operations a client may perform on a group (READ, DELETE, DESCRIBE), as the
/// bitfield DescribeGroups reports when asked.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// Handles FindCoordinator: the coordinator is always this broker.
pub(crate) fn find_coordinator(
    inner: &Inner,
    ctx: &RequestContext,
    r: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let address = &inner.address;
    let supported = KEY_TYPES.contains(&r.key_type);
    let error = if supported {
        codes::NONE
    } else {
        codes::INVALID_REQUEST
    };
    let message =
        (!supported).then(|| str_bytes(format!("unsupported coordinator key type {}", r.key_type)));
    let mut response = FindCoordinatorResponse::default();
    if ctx.api_version >= 4 {
        response.coordinators = r
            .coordinator_keys
            .iter()
            .map(|key| {
                let mut c = Coordinator::default();
                c.key = key.clone();
                c.error_code = error;
                c.error_message = message.clone();
                if supported {
                    c.node_id = BrokerId(address.node_id);
                    c.host = str_bytes(address.host.clone());
                    c.port = address.port;
                } else {
                    c.node_id = BrokerId(-1);
                    c.port = -1;
                }
                c
            })
            .collect();
    } else {
        response.error_code = error;
        if ctx.api_version >= 1 {
            response.error_message = message;
        }
        if supported {
            response.node_id = BrokerId(address.node_id);
            response.host = str_bytes(address.host.clone());
            response.port = address.port;
        } else {
            response.node_id = BrokerId(-1);
            response.port = -1;
        }
    }
    response
}

/// Handles ListGroups (state filter from v4, type filter from v5).
pub(crate) fn list_groups(
    inner: &Inner,
    ctx: &RequestContext,
    r: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = ctx.api_version;
    let states: Vec<String> = r.states_filter.iter().map(text).collect();
    let types: Vec<String> = r.types_filter.iter().map(text).collect();
    let listed = inner.read(|groups| groups.list(&states, &types));
    let mut response = ListGroupsResponse::default();
    response.groups = listed
        .into_iter()
        .map(|g| {
            let mut group = ListedGroup::default();
            group.group_id = GroupId(str_bytes(g.group_id));
            group.protocol_type = str_bytes(g.protocol_type);
            if version >= 4 {
                group.group_state = str_bytes(g.state);
            }
            if version >= 5 {
                group.group_type = str_bytes(GROUP_TYPE);
            }
            group
        })
        .collect();
    response
}

/// Handles DescribeGroups.
pub(crate) fn describe_groups(
    inner: &Inner,
    ctx: &RequestContext,
    r: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = ctx.api_version;
    let mut response = DescribeGroupsResponse::default();
    response.groups = r
        .groups
        .iter()
        .map(|id| {
            let d = inner.read(|groups| groups.describe(id));
            let mut group = DescribedGroup::default();
            group.group_id = id.clone();
            match d.state {
                Some(state) => group.group_state = str_bytes(state),
                // From v6 an unknown group is an error; before, it is reported as Dead.
                None if version >= 6 => {
                    group.error_code = codes::GROUP_ID_NOT_FOUND;
                    group.error_message =
                        Some(str_bytes(format!("group {} not found", d.group_id)));
                    group.group_state = str_bytes("Dead");
                }
                None => group.group_state = str_bytes("Dead"),
            }
            group.protocol_type = str_bytes(d.protocol_type);
            group.protocol_data = str_bytes(d.protocol);
            group.members = d
                .members
                .into_iter()
                .map(|m| {
                    let mut member = DescribedGroupMember::default();
                    member.member_id = str_bytes(m.member_id);
                    if version >= 4 {
                        member.group_instance_id = m.instance_id.map(str_bytes);
                    }
                    member.client_id = str_bytes(m.client_id);
                    member.client_host = str_bytes(m.client_host);
                    member.member_metadata = m.metadata;
                    member.member_assignment = m.assignment;
                    member
                })
                .collect();
            if version >= 3 && r.include_authorized_operations {
                group.authorized_operations = GROUP_OPERATIONS;
            }
            group
        })
        .collect();
    response
}

/// Handles DeleteGroups; answers once the deletions are on disk.
pub(crate) async fn delete_groups(
    inner: &Inner,
    ctx: &RequestContext,
    r: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let _ = ctx;
    let (errors, ack) = inner.update(|groups, _| {
        r.groups_names
            .iter()
            .map(|id| groups.delete_group(id))
            .collect::<Vec<i16>>()
    });
    let stored = durable(ack).await;
    let mut response = DeleteGroupsResponse::default();
    response.results = r
        .groups_names
        .iter()
        .zip(errors)
        .map(|(id, error)| {
            let mut result = DeletableGroupResult::default();
            result.group_id = id.clone();
            result.error_code = if !stored && error == codes::NONE {
                codes::COORDINATOR_NOT_AVAILABLE
            } else {
                error
            };
            result
        })
        .collect();
    response
}
