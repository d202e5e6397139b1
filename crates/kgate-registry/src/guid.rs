//! Schema GUIDs: the content-derived identifier Confluent's registry (8.x) gives every
//! schema beside its numeric id. It is the MD5 digest of the schema text followed by each
//! reference's name, subject and version (a 4-byte big-endian integer), written as a UUID,
//! so the same schema has the same GUID in kgate and in Confluent's registry.

use crate::state::SchemaContent;

/// The GUID of a schema.
pub fn of(content: &SchemaContent) -> String {
    let mut input = Vec::with_capacity(content.schema.len() + 64);
    input.extend_from_slice(content.schema.as_bytes());
    for r in &content.references {
        input.extend_from_slice(r.name.as_bytes());
        input.extend_from_slice(r.subject.as_bytes());
        input.extend_from_slice(&r.version.to_be_bytes());
    }
    let d = md5(&input);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `text` has the form of a GUID (8-4-4-4-12 hex digits), so a malformed one is
/// refused without a look-up.
pub fn is_well_formed(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// MD5 (RFC 1321). Used as a content fingerprint that must match Confluent's, not for
/// security.
fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    // K[i] = floor(2^32 * |sin(i + 1)|), as the RFC tabulates.
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut message = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) = (
        0x6745_2301u32,
        0xefcd_ab89u32,
        0x98ba_dcfeu32,
        0x1032_5476u32,
    );
    for chunk in message.chunks_exact(64) {
        let m: Vec<u32> = chunk
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&a0.to_le_bytes());
    out[4..8].copy_from_slice(&b0.to_le_bytes());
    out[8..12].copy_from_slice(&c0.to_le_bytes());
    out[12..16].copy_from_slice(&d0.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kgate_formats::schema::{SchemaReference, SchemaType};

    fn hex(d: [u8; 16]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn md5_matches_the_rfc_test_suite() {
        for (input, digest) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(hex(md5(input.as_bytes())), digest, "md5({input:?})");
        }
    }

    #[test]
    fn the_guid_is_the_digest_of_text_and_references_as_a_uuid() {
        let plain = SchemaContent {
            schema_type: SchemaType::Avro,
            schema: "abc".into(),
            references: vec![],
        };
        assert_eq!(of(&plain), "90015098-3cd2-4fb0-d696-3f7d28e17f72");
        assert!(is_well_formed(&of(&plain)));
        let with_reference = SchemaContent {
            references: vec![SchemaReference {
                name: "n".into(),
                subject: "s".into(),
                version: 1,
            }],
            ..plain.clone()
        };
        let mut input = b"abcns".to_vec();
        input.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(of(&with_reference).replace('-', ""), hex(md5(&input)));
        assert!(!is_well_formed("90015098-3cd2-4fb0-d696-3f7d28e17f7"));
        assert!(!is_well_formed("not-a-guid"));
    }
}
