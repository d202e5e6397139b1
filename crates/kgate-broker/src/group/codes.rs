//! The protocol error codes the coordinator answers with.

use kafka_protocol::error::ResponseError;

/// No error.
pub(crate) const NONE: i16 = 0;
/// A failure of our own (the journal could not be written).
pub(crate) const UNKNOWN_SERVER_ERROR: i16 = ResponseError::UnknownServerError.code();
/// The topic or partition does not exist.
pub(crate) const UNKNOWN_TOPIC_OR_PARTITION: i16 = ResponseError::UnknownTopicOrPartition.code();
/// Commit metadata longer than the broker keeps.
pub(crate) const OFFSET_METADATA_TOO_LARGE: i16 = ResponseError::OffsetMetadataTooLarge.code();
/// The request is malformed for this broker (e.g. an unknown coordinator key type).
pub(crate) const INVALID_REQUEST: i16 = ResponseError::InvalidRequest.code();
/// The generation in the request is not the group's.
pub(crate) const ILLEGAL_GENERATION: i16 = ResponseError::IllegalGeneration.code();
/// Protocol type or protocols do not match the group's.
pub(crate) const INCONSISTENT_GROUP_PROTOCOL: i16 = ResponseError::InconsistentGroupProtocol.code();
/// The group id is not acceptable.
pub(crate) const INVALID_GROUP_ID: i16 = ResponseError::InvalidGroupId.code();
/// The member is not in the group.
pub(crate) const UNKNOWN_MEMBER_ID: i16 = ResponseError::UnknownMemberId.code();
/// The session timeout is outside the broker's bounds.
pub(crate) const INVALID_SESSION_TIMEOUT: i16 = ResponseError::InvalidSessionTimeout.code();
/// The group is rebalancing; the member must rejoin.
pub(crate) const REBALANCE_IN_PROGRESS: i16 = ResponseError::RebalanceInProgress.code();
/// The group still has members.
pub(crate) const NON_EMPTY_GROUP: i16 = ResponseError::NonEmptyGroup.code();
/// The group does not exist.
pub(crate) const GROUP_ID_NOT_FOUND: i16 = ResponseError::GroupIdNotFound.code();
/// A new member must rejoin with the member id it was given.
pub(crate) const MEMBER_ID_REQUIRED: i16 = ResponseError::MemberIdRequired.code();
/// Another member holds this static instance id.
pub(crate) const FENCED_INSTANCE_ID: i16 = ResponseError::FencedInstanceId.code();
/// A member of the group still consumes the topic.
pub(crate) const GROUP_SUBSCRIBED_TO_TOPIC: i16 = ResponseError::GroupSubscribedToTopic.code();
/// The coordinator cannot serve the request now (its journal failed or it is stopping).
pub(crate) const COORDINATOR_NOT_AVAILABLE: i16 = ResponseError::CoordinatorNotAvailable.code();
