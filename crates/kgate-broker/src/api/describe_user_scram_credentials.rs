//! DescribeUserScramCredentials: which SCRAM mechanisms (and iterations) each user has.

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::s;
use crate::sasl::UserStore;

/// Answers a DescribeUserScramCredentials request.
pub fn handle(
    users: &UserStore,
    req: DescribeUserScramCredentialsRequest,
    _version: i16,
) -> DescribeUserScramCredentialsResponse {
    let known = users.describe();
    let wanted: Vec<String> = match req.users {
        Some(list) if !list.is_empty() => list.into_iter().map(|u| u.name.to_string()).collect(),
        _ => known.keys().cloned().collect(),
    };
    let mut resp = DescribeUserScramCredentialsResponse::default();
    for user in wanted {
        let mut r = DescribeUserScramCredentialsResult::default();
        match known.get(&user) {
            Some(creds) => {
                r.credential_infos = creds
                    .iter()
                    .map(|(m, iterations)| {
                        let mut c = CredentialInfo::default();
                        c.mechanism = m.code();
                        c.iterations = *iterations as i32;
                        c
                    })
                    .collect();
            }
            None => {
                r.error_code = kafka_protocol::ResponseError::ResourceNotFound.code();
                r.error_message = Some(s(format!(
                    "Attempt to describe a user credential that does not exist: {user}"
                )));
            }
        }
        r.user = s(user);
        resp.results.push(r);
    }
    resp
}
