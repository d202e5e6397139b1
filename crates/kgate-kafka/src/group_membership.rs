//! Membership of a Kafka group with a protocol type of the caller's choosing (Kafka
//! Connect's `connect`): FindCoordinator, JoinGroup, SyncGroup, Heartbeat and LeaveGroup
//! sent with the kafka-protocol crate over plain connections.
//!
//! librdkafka only speaks the `consumer` protocol type, so a group whose members exchange
//! their own metadata and assignments (Connect workers) needs this path. The caller owns
//! the protocol: it encodes its metadata, the leader computes the assignments, and this
//! module only carries them. Like [`crate::raw`], only PLAINTEXT listeners are reachable.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    RequestHeader, ResponseHeader, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Kafka, KafkaError};

/// Largest response accepted: a JoinGroup answer carries every member's metadata.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How long FindCoordinator, SyncGroup, Heartbeat and LeaveGroup may take.
const SHORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The request versions used: the newest ones with the fields needed and without
/// KIP-848's changes, answered by every broker since Kafka 2.4.
const FIND_COORDINATOR_VERSION: i16 = 3;
const JOIN_GROUP_VERSION: i16 = 5;
const SYNC_GROUP_VERSION: i16 = 3;
const HEARTBEAT_VERSION: i16 = 3;
const LEAVE_GROUP_VERSION: i16 = 3;

/// How a member wants to take part in its group.
#[derive(Debug, Clone)]
pub struct MembershipSettings {
    /// The group id.
    pub group_id: String,
    /// The protocol type, e.g. `connect`.
    pub protocol_type: String,
    /// `session.timeout.ms`: how long the coordinator waits for a heartbeat.
    pub session_timeout: Duration,
    /// `rebalance.timeout.ms`: how long members may take to rejoin in a rebalance.
    pub rebalance_timeout: Duration,
    /// The client id sent with each request.
    pub client_id: String,
}

/// What a completed JoinGroup told the member.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The group generation this member is now part of.
    pub generation: i32,
    /// This member's id.
    pub member_id: String,
    /// The leader's member id.
    pub leader_id: String,
    /// The protocol the coordinator chose among those every member offered.
    pub protocol: String,
    /// Every member and its metadata for the chosen protocol: filled only for the leader.
    pub members: Vec<(String, Bytes)>,
}

impl Joined {
    /// Whether this member leads the generation (and must compute the assignments).
    pub fn is_leader(&self) -> bool {
        self.member_id == self.leader_id
    }
}

/// What a heartbeat learned about the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// The generation is current: keep working.
    Stable,
    /// A rebalance started: rejoin.
    Rebalancing,
    /// The coordinator forgot this member or its generation: rejoin as a new member.
    MemberLost,
    /// The coordinator moved or is unavailable: find it again and rejoin.
    CoordinatorLost,
}

/// One member of a group: the coordinator's address and the member's identity in it.
pub struct GroupMembership {
    kafka: Kafka,
    settings: MembershipSettings,
    coordinator: Option<String>,
    member_id: String,
    generation: i32,
}

impl Kafka {
    /// A member of `settings.group_id`, not joined yet.
    pub fn group_membership(&self, settings: MembershipSettings) -> GroupMembership {
        GroupMembership {
            kafka: self.clone(),
            settings,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
        }
    }
}

impl GroupMembership {
    /// This member's id (empty before the first join).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation last joined (-1 before the first join).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Joins (or rejoins) the group offering `protocols` (name, metadata), waiting up to
    /// the rebalance timeout for the other members.
    pub async fn join(&mut self, protocols: &[(String, Bytes)]) -> Result<Joined, KafkaError> {
        // The broker may first answer MEMBER_ID_REQUIRED with an id to join with, and a
        // moved coordinator needs one more look-up: a few rounds are enough.
        let mut last_error = None;
        for _ in 0..5 {
            let coordinator = self.coordinator().await?;
            let mut request = JoinGroupRequest::default();
            request.group_id = GroupId(StrBytes::from_string(self.settings.group_id.clone()));
            request.session_timeout_ms = millis(self.settings.session_timeout);
            request.rebalance_timeout_ms = millis(self.settings.rebalance_timeout);
            request.member_id = StrBytes::from_string(self.member_id.clone());
            request.group_instance_id = None;
            request.protocol_type = StrBytes::from_string(self.settings.protocol_type.clone());
            request.protocols = protocols
                .iter()
                .map(|(name, metadata)| {
                    let mut p = JoinGroupRequestProtocol::default();
                    p.name = StrBytes::from_string(name.clone());
                    p.metadata = metadata.clone();
                    p
                })
                .collect();
            // The coordinator holds a JoinGroup until every member rejoined or the
            // rebalance timeout passed.
            let wait = self.settings.rebalance_timeout + SHORT_REQUEST_TIMEOUT;
            let response = self
                .call(&coordinator, &request, JOIN_GROUP_VERSION, wait)
                .await?;
            match ResponseError::try_from_code(response.error_code) {
                None if response.error_code == 0 => {
                    self.member_id = response.member_id.to_string();
                    self.generation = response.generation_id;
                    return Ok(Joined {
                        generation: response.generation_id,
                        member_id: response.member_id.to_string(),
                        leader_id: response.leader.to_string(),
                        protocol: response
                            .protocol_name
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                        members: response
                            .members
                            .into_iter()
                            .map(|m| (m.member_id.to_string(), m.metadata))
                            .collect(),
                    });
                }
                Some(ResponseError::MemberIdRequired) => {
                    self.member_id = response.member_id.to_string();
                }
                Some(ResponseError::UnknownMemberId) | Some(ResponseError::IllegalGeneration) => {
                    self.member_id.clear();
                }
                Some(
                    ResponseError::NotCoordinator
                    | ResponseError::CoordinatorNotAvailable
                    | ResponseError::CoordinatorLoadInProgress,
                ) => {
                    self.coordinator = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(ResponseError::RebalanceInProgress) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => {}
            }
            last_error = Some(group_error(response.error_code, "JoinGroup"));
        }
        Err(last_error.unwrap_or_else(|| KafkaError::Internal("JoinGroup did not complete".into())))
    }

    /// Sends the leader's `assignments` (member id, assignment; empty for a follower) and
    /// returns this member's assignment.
    pub async fn sync(
        &mut self,
        joined: &Joined,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, KafkaError> {
        let coordinator = self.coordinator().await?;
        let mut request = SyncGroupRequest::default();
        request.group_id = GroupId(StrBytes::from_string(self.settings.group_id.clone()));
        request.generation_id = joined.generation;
        request.member_id = StrBytes::from_string(joined.member_id.clone());
        request.group_instance_id = None;
        request.assignments = assignments
            .into_iter()
            .map(|(member, assignment)| {
                let mut a = SyncGroupRequestAssignment::default();
                a.member_id = StrBytes::from_string(member);
                a.assignment = assignment;
                a
            })
            .collect();
        // Followers wait for the leader's SyncGroup.
        let wait = self.settings.rebalance_timeout + SHORT_REQUEST_TIMEOUT;
        let response = self
            .call(&coordinator, &request, SYNC_GROUP_VERSION, wait)
            .await?;
        if response.error_code != 0 {
            self.note_error(response.error_code);
            return Err(group_error(response.error_code, "SyncGroup"));
        }
        Ok(response.assignment)
    }

    /// Tells the coordinator this member is alive; says whether the group is still stable.
    pub async fn heartbeat(&mut self) -> Result<GroupState, KafkaError> {
        let coordinator = self.coordinator().await?;
        let mut request = HeartbeatRequest::default();
        request.group_id = GroupId(StrBytes::from_string(self.settings.group_id.clone()));
        request.generation_id = self.generation;
        request.member_id = StrBytes::from_string(self.member_id.clone());
        let response = match self
            .call(
                &coordinator,
                &request,
                HEARTBEAT_VERSION,
                SHORT_REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_retriable() => {
                self.coordinator = None;
                return Ok(GroupState::CoordinatorLost);
            }
            Err(e) => return Err(e),
        };
        Ok(match ResponseError::try_from_code(response.error_code) {
            None => GroupState::Stable,
            Some(ResponseError::RebalanceInProgress) => GroupState::Rebalancing,
            Some(
                ResponseError::UnknownMemberId
                | ResponseError::IllegalGeneration
                | ResponseError::FencedInstanceId,
            ) => {
                self.member_id.clear();
                GroupState::MemberLost
            }
            Some(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => {
                self.coordinator = None;
                GroupState::CoordinatorLost
            }
            Some(_) => return Err(group_error(response.error_code, "Heartbeat")),
        })
    }

    /// Leaves the group so the others rebalance at once instead of after the session
    /// timeout. Failures are only logged: the session timeout removes the member anyway.
    pub async fn leave(&mut self) {
        if self.member_id.is_empty() {
            return;
        }
        let coordinator = match self.coordinator().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "no coordinator to leave the group through");
                return;
            }
        };
        let mut member = MemberIdentity::default();
        member.member_id = StrBytes::from_string(self.member_id.clone());
        let mut request = LeaveGroupRequest::default();
        request.group_id = GroupId(StrBytes::from_string(self.settings.group_id.clone()));
        request.members = vec![member];
        match self
            .call(
                &coordinator,
                &request,
                LEAVE_GROUP_VERSION,
                SHORT_REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(r) if r.error_code != 0 => {
                tracing::debug!(code = r.error_code, "LeaveGroup refused");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "LeaveGroup failed"),
        }
        self.member_id.clear();
        self.generation = -1;
    }

    /// Forgets the member id after an error that makes it stale.
    fn note_error(&mut self, code: i16) {
        match ResponseError::try_from_code(code) {
            Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                self.member_id.clear();
            }
            Some(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => self.coordinator = None,
            _ => {}
        }
    }

    /// The coordinator's `host:port`, looked up through a bootstrap broker when unknown.
    async fn coordinator(&mut self) -> Result<String, KafkaError> {
        if let Some(c) = &self.coordinator {
            return Ok(c.clone());
        }
        plaintext_only(&self.kafka)?;
        let bootstrap = self.kafka.config().bootstrap_servers.clone();
        let mut last_error = None;
        for address in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let address = address
                .split_once("://")
                .map_or(address, |(_, rest)| rest)
                .to_string();
            let mut request = FindCoordinatorRequest::default();
            request.key = StrBytes::from_string(self.settings.group_id.clone());
            request.key_type = 0;
            match self
                .call(
                    &address,
                    &request,
                    FIND_COORDINATOR_VERSION,
                    SHORT_REQUEST_TIMEOUT,
                )
                .await
            {
                Ok(r) if r.error_code == 0 => {
                    let found = format!("{}:{}", r.host.as_str(), r.port);
                    self.coordinator = Some(found.clone());
                    return Ok(found);
                }
                Ok(r) => last_error = Some(group_error(r.error_code, "FindCoordinator")),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| KafkaError::Config("bootstrap.servers names no broker".to_string())))
    }

    async fn call<R: Request>(
        &self,
        address: &str,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, KafkaError> {
        exchange(address, request, version, timeout, &self.settings.client_id).await
    }
}

/// Sends one request on a new connection to `address` and reads its response.
async fn exchange<R: Request>(
    address: &str,
    request: &R,
    version: i16,
    timeout: Duration,
    client_id: &str,
) -> Result<R::Response, KafkaError> {
    let context = format!("group request to {address}");
    let encoding = |e: &dyn std::fmt::Display| KafkaError::Internal(format!("{context}: {e}"));
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_string(client_id.to_string()));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    header
        .encode(&mut frame, R::header_version(version))
        .map_err(|e| encoding(&e))?;
    request
        .encode(&mut frame, version)
        .map_err(|e| encoding(&e))?;
    let size = i32::try_from(frame.len() - 4)
        .map_err(|_| KafkaError::Internal(format!("{context}: request too large")))?;
    frame[..4].copy_from_slice(&size.to_be_bytes());

    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&frame).await?;
        let size = stream.read_i32().await?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| std::io::Error::other(format!("bad response size {size}")))?;
        let mut body = vec![0u8; size];
        stream.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| KafkaError::Timeout(format!("{context}: no answer")))?
        .map_err(|e| KafkaError::Retriable {
            code: -195,
            message: format!("{context}: {e}"),
        })?;
    let mut body = Bytes::from(body);
    let _header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
        .map_err(|e| encoding(&e))?;
    let response = R::Response::decode(&mut body, version).map_err(|e| encoding(&e))?;
    if body.has_remaining() {
        tracing::debug!(left = body.remaining(), "group response has trailing bytes");
    }
    Ok(response)
}

/// Refuses clusters that need TLS or SASL, which these plain connections do not speak.
fn plaintext_only(kafka: &Kafka) -> Result<(), KafkaError> {
    let c = kafka.config();
    let protocol = c
        .client
        .get("security.protocol")
        .or_else(|| c.consumer.get("security.protocol"))
        .map(|p| p.to_ascii_lowercase());
    match protocol.as_deref() {
        None | Some("plaintext") => Ok(()),
        Some(other) => Err(KafkaError::Unsupported(format!(
            "group membership is sent without librdkafka and supports only PLAINTEXT listeners, not {other}"
        ))),
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// A group error code as the client layer's error.
fn group_error(code: i16, what: &str) -> KafkaError {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::GroupAuthorizationFailed) => {
            KafkaError::Authorization(format!("{what}: not allowed to use the group"))
        }
        Some(e) if e.is_retriable() || matches!(e, ResponseError::RebalanceInProgress) => {
            KafkaError::Retriable {
                code: i32::from(code),
                message: format!("{what}: {e:?}"),
            }
        }
        Some(e) => KafkaError::Kafka {
            code: i32::from(code),
            message: format!("{what}: {e:?}"),
        },
        None => KafkaError::Kafka {
            code: i32::from(code),
            message: format!("{what}: error code {code}"),
        },
    }
}
