//! Shared by the registry's integration tests: a small JSON client for one registry.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

/// The registry's content type.
pub const CT: &str = "application/vnd.schemaregistry.v1+json";

/// Requests to one registry, answering (status, body as JSON or a JSON string).
#[derive(Clone)]
pub struct Registry {
    pub url: String,
    pub http: reqwest::Client,
}

impl Registry {
    pub fn new(url: String) -> Registry {
        Registry {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.header("content-type", CT).body(b.to_string());
        }
        let (status, ct, text) = kgate_testkit::text_answer(req).await;
        assert_eq!(ct, CT, "content type of {path}: {text}");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Registers and returns the id, panicking on anything but 200.
    pub async fn register(&self, subject: &str, body: Value) -> i64 {
        let (status, v) = self
            .post(&format!("/subjects/{subject}/versions"), body)
            .await;
        assert_eq!(status, 200, "register {subject}: {v}");
        v["id"].as_i64().expect("id")
    }
}

/// Asserts an error answer: status, error_code and a message.
pub fn assert_error(answer: &(u16, Value), status: u16, code: i64) {
    assert_eq!(answer.0, status, "status of {}", answer.1);
    assert_eq!(
        answer.1["error_code"],
        json!(code),
        "error code of {}",
        answer.1
    );
    assert!(answer.1["message"].is_string(), "message of {}", answer.1);
}

/// An Avro record schema named `name` with these (field, type, default) fields.
pub fn avro_record(name: &str, fields: &[(&str, &str, Option<Value>)]) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(f, t, d)| match d {
            Some(d) => json!({"name": f, "type": t, "default": d}),
            None => json!({"name": f, "type": t}),
        })
        .collect();
    json!({"schema": json!({"type": "record", "name": name, "fields": fields}).to_string()})
}
