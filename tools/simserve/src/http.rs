//! The HTTP plumbing shared by the worker and the router: one boxed body type, a streaming
//! body fed by a channel, the accept loop, and a small keep-alive client to backends.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

pub fn json(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "application/json".parse().expect("static"));
    response
}

pub fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json(status, &crate::openai::error_body(status.as_u16(), kind, message))
}

/// A response body whose frames arrive on a channel; the sender learns that the client went
/// away when `send` fails.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A server-sent-events response and the sender of its frames.
pub fn sse() -> (Response<Body>, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(16);
    let mut response = Response::new(BoxBody::new(ChannelBody { rx }));
    let headers = response.headers_mut();
    headers.insert("content-type", "text/event-stream".parse().expect("static"));
    headers.insert("cache-control", "no-cache".parse().expect("static"));
    (response, tx)
}

/// Serves HTTP/1.1 on `listener` forever, one task per connection.
pub async fn serve<H, F>(listener: TcpListener, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, usually: back off instead of spinning.
                crate::log::note(format_args!("warning: accept: {e}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = handler(req);
                async move { Ok::<_, Infallible>(response.await) }
            });
            // Errors here are clients that went away mid-request: nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// How long connecting to a backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept per backend.
const MAX_IDLE: usize = 1024;

/// A backend server (`host:port`) with a pool of idle keep-alive connections (shared by clones).
#[derive(Clone)]
pub struct Backend {
    pub addr: String,
    idle: Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>,
}

impl Backend {
    pub fn new(addr: &str) -> Backend {
        let addr = addr.trim_start_matches("http://").trim_end_matches('/').to_string();
        Backend { addr, idle: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Sends a request with a body; `Err` means the backend could not be reached (it is gone),
    /// as opposed to an HTTP error status, which is a response.
    pub async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        let build = || {
            Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", &self.addr)
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| format!("bad request to {}: {e}", self.addr))
        };
        // A pooled connection may have been closed by the backend meanwhile: then try a new one.
        if let Some(mut sender) = self.take_idle() {
            if let Ok(response) = sender.send_request(build()?).await {
                self.recycle(sender);
                return Ok(response);
            }
        }
        let mut sender = self.connect().await?;
        let response = sender.send_request(build()?).await.map_err(|e| e.to_string())?;
        self.recycle(sender);
        Ok(response)
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Returns the connection to the pool once its response has been read to the end.
    fn recycle(&self, mut sender: SendRequest<Full<Bytes>>) {
        let idle = self.idle.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(sender);
                }
            }
        });
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| format!("connect timed out after {} s", CONNECT_TIMEOUT.as_secs()))?
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// `GET /health` within `limit`: the status, or why there is none.
    pub async fn health(&self, limit: Duration) -> Result<u16, String> {
        let check = async {
            let response = self.send(hyper::Method::GET, "/health", Bytes::new()).await?;
            let status = response.status().as_u16();
            // Read the (small) body so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok(status)
        };
        tokio::time::timeout(limit, check)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", limit.as_millis())))
    }
}
