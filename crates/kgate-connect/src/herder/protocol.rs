//! The `connect` group protocol's metadata and assignments, in Apache's eager (`default`,
//! version 0) layout: metadata is the worker's REST URL and config offset; an assignment
//! names the leader, its URL, the config offset it was made at, and the connectors
//! (task -1) and tasks given to the member.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The protocol name Apache gives its eager protocol.
pub const PROTOCOL: &str = "default";

/// What a worker tells the group when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Its REST URL, where writes are forwarded when it leads.
    pub url: String,
    /// The offset of the last config record it read.
    pub config_offset: i64,
}

/// What the leader gives one member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// 0, or 1 when the members' config offsets disagreed.
    pub error: i16,
    /// The leader's member id.
    pub leader: String,
    /// The leader's REST URL.
    pub leader_url: String,
    /// The config offset the assignment was made at.
    pub config_offset: i64,
    /// Connectors given to the member.
    pub connectors: Vec<String>,
    /// Tasks given to the member.
    pub tasks: Vec<(String, u32)>,
}

fn put_string(out: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    out.put_i16(i16::try_from(bytes.len()).unwrap_or(i16::MAX));
    out.put_slice(&bytes[..bytes.len().min(i16::MAX as usize)]);
}

fn get_string(input: &mut Bytes) -> Option<String> {
    if input.remaining() < 2 {
        return None;
    }
    let len = usize::try_from(input.get_i16()).ok()?;
    if input.remaining() < len {
        return None;
    }
    let s = input.split_to(len);
    String::from_utf8(s.to_vec()).ok()
}

impl Metadata {
    /// Encodes the metadata.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(0);
        put_string(&mut out, &self.url);
        out.put_i64(self.config_offset);
        out.freeze()
    }

    /// Decodes metadata of any version (later versions add fields after these).
    pub fn decode(mut input: Bytes) -> Option<Metadata> {
        if input.remaining() < 2 {
            return None;
        }
        let _version = input.get_i16();
        let url = get_string(&mut input)?;
        if input.remaining() < 8 {
            return None;
        }
        Some(Metadata {
            url,
            config_offset: input.get_i64(),
        })
    }
}

impl Assignment {
    /// Encodes the assignment.
    pub fn encode(&self) -> Bytes {
        let mut by_connector: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for c in &self.connectors {
            by_connector.entry(c).or_default().push(-1);
        }
        for (c, n) in &self.tasks {
            by_connector
                .entry(c)
                .or_default()
                .push(i32::try_from(*n).unwrap_or(i32::MAX));
        }
        let mut out = BytesMut::new();
        out.put_i16(0);
        out.put_i16(self.error);
        put_string(&mut out, &self.leader);
        put_string(&mut out, &self.leader_url);
        out.put_i64(self.config_offset);
        out.put_i32(by_connector.len() as i32);
        for (c, ids) in by_connector {
            put_string(&mut out, c);
            out.put_i32(ids.len() as i32);
            for id in ids {
                out.put_i32(id);
            }
        }
        out.freeze()
    }

    /// Decodes an assignment.
    pub fn decode(mut input: Bytes) -> Option<Assignment> {
        if input.remaining() < 4 {
            return None;
        }
        let _version = input.get_i16();
        let error = input.get_i16();
        let leader = get_string(&mut input)?;
        let leader_url = get_string(&mut input)?;
        if input.remaining() < 12 {
            return None;
        }
        let config_offset = input.get_i64();
        let count = input.get_i32();
        let mut a = Assignment {
            error,
            leader,
            leader_url,
            config_offset,
            ..Assignment::default()
        };
        for _ in 0..count.max(0) {
            let connector = get_string(&mut input)?;
            if input.remaining() < 4 {
                return None;
            }
            let ids = input.get_i32();
            for _ in 0..ids.max(0) {
                if input.remaining() < 4 {
                    return None;
                }
                match input.get_i32() {
                    -1 => a.connectors.push(connector.clone()),
                    n => a.tasks.push((connector.clone(), u32::try_from(n).ok()?)),
                }
            }
        }
        Some(a)
    }
}

/// What one member is given: connectors, and tasks as (connector, task number).
pub type Share = (Vec<String>, Vec<(String, u32)>);

/// The leader's assignment: connectors round-robin over the members (in member id
/// order), then tasks round-robin continuing where the connectors stopped, as Apache's
/// eager assignor spreads them.
pub fn assign(
    members: &[String],
    connectors: &[String],
    tasks: &[(String, u32)],
) -> BTreeMap<String, Share> {
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort();
    let mut out: BTreeMap<String, Share> = sorted
        .iter()
        .map(|m| ((*m).clone(), (Vec::new(), Vec::new())))
        .collect();
    if sorted.is_empty() {
        return out;
    }
    let mut next = 0;
    for c in connectors {
        if let Some(entry) = out.get_mut(sorted[next % sorted.len()]) {
            entry.0.push(c.clone());
        }
        next += 1;
    }
    for t in tasks {
        if let Some(entry) = out.get_mut(sorted[next % sorted.len()]) {
            entry.1.push(t.clone());
        }
        next += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_assignments_round_trip() {
        let m = Metadata {
            url: "http://127.0.0.1:8083/".into(),
            config_offset: 42,
        };
        assert_eq!(Metadata::decode(m.encode()), Some(m));
        let a = Assignment {
            error: 0,
            leader: "w1".into(),
            leader_url: "http://a:1/".into(),
            config_offset: 7,
            connectors: vec!["c".into()],
            tasks: vec![("c".into(), 0), ("d".into(), 2)],
        };
        assert_eq!(Assignment::decode(a.encode()), Some(a));
        assert_eq!(Assignment::decode(Bytes::from_static(&[0, 0, 0])), None);
    }

    #[test]
    fn work_is_spread_over_members() {
        let members = vec!["b".to_string(), "a".to_string()];
        let tasks = vec![
            ("c".to_string(), 0),
            ("c".to_string(), 1),
            ("c".to_string(), 2),
        ];
        let out = assign(&members, &["c".to_string()], &tasks);
        assert_eq!(out["a"].0, ["c"]);
        assert_eq!(out["b"].1, [("c".to_string(), 0), ("c".to_string(), 2)]);
        assert_eq!(out["a"].1, [("c".to_string(), 1)]);
        assert_eq!(out["b"].1.len() + out["a"].1.len(), 3);
    }
}
