use kgate_formats::schema::*;
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let mk = |leaf: &str| {
        let mut t = format!(
            r#"{{"type":"record","name":"T{n}","fields":[{{"name":"v","type":"{leaf}"}}]}}"#
        );
        for i in (0..n).rev() {
            t = format!(
                r#"{{"type":"record","name":"T{i}","fields":[{{"name":"a","type":{t}}},{{"name":"b","type":"T{}"}}]}}"#,
                i + 1
            );
        }
        t
    };
    let (a, b) = (mk("int"), mk("long"));
    let a = ParsedSchema::parse(SchemaType::Avro, &a, &[]).unwrap();
    let b = ParsedSchema::parse(SchemaType::Avro, &b, &[]).unwrap();
    let t = std::time::Instant::now();
    let r = b.read_incompatibilities(&a);
    eprintln!("{} in {:?}", r.len(), t.elapsed());
    let t = std::time::Instant::now();
    let r = a.read_incompatibilities(&b);
    eprintln!("{} in {:?}", r.len(), t.elapsed());
}
