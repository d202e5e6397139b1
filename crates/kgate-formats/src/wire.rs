//! Confluent's wire format: a zero magic byte, the schema id as a big-endian 4-byte
//! integer, then (protobuf only) the message indexes, then the serialized record.
//!
//! Every Confluent serializer and deserializer (Java, Python, Go, .NET) reads and writes
//! exactly this framing, so records kgate produces can be read by them and the other way
//! round.

use crate::FormatError;

/// The first byte of every record in the wire format.
pub const MAGIC_BYTE: u8 = 0;

/// Frames `payload` with the magic byte and `schema_id`.
pub fn frame(schema_id: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a framed record into its schema id and what follows the header.
pub fn unframe(bytes: &[u8]) -> Result<(i32, &[u8]), FormatError> {
    match bytes {
        [MAGIC_BYTE, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [] => Err(FormatError::Undecodable(
            "Record is empty, expected the schema registry wire format".to_string(),
        )),
        [MAGIC_BYTE, ..] => Err(FormatError::Undecodable(
            "Record is shorter than the 5-byte schema registry header".to_string(),
        )),
        [other, ..] => Err(FormatError::Undecodable(format!(
            "Unknown magic byte {other}: the record was not written in the schema registry wire format"
        ))),
    }
}

/// Appends protobuf message indexes (the path of the message type inside its .proto
/// file). The common case, the first message of the file, is the single byte 0.
pub fn write_message_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    write_zigzag(indexes.len() as i64, out);
    for &i in indexes {
        write_zigzag(i64::from(i), out);
    }
}

/// Reads protobuf message indexes, returning them and the rest of the record.
pub fn read_message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), FormatError> {
    let (count, mut rest) = read_zigzag(bytes)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if count < 0 || count as usize > rest.len() {
        return Err(FormatError::Undecodable(format!(
            "Invalid protobuf message index count {count}"
        )));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (i, r) = read_zigzag(rest)?;
        let i = i32::try_from(i)
            .map_err(|_| FormatError::Undecodable(format!("Invalid protobuf message index {i}")))?;
        indexes.push(i);
        rest = r;
    }
    Ok((indexes, rest))
}

/// Appends `v` as a zig-zag variable-length integer (Avro's `long`, Confluent's index
/// encoding).
pub(crate) fn write_zigzag(v: i64, out: &mut Vec<u8>) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a zig-zag variable-length integer, returning it and the rest of the input.
pub(crate) fn read_zigzag(bytes: &[u8]) -> Result<(i64, &[u8]), FormatError> {
    let mut n: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        if i >= 10 {
            break;
        }
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = ((n >> 1) as i64) ^ -((n & 1) as i64);
            return Ok((v, &bytes[i + 1..]));
        }
    }
    Err(FormatError::Undecodable(
        "Truncated or overlong variable-length integer".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let framed = frame(258, b"abc");
        assert_eq!(framed, [0, 0, 0, 1, 2, b'a', b'b', b'c']);
        assert_eq!(unframe(&framed).unwrap(), (258, &b"abc"[..]));
        assert!(unframe(&[1, 0, 0, 0, 1]).is_err());
        assert!(unframe(&[0, 0, 0]).is_err());
        assert!(unframe(&[]).is_err());
    }

    #[test]
    fn message_indexes_match_confluent() {
        let mut out = Vec::new();
        write_message_indexes(&[0], &mut out);
        assert_eq!(out, [0]);
        let mut out = Vec::new();
        write_message_indexes(&[1, 0], &mut out);
        // count 2, then 1 and 0, all zig-zag.
        assert_eq!(out, [4, 2, 0]);
        out.push(42);
        assert_eq!(
            read_message_indexes(&out).unwrap(),
            (vec![1, 0], &[42u8][..])
        );
        assert_eq!(
            read_message_indexes(&[0, 9]).unwrap(),
            (vec![0], &[9u8][..])
        );
        assert!(read_message_indexes(&[0x80]).is_err());
    }

    #[test]
    fn zigzag_matches_avro() {
        for (v, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            write_zigzag(v, &mut out);
            assert_eq!(out, bytes);
            assert_eq!(read_zigzag(&out).unwrap().0, v);
        }
        for v in [i64::MIN, i64::MAX, 1 << 40] {
            let mut out = Vec::new();
            write_zigzag(v, &mut out);
            assert_eq!(read_zigzag(&out).unwrap(), (v, &[][..]));
        }
    }
}
