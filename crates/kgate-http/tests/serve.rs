//! Serving over a real socket: body limit answered in the JSON envelope, trailing
//! slashes, request bodies read in full, and shutdown letting `serve` return.

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use kgate_http::{HttpError, LimitedBody, serve, with_common_layers};

async fn echo_len(body: Result<LimitedBody, HttpError>) -> Result<String, HttpError> {
    body.map(|LimitedBody(b)| b.len().to_string())
}

#[tokio::test]
async fn limits_slashes_and_shutdown() {
    let router = with_common_layers(Router::new().route("/echo", post(echo_len)), 1024);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    let resp = http
        .post(format!("{base}/echo"))
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "1024");

    // Same route with a trailing slash.
    let resp = http
        .post(format!("{base}/echo/"))
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "3");

    // One byte over the limit: 413 in the error envelope, announced length or streamed.
    let resp = http
        .post(format!("{base}/echo"))
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 413);
    assert!(body["message"].as_str().unwrap().contains("1024"));

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b'a'; 600]), Ok(vec![b'b'; 600])];
    let resp = http
        .post(format!("{base}/echo"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
}
