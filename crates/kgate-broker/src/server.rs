//! The protocol server: accepts connections, reads length-prefixed frames, hands each
//! request to the dispatcher and writes responses back in request order.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::codec::{self, FrameError};
use crate::context::RequestContext;
use crate::state::BrokerState;

/// Accepts connections until `shutdown` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<BrokerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "connection accepted");
                    let state = state.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        serve_connection(stream, peer, state, shutdown).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    // Connections see the same shutdown signal; give them a moment to finish the
    // request in hand, then stop the rest.
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            _ = &mut deadline => { connections.abort_all(); break }
        }
    }
}

async fn read_frame(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    max: usize,
) -> Result<Option<Bytes>, String> {
    let len = match reader.read_i32().await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("read failed: {e}")),
    };
    if len < 0 || len as usize > max {
        return Err(format!(
            "frame length {len} is outside 0..={max} (socket.request.max.bytes)"
        ));
    }
    // Read into spare capacity: zero-filling a large produce frame first is wasted work.
    let len = len as usize;
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let want = (len - buf.len()) as u64;
        let n = (&mut *reader)
            .take(want)
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err(format!(
                "truncated frame: {} of {len} bytes arrived before the connection closed",
                buf.len()
            ));
        }
    }
    Ok(Some(buf.freeze()))
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<BrokerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(256);
    // Writing runs beside reading so the next request is decoded while the previous
    // response is still going out; the channel keeps responses in request order.
    let writer = tokio::spawn(async move {
        let mut wr = BufWriter::with_capacity(64 * 1024, wr);
        while let Some(frame) = rx.recv().await {
            for part in &frame {
                if wr.write_all(part).await.is_err() {
                    return;
                }
            }
            while let Ok(more) = rx.try_recv() {
                for part in &more {
                    if wr.write_all(part).await.is_err() {
                        return;
                    }
                }
            }
            if wr.flush().await.is_err() {
                return;
            }
        }
    });
    let mut reader = BufReader::with_capacity(64 * 1024, rd);
    let max = state.topics.settings().max_request_bytes;
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut reader, max) => f,
            _ = shutdown.changed() => break,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(why) => {
                tracing::warn!(%peer, "closing connection: {why}");
                break;
            }
        };
        match handle_frame(&state, peer, frame).await {
            Ok(Some(response)) => {
                if tx.send(response).await.is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(%peer, "closing connection: {why}");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Handles one frame; `Ok(None)` means the request takes no response (acks=0).
async fn handle_frame(
    state: &BrokerState,
    peer: SocketAddr,
    frame: Bytes,
) -> Result<Option<Vec<Bytes>>, String> {
    let raw = match codec::parse_frame(frame) {
        Ok(raw) => raw,
        Err(FrameError::Malformed(why)) => return Err(why),
        Err(FrameError::UnknownApiKey { api_key }) => {
            return Err(format!("unknown API key {api_key}"));
        }
    };
    let supported = state
        .version_range(raw.api_key)
        .is_some_and(|(min, max)| (min..=max).contains(&raw.api_version));
    if !supported {
        if raw.api_key == ApiKey::ApiVersions {
            // KIP-511: a client newer than the broker gets the broker's versions in a v0
            // reply, so it can pick one it shares.
            let mut resp = crate::api::api_versions::response(state, 0);
            resp.error_code = kafka_protocol::ResponseError::UnsupportedVersion.code();
            return encode(
                raw.api_key,
                0,
                raw.correlation_id,
                &ResponseKind::ApiVersions(resp),
            )
            .map(Some);
        }
        return Err(format!(
            "{:?} v{} is not supported (supported: {:?})",
            raw.api_key,
            raw.api_version,
            state.version_range(raw.api_key)
        ));
    }
    tracing::trace!(
        %peer,
        api = ?raw.api_key,
        version = raw.api_version,
        correlation_id = raw.correlation_id,
        "request"
    );
    let request = codec::decode_body(&raw).map_err(|e| {
        format!(
            "malformed {:?} v{} request: {e}",
            raw.api_key, raw.api_version
        )
    })?;
    let ctx = RequestContext {
        client_id: raw
            .header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        peer,
        api_version: raw.api_version,
    };
    let response = crate::api::dispatch(state, &ctx, request).await?;
    match response {
        Some(resp) => encode(raw.api_key, raw.api_version, raw.correlation_id, &resp).map(Some),
        None => Ok(None),
    }
}

fn encode(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: &ResponseKind,
) -> Result<Vec<Bytes>, String> {
    codec::encode_response(key, version, correlation_id, resp).map_err(|e| {
        tracing::error!("bug: cannot encode {key:?} v{version} response: {e}");
        format!("response encoding failed: {e}")
    })
}
