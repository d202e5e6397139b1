use kgate_formats::schema::*;
fn main() {
    let which = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let mut defs = serde_json::Map::new();
    for i in 0..n {
        let next = format!("#/definitions/d{}", i + 1);
        let v = match which.as_str() {
            "chain" => serde_json::json!({"$ref": next}),
            "props" => serde_json::json!({"properties": {"a": {"$ref": next}}}),
            "double" => serde_json::json!({"allOf": [{"$ref": next}, {"$ref": next}]}),
            "doubleprops" => {
                serde_json::json!({"properties": {"a": {"$ref": next}, "b": {"$ref": next}}})
            }
            _ => panic!(),
        };
        defs.insert(format!("d{i}"), v);
    }
    defs.insert(format!("d{n}"), serde_json::json!({"type": "string"}));
    let schema = serde_json::json!({"definitions": defs, "$ref": "#/definitions/d0"});
    let text = schema.to_string();
    eprintln!("{} bytes", text.len());
    let t = std::time::Instant::now();
    let r = ParsedSchema::parse(SchemaType::Json, &text, &[]);
    eprintln!("parse {:?} in {:?}", r.as_ref().err(), t.elapsed());
    if let Ok(ParsedSchema::Json(j)) = r {
        let t = std::time::Instant::now();
        let v = j.validate(&serde_json::json!("x"));
        eprintln!("validate {:?} in {:?}", v, t.elapsed());
    }
}
