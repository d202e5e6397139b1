//! The protocol server: accepts connections (plain or TLS), reads length-prefixed frames,
//! authenticates SASL listeners' clients, checks ACLs around the dispatcher and writes
//! responses back in request order.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::acl::Authorizer;
use crate::acl::enforce::{self, Caller, Gate, Refused};
use crate::codec::{self, FrameError};
use crate::config::SecurityProtocol;
use crate::context::RequestContext;
use crate::sasl::{SaslSession, SaslStep, UserStore};
use crate::state::BrokerState;

/// What the connections of every listener share about authentication and ACLs.
pub struct Security {
    /// SASL users and SCRAM credentials.
    pub users: UserStore,
    /// ACLs and the authorizer switch.
    pub authorizer: Authorizer,
    /// The directory holding the partition logs, as DescribeLogDirs names it.
    pub log_dir: String,
}

/// One listener's protocol and the address it announces.
pub struct ListenerInfo {
    /// PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL (TLS listeners take the broker's
    /// current certificate for each connection).
    pub protocol: SecurityProtocol,
    /// Host and port announced to clients of this listener instead of the broker's
    /// primary address (`None` for the primary listener).
    pub advertised: Option<(String, i32)>,
}

/// Accepts connections until `shutdown` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<BrokerState>,
    security: Arc<Security>,
    info: Arc<ListenerInfo>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut trouble = AcceptTrouble::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    trouble.recovered();
                    tracing::debug!(%peer, "connection accepted");
                    let state = state.clone();
                    let shutdown = shutdown.clone();
                    let security = security.clone();
                    let info = info.clone();
                    let settings = state.topics.settings();
                    set_buffer_sizes(
                        &stream,
                        settings.socket_send_buffer_bytes,
                        settings.socket_receive_buffer_bytes,
                    );
                    connections.spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let conn = Connection {
                            state,
                            security,
                            info: info.clone(),
                            peer,
                            principal: ANONYMOUS.to_string(),
                            authenticated: false,
                            sasl: None,
                        };
                        let tls = info
                            .protocol
                            .tls()
                            .then(|| conn.state.listener_security.read().tls.clone());
                        match tls {
                            None => serve_connection(stream, conn, shutdown).await,
                            Some(None) => {
                                tracing::warn!(%peer, "no TLS certificate configured; connection closed")
                            }
                            Some(Some(acceptor)) => {
                                let handshake = tokio::time::timeout(
                                    std::time::Duration::from_secs(30),
                                    acceptor.accept(stream),
                                );
                                match handshake.await {
                                    Ok(Ok(tls)) => serve_connection(tls, conn, shutdown).await,
                                    Ok(Err(e)) => {
                                        tracing::warn!(%peer, "TLS handshake failed: {e}")
                                    }
                                    Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: the connection waits in the
                    // kernel's backlog, so back off (instead of spinning on an accept
                    // that fails at once) and take it when descriptors are free again.
                    trouble.failed(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(trouble.backoff()) => {}
                        _ = shutdown.changed() => break,
                    }
                    continue;
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

/// Applies `socket.send.buffer.bytes` and `socket.receive.buffer.bytes` (-1 leaves the
/// system's size).
fn set_buffer_sizes(stream: &tokio::net::TcpStream, send: i32, receive: i32) {
    use std::os::fd::AsRawFd;
    for (option, size) in [(libc::SO_SNDBUF, send), (libc::SO_RCVBUF, receive)] {
        if size < 0 {
            continue;
        }
        // SAFETY: the descriptor is the open socket `stream` owns, and the option value
        // is a c_int of the size given.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "cannot set a socket buffer size");
        }
    }
}

/// Failed accepts in a row: logged once when they start and once when they end, so a
/// process out of file descriptors is neither silent nor flooding its log.
#[derive(Default)]
struct AcceptTrouble {
    failures: u32,
}

impl AcceptTrouble {
    /// The first backoff; it doubles up to [`Self::MAX_BACKOFF`].
    const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);
    /// The longest wait between attempts: short, so service resumes soon after
    /// descriptors are released.
    const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_millis(500);

    fn failed(&mut self, e: &std::io::Error) {
        self.failures = self.failures.saturating_add(1);
        if self.failures > 1 {
            return;
        }
        let fds = matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE));
        if fds {
            tracing::warn!(
                error = %e,
                "the broker is out of file descriptors: new connections wait until some are released (raise the limit with `ulimit -n`)"
            );
        } else {
            tracing::warn!(error = %e, "accepting a connection failed; retrying");
        }
    }

    fn backoff(&self) -> std::time::Duration {
        let doublings = self.failures.saturating_sub(1).min(6);
        (Self::FIRST_BACKOFF * 2u32.pow(doublings)).min(Self::MAX_BACKOFF)
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failed_attempts = self.failures,
                "the broker accepts connections again"
            );
            self.failures = 0;
        }
    }
}

/// The principal of a connection that has not authenticated (Kafka's name for it).
const ANONYMOUS: &str = "User:ANONYMOUS";

/// One client connection's state: who it is and how far SASL has got.
struct Connection {
    state: Arc<BrokerState>,
    security: Arc<Security>,
    info: Arc<ListenerInfo>,
    peer: SocketAddr,
    principal: String,
    authenticated: bool,
    sasl: Option<SaslSession>,
}

/// A response frame, and whether the connection closes once it is written.
struct Reply {
    frame: Option<Vec<Bytes>>,
    close: bool,
}

impl Reply {
    fn send(frame: Vec<Bytes>) -> Self {
        Self {
            frame: Some(frame),
            close: false,
        }
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
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

async fn serve_connection<S>(stream: S, mut conn: Connection, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let peer = conn.peer;
    let (rd, wr) = tokio::io::split(stream);
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
        let _ = wr.shutdown().await;
    });
    let mut reader = BufReader::with_capacity(64 * 1024, rd);
    let max = conn.state.topics.settings().max_request_bytes;
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
        match conn.handle_frame(frame).await {
            Ok(reply) => {
                if let Some(frame) = reply.frame
                    && tx.send(frame).await.is_err()
                {
                    break;
                }
                if reply.close {
                    break;
                }
            }
            Err(why) => {
                tracing::warn!(%peer, "closing connection: {why}");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

impl Connection {
    /// Handles one frame.
    async fn handle_frame(&mut self, frame: Bytes) -> Result<Reply, String> {
        let state = &*self.state;
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
                // KIP-511: a client newer than the broker gets the broker's versions in a
                // v0 reply, so it can pick one it shares.
                let mut resp = crate::api::api_versions::response(state, 0);
                resp.error_code = kafka_protocol::ResponseError::UnsupportedVersion.code();
                return encode(
                    raw.api_key,
                    0,
                    raw.correlation_id,
                    &ResponseKind::ApiVersions(resp),
                )
                .map(Reply::send);
            }
            return Err(format!(
                "{:?} v{} is not supported (supported: {:?})",
                raw.api_key,
                raw.api_version,
                state.version_range(raw.api_key)
            ));
        }
        tracing::trace!(
            peer = %self.peer,
            api = ?raw.api_key,
            version = raw.api_version,
            correlation_id = raw.correlation_id,
            "request"
        );
        if self.info.protocol.sasl()
            && !self.authenticated
            && !matches!(
                raw.api_key,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            )
        {
            // Kafka drops a SASL listener's connection that skips authentication.
            return Err(format!(
                "{:?} request before SASL authentication",
                raw.api_key
            ));
        }
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
            peer: self.peer,
            api_version: raw.api_version,
        };
        let (response, close) = match request {
            RequestKind::SaslHandshake(r) => (Some(self.sasl_handshake(r)), false),
            RequestKind::SaslAuthenticate(r) => {
                let (resp, close) = self.sasl_authenticate(r);
                (Some(resp), close)
            }
            request => (self.authorized_dispatch(&ctx, request).await?, false),
        };
        let frame = match response {
            Some(resp) => Some(encode(
                raw.api_key,
                raw.api_version,
                raw.correlation_id,
                &resp,
            )?),
            None => None,
        };
        Ok(Reply { frame, close })
    }

    fn sasl_handshake(&mut self, r: SaslHandshakeRequest) -> ResponseKind {
        let mut resp = SaslHandshakeResponse::default();
        let mechanisms = self.state.listener_security.read().mechanisms.clone();
        resp.mechanisms = mechanisms
            .iter()
            .map(|m| StrBytes::from_string(m.clone()))
            .collect();
        if !self.info.protocol.sasl() || self.authenticated {
            resp.error_code = ResponseError::IllegalSaslState.code();
        } else if !mechanisms.iter().any(|m| **m == *r.mechanism) {
            resp.error_code = ResponseError::UnsupportedSaslMechanism.code();
        } else {
            self.sasl = SaslSession::start(&r.mechanism);
            if self.sasl.is_none() {
                resp.error_code = ResponseError::UnsupportedSaslMechanism.code();
            }
        }
        ResponseKind::SaslHandshake(resp)
    }

    fn sasl_authenticate(&mut self, r: SaslAuthenticateRequest) -> (ResponseKind, bool) {
        let mut resp = SaslAuthenticateResponse::default();
        let Some(session) = self.sasl.as_mut() else {
            resp.error_code = ResponseError::IllegalSaslState.code();
            resp.error_message = Some(StrBytes::from_static_str(
                "SaslAuthenticate without a successful SaslHandshake",
            ));
            return (ResponseKind::SaslAuthenticate(resp), true);
        };
        match session.step(&self.security.users, &r.auth_bytes) {
            SaslStep::Continue(reply) => {
                resp.auth_bytes = Bytes::from(reply);
                (ResponseKind::SaslAuthenticate(resp), false)
            }
            SaslStep::Done(user, reply) => {
                tracing::debug!(peer = %self.peer, %user, "SASL authentication succeeded");
                resp.auth_bytes = Bytes::from(reply);
                self.principal = format!("User:{user}");
                self.authenticated = true;
                self.sasl = None;
                (ResponseKind::SaslAuthenticate(resp), false)
            }
            SaslStep::Failed(why) => {
                tracing::info!(peer = %self.peer, "SASL authentication failed: {why}");
                resp.error_code = ResponseError::SaslAuthenticationFailed.code();
                resp.error_message = Some(StrBytes::from_string(why));
                self.sasl = None;
                (ResponseKind::SaslAuthenticate(resp), true)
            }
        }
    }

    /// Checks ACLs, answers the request and puts refused resources back.
    async fn authorized_dispatch(
        &self,
        ctx: &RequestContext,
        request: RequestKind,
    ) -> Result<Option<ResponseKind>, String> {
        let host = self.peer.ip().to_string();
        let caller = Caller {
            principal: &self.principal,
            host: &host,
        };
        let authorizer = &self.security.authorizer;
        let (request, refused) =
            match enforce::before(authorizer, &caller, ctx.api_version, request) {
                Gate::Answer(resp) => return Ok(Some(self.readdress(*resp))),
                Gate::Forward(request, refused) => (*request, refused),
            };
        let v = ctx.api_version;
        let response = match request {
            RequestKind::CreateAcls(r) => Some(ResponseKind::CreateAcls(
                crate::api::create_acls::handle(authorizer, r, v),
            )),
            RequestKind::DescribeAcls(r) => Some(ResponseKind::DescribeAcls(
                crate::api::describe_acls::handle(authorizer, r, v),
            )),
            RequestKind::DeleteAcls(r) => Some(ResponseKind::DeleteAcls(
                crate::api::delete_acls::handle(authorizer, r, v),
            )),
            RequestKind::DescribeUserScramCredentials(r) => {
                Some(ResponseKind::DescribeUserScramCredentials(
                    crate::api::describe_user_scram_credentials::handle(&self.security.users, r, v),
                ))
            }
            RequestKind::AlterUserScramCredentials(r) => {
                Some(ResponseKind::AlterUserScramCredentials(
                    crate::api::alter_user_scram_credentials::handle(&self.security.users, r, v),
                ))
            }
            RequestKind::DescribeLogDirs(r) => Some(ResponseKind::DescribeLogDirs(
                crate::api::describe_log_dirs::handle(&self.state, &self.security.log_dir, r, v),
            )),
            RequestKind::ListPartitionReassignments(r) => {
                Some(ResponseKind::ListPartitionReassignments(
                    crate::api::list_partition_reassignments::handle(&self.state, r, v),
                ))
            }
            RequestKind::AlterPartitionReassignments(r) => {
                Some(ResponseKind::AlterPartitionReassignments(
                    crate::api::alter_partition_reassignments::handle(&self.state, r, v),
                ))
            }
            RequestKind::ElectLeaders(r) => Some(ResponseKind::ElectLeaders(
                crate::api::elect_leaders::handle(&self.state, r, v),
            )),
            request => {
                let produce_refused = matches!(
                    (&request, &refused),
                    (RequestKind::Produce(_), Refused::Topics(t)) if !t.is_empty()
                );
                let response = crate::api::dispatch(&self.state, ctx, request).await?;
                if response.is_none() && produce_refused {
                    // acks=0: closing is the only way to tell the producer.
                    return Err("acks=0 produce to a topic the principal may not write".into());
                }
                response
            }
        };
        Ok(response.map(|r| self.readdress(enforce::after(authorizer, &caller, r, refused))))
    }

    /// Announces this listener's address instead of the primary one, so clients that
    /// came in over a second listener stay on it.
    fn readdress(&self, response: ResponseKind) -> ResponseKind {
        let Some((host, port)) = &self.info.advertised else {
            return response;
        };
        let me = self.state.node_id;
        match response {
            ResponseKind::Metadata(mut r) => {
                for b in &mut r.brokers {
                    if b.node_id.0 == me {
                        b.host = StrBytes::from_string(host.clone());
                        b.port = *port;
                    }
                }
                ResponseKind::Metadata(r)
            }
            ResponseKind::FindCoordinator(mut r) => {
                if r.node_id.0 == me {
                    r.host = StrBytes::from_string(host.clone());
                    r.port = *port;
                }
                for c in &mut r.coordinators {
                    if c.node_id.0 == me {
                        c.host = StrBytes::from_string(host.clone());
                        c.port = *port;
                    }
                }
                ResponseKind::FindCoordinator(r)
            }
            ResponseKind::DescribeCluster(mut r) => {
                for b in &mut r.brokers {
                    if b.broker_id.0 == me {
                        b.host = StrBytes::from_string(host.clone());
                        b.port = *port;
                    }
                }
                ResponseKind::DescribeCluster(r)
            }
            other => other,
        }
    }
}

/// Encodes a response; one holding a string its version cannot carry is fitted to the
/// version (see `oversize`) rather than costing the client its connection.
fn encode(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: &ResponseKind,
) -> Result<Vec<Bytes>, String> {
    let first = match codec::encode_response(key, version, correlation_id, resp) {
        Ok(frame) => return Ok(frame),
        Err(e) => e,
    };
    let fitted = crate::oversize::fit(version, resp.clone());
    codec::encode_response(key, version, correlation_id, &fitted).map_err(|e| {
        tracing::error!("bug: cannot encode {key:?} v{version} response: {first}; fitted: {e}");
        format!("response encoding failed: {e}")
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn configured_socket_buffer_sizes_are_applied() {
        use std::os::fd::AsRawFd;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let get = |option| {
            let mut value: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: reads an int option of an open socket into `value`.
            let rc = unsafe {
                libc::getsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&mut value as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0);
            value
        };
        super::set_buffer_sizes(&stream, 50_000, 70_000);
        // Linux reports twice the size asked for (its bookkeeping overhead).
        assert!(
            (50_000..=100_000).contains(&get(libc::SO_SNDBUF)),
            "{}",
            get(libc::SO_SNDBUF)
        );
        assert!(
            (70_000..=140_000).contains(&get(libc::SO_RCVBUF)),
            "{}",
            get(libc::SO_RCVBUF)
        );
    }
}
