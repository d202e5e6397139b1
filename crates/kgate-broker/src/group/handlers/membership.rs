//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup.

use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};

use super::{settle, str_bytes, text};
use crate::context::RequestContext;
use crate::group::Inner;
use crate::group::codes;
use crate::group::membership::{JoinParams, JoinResult, SyncParams, SyncResult};

fn duration_ms(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// How Kafka shows a client's host: its address with a leading slash.
fn client_host(ctx: &RequestContext) -> String {
    format!("/{}", ctx.peer.ip())
}

/// Handles JoinGroup; waits until the rebalance completes.
pub(crate) async fn join_group(
    inner: &Inner,
    ctx: &RequestContext,
    r: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = ctx.api_version;
    let session_timeout = duration_ms(r.session_timeout_ms);
    // v0 has no rebalance timeout: the session timeout serves for both.
    let rebalance_timeout = if r.rebalance_timeout_ms < 0 {
        session_timeout
    } else {
        duration_ms(r.rebalance_timeout_ms)
    };
    let params = JoinParams {
        group_id: text(&r.group_id),
        member_id: text(&r.member_id),
        instance_id: r.group_instance_id.as_ref().map(text),
        client_id: ctx.client_id.clone(),
        client_host: client_host(ctx),
        session_timeout,
        rebalance_timeout,
        protocol_type: text(&r.protocol_type),
        protocols: r
            .protocols
            .iter()
            .map(|p| (text(&p.name), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let member_id = params.member_id.clone();
    let (reply, _) = inner.update(|groups, now| groups.join(params, now));
    let result = settle(reply, || {
        JoinResult::error(&member_id, codes::COORDINATOR_NOT_AVAILABLE)
    })
    .await;
    join_response(result, version)
}

fn join_response(result: JoinResult, version: i16) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default();
    response.error_code = result.error;
    response.generation_id = result.generation;
    if version >= 7 {
        response.protocol_type = result.protocol_type.map(str_bytes);
    }
    response.protocol_name = match result.protocol {
        Some(p) => Some(str_bytes(p)),
        // Before v7 the field may not be null.
        None if version < 7 => Some(str_bytes("")),
        None => None,
    };
    response.leader = str_bytes(result.leader);
    response.skip_assignment = version >= 9 && result.skip_assignment;
    response.member_id = str_bytes(result.member_id);
    response.members = result
        .members
        .into_iter()
        .map(|m| {
            let mut member = JoinGroupResponseMember::default();
            member.member_id = str_bytes(m.member_id);
            if version >= 5 {
                member.group_instance_id = m.instance_id.map(str_bytes);
            }
            member.metadata = m.metadata;
            member
        })
        .collect();
    response
}

/// Handles SyncGroup; followers wait for the leader's assignments.
pub(crate) async fn sync_group(
    inner: &Inner,
    ctx: &RequestContext,
    r: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = ctx.api_version;
    let params = SyncParams {
        group_id: text(&r.group_id),
        generation: r.generation_id,
        member_id: text(&r.member_id),
        instance_id: r.group_instance_id.as_ref().map(text),
        protocol_type: r.protocol_type.as_ref().map(text),
        protocol: r.protocol_name.as_ref().map(text),
        assignments: r
            .assignments
            .iter()
            .map(|a| (text(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let (reply, _) = inner.update(|groups, now| groups.sync(params, now));
    let result = settle(reply, || {
        SyncResult::error(codes::COORDINATOR_NOT_AVAILABLE)
    })
    .await;
    let mut response = SyncGroupResponse::default();
    response.error_code = result.error;
    if version >= 5 {
        response.protocol_type = result.protocol_type.map(str_bytes);
        response.protocol_name = result.protocol.map(str_bytes);
    }
    response.assignment = result.assignment;
    response
}

/// Handles Heartbeat.
pub(crate) fn heartbeat(
    inner: &Inner,
    _ctx: &RequestContext,
    r: HeartbeatRequest,
) -> HeartbeatResponse {
    let instance_id = r.group_instance_id.as_ref().map(text);
    let error = inner.update_in_background(|groups, now| {
        groups.heartbeat(
            &r.group_id,
            r.generation_id,
            &r.member_id,
            instance_id.as_deref(),
            now,
        )
    });
    let mut response = HeartbeatResponse::default();
    response.error_code = error;
    response
}

/// Handles LeaveGroup: one member before v3, a list of members from v3 on.
pub(crate) fn leave_group(
    inner: &Inner,
    ctx: &RequestContext,
    r: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = ctx.api_version;
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        r.members
            .iter()
            .map(|m| (text(&m.member_id), m.group_instance_id.as_ref().map(text)))
            .collect()
    } else {
        vec![(text(&r.member_id), None)]
    };
    let errors = inner.update_in_background(|groups, now| groups.leave(&r.group_id, &leaving, now));
    let mut response = LeaveGroupResponse::default();
    if version >= 3 {
        response.members = leaving
            .into_iter()
            .zip(errors)
            .map(|((member_id, instance_id), error)| {
                let mut member = MemberResponse::default();
                member.member_id = str_bytes(member_id);
                member.group_instance_id = instance_id.map(str_bytes);
                member.error_code = error;
                member
            })
            .collect();
    } else {
        response.error_code = errors.first().copied().unwrap_or(codes::NONE);
    }
    response
}
