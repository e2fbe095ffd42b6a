//! KMIP over HTTPS (KMIP Additional Message Encodings 1.0, section 2): a client POSTs one request message to
//! the configured path over the same mutual TLS as the KMIP port, and gets the response message back in the
//! encoding it chose by Content-Type: `application/octet-stream` (TTLV), `text/xml` (the XML encoding) or
//! `application/json` (the JSON encoding). HTTP/1.0 and HTTP/1.1, with keep-alive.
//!
//! Everything behind the request body is the KMIP port's: the same handler (policy, audit, limits), the same
//! size, depth and width limits, the same per-identity rate. XML and JSON requests are read into an item tree
//! here and handed on as TTLV; the response comes back as TTLV and is written in the request's encoding. Heads
//! are bounded (`max_header_bytes`, at most [`MAX_HEADERS`] fields) and read within the read timeout; a body
//! needs a Content-Length (no chunked uploads) no larger than the message limit.

use std::sync::Arc;

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::debug;
use zeroize::Zeroizing;

use crate::access::Caller;
use crate::access::limits::request_cost;
use crate::ops::FrameHandler;
use crate::server::config::ConnectionLimits;
use crate::server::connection::{Admission, End, shutdown_signalled, write_reply};
use crate::spec::DICTIONARY;
use crate::ttlv::{self, Ttlv};

/// Most header fields a request head may carry.
pub const MAX_HEADERS: usize = 64;

/// The HTTPS listener's settings (`[https]`); off unless `listen` is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpsSettings {
    /// Address and port of the HTTPS listener; None: no HTTPS listener.
    pub listen: Option<std::net::SocketAddr>,
    /// The path requests are POSTed to.
    pub path: String,
    /// Largest request head (request line and header fields), in bytes.
    pub max_header_bytes: usize,
}

impl Default for HttpsSettings {
    fn default() -> Self {
        HttpsSettings {
            listen: None,
            path: "/kmip".to_string(),
            max_header_bytes: 8 * 1024,
        }
    }
}

/// The message encodings a request may choose by its Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/octet-stream`.
    Ttlv,
    /// `text/xml`.
    Xml,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The encoding a Content-Type names (parameters such as `charset` are ignored).
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/octet-stream") {
            Some(Encoding::Ttlv)
        } else if media.eq_ignore_ascii_case("text/xml")
            || media.eq_ignore_ascii_case("application/xml")
        {
            Some(Encoding::Xml)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Ttlv => "application/octet-stream",
            Encoding::Xml => "text/xml",
            Encoding::Json => "application/json",
        }
    }
}

/// A request head as read: what the server needs of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The method.
    pub method: String,
    /// The path (with any query string).
    pub path: String,
    /// True for HTTP/1.1, false for HTTP/1.0.
    pub http11: bool,
    /// Content-Length, if given.
    pub content_length: Option<usize>,
    /// Content-Type, if given.
    pub content_type: Option<String>,
    /// Whether the client asked for the connection to stay open (HTTP/1.1 default; HTTP/1.0 only with
    /// `Connection: keep-alive`).
    pub keep_alive: bool,
    /// A Transfer-Encoding was given (chunked uploads are not taken).
    pub transfer_encoding: bool,
    /// Length of the head in bytes, the blank line included.
    pub len: usize,
}

/// Why a request head cannot be served; each is answered with its HTTP status before the connection closes.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not yet a whole head: read more.
    Partial,
    /// Malformed.
    Malformed(String),
}

/// Parses a request head from the start of `bytes`.
pub fn parse_head(bytes: &[u8]) -> Result<Head, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err(HeadError::Partial),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let http11 = request.version == Some(1);
    let mut head = Head {
        method: request.method.unwrap_or_default().to_string(),
        path: request.path.unwrap_or_default().to_string(),
        http11,
        content_length: None,
        content_type: None,
        keep_alive: http11,
        transfer_encoding: false,
        len,
    };
    for field in request.headers.iter() {
        let value = std::str::from_utf8(field.value)
            .map_err(|_| HeadError::Malformed(format!("header {} is not text", field.name)))?
            .trim();
        if field.name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse::<usize>()
                .map_err(|_| HeadError::Malformed("Content-Length is not a number".into()))?;
            if head.content_length.is_some_and(|l| l != length) {
                return Err(HeadError::Malformed(
                    "two different Content-Length fields".into(),
                ));
            }
            head.content_length = Some(length);
        } else if field.name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_string());
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            head.transfer_encoding = true;
        } else if field.name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        }
    }
    Ok(head)
}

/// An HTTP answer that is not a KMIP response: its status line and a short plain-text reason.
fn refusal(status: &str, reason: &str, allow_post: bool) -> Vec<u8> {
    let allow = if allow_post { "Allow: POST\r\n" } else { "" };
    let body = format!("{reason}\n");
    format!(
        "HTTP/1.1 {status}\r\n{allow}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A KMIP response in the request's encoding.
fn response(encoding: Encoding, body: &[u8], keep_alive: bool) -> Zeroizing<Vec<u8>> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {connection}\r\n\r\n",
        encoding.content_type(),
        body.len()
    );
    let mut out = Zeroizing::new(Vec::with_capacity(head.len() + body.len()));
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

/// What the client sent in its encoding, as a TTLV frame for the handler; Err: the body is not a message of
/// that encoding (answered 400).
fn request_frame(
    encoding: Encoding,
    body: Zeroizing<Vec<u8>>,
    limits: &ttlv::Limits,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let tree = match encoding {
        Encoding::Ttlv => return Ok(body),
        Encoding::Xml | Encoding::Json => {
            let text = std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8 text")?;
            match encoding {
                Encoding::Xml => ttlv::xml::from_xml(text, &DICTIONARY, limits),
                _ => ttlv::json::from_json(text, &DICTIONARY, limits),
            }
            .map_err(|e| format!("the body is not a KMIP message: {e}"))?
        }
    };
    ttlv::try_encode(&tree)
        .map(Zeroizing::new)
        .map_err(|e| e.to_string())
}

/// The handler's TTLV reply in the request's encoding.
fn reply_body(
    encoding: Encoding,
    reply: Zeroizing<Vec<u8>>,
    limits: &ttlv::Limits,
) -> Zeroizing<Vec<u8>> {
    if encoding == Encoding::Ttlv {
        return reply;
    }
    // The engine's own output: bounded by its length (every item takes at least 8 bytes), not by the limits
    // requests are held to. Should it ever not decode, the TTLV is the truthful answer rather than none.
    let own = ttlv::Limits {
        max_message_bytes: reply.len(),
        max_depth: limits.max_depth.max(ttlv::Limits::DEFAULT.max_depth),
        max_items_per_structure: reply.len() / 8 + 1,
    };
    let Ok(tree): Result<Ttlv, _> = ttlv::decode(&reply, &own) else {
        return reply;
    };
    Zeroizing::new(match encoding {
        Encoding::Xml => ttlv::xml::to_xml(&tree, &DICTIONARY).into_bytes(),
        _ => ttlv::json::to_json(&tree, &DICTIONARY).into_bytes(),
    })
}

/// Answers HTTP requests on one connection until it has to end.
pub(crate) async fn serve_requests<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    caller: &Caller,
    handler: &Arc<dyn FrameHandler>,
    limits: &ConnectionLimits,
    admission: &Admission,
    settings: &HttpsSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    // Bytes read past the end of one request (a pipelining client's next one).
    let mut buffer: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    loop {
        let head = match read_head(stream, &mut buffer, limits, settings, shutdown).await {
            Ok(head) => head,
            Err(end) => return end,
        };
        let refused = if head.method != "POST" {
            Some(refusal(
                "405 Method Not Allowed",
                "KMIP requests are POSTed",
                true,
            ))
        } else if head.path.split('?').next() != Some(settings.path.as_str()) {
            Some(refusal(
                "404 Not Found",
                "no KMIP endpoint at this path",
                false,
            ))
        } else if head.transfer_encoding {
            Some(refusal(
                "411 Length Required",
                "send the request with a Content-Length",
                false,
            ))
        } else {
            None
        };
        let encoding = head
            .content_type
            .as_deref()
            .and_then(Encoding::from_content_type);
        let refused = refused.or_else(|| match (head.content_length, encoding) {
            (None, _) => Some(refusal(
                "411 Length Required",
                "send the request with a Content-Length",
                false,
            )),
            (Some(length), _) if length > limits.max_message_bytes => Some(refusal(
                "413 Content Too Large",
                "the request is larger than the message limit",
                false,
            )),
            (_, None) => Some(refusal(
                "415 Unsupported Media Type",
                "Content-Type must be application/octet-stream, text/xml or application/json",
                false,
            )),
            _ => None,
        });
        if let Some(answer) = refused {
            debug!(identity = %caller.identity, method = %crate::log_text::escape_control(&head.method), "HTTP request refused");
            if let Some(end) = write_reply(stream, &answer, limits).await {
                return end;
            }
            return End::CloseRequested;
        }
        let (Some(length), Some(encoding)) = (head.content_length, encoding) else {
            return End::CloseRequested;
        };
        let body = match read_body(stream, &mut buffer, head.len, length, limits).await {
            Ok(body) => body,
            Err(end) => return end,
        };
        let ttlv_limits = limits.ttlv();
        let frame = match request_frame(encoding, body, &ttlv_limits) {
            Ok(frame) => frame,
            Err(reason) => {
                let answer = refusal("400 Bad Request", &reason, false);
                if let Some(end) = write_reply(stream, &answer, limits).await {
                    return end;
                }
                return End::CloseRequested;
            }
        };
        let delay = admission
            .limits
            .request_delay(&caller.identity, request_cost(&frame));
        if !delay.is_zero() {
            tokio::select! {
                _ = shutdown_signalled(shutdown) => return End::Shutdown,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        // The KMIP port's bound on requests handled at once holds here too.
        let slot = admission.handlers.clone().acquire_owned().await.ok();
        let worker = handler.clone();
        let worker_caller = caller.clone();
        let answered = tokio::task::spawn_blocking(move || {
            let reply = worker.handle_frame(&frame, &worker_caller);
            drop(slot);
            reply
        })
        .await;
        let Ok(reply) = answered else {
            return End::HandlerFailed;
        };
        let keep_alive = head.keep_alive && !reply.close_after;
        let body = reply_body(encoding, Zeroizing::new(reply.bytes), &ttlv_limits);
        let answer = response(encoding, &body, keep_alive);
        if let Some(end) = write_reply(stream, &answer, limits).await {
            return end;
        }
        if !keep_alive {
            return End::CloseRequested;
        }
    }
}

/// Reads until `buffer` holds a whole head: waits (idle timeout, or shutdown) for the first byte, then the
/// rest within the read timeout.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Zeroizing<Vec<u8>>,
    limits: &ConnectionLimits,
    settings: &HttpsSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Head, End> {
    let mut deadline: Option<Instant> = None;
    loop {
        if !buffer.is_empty() {
            match parse_head(buffer) {
                Ok(head) => return Ok(head),
                Err(HeadError::Partial) => {}
                Err(HeadError::Malformed(reason)) => {
                    debug!(reason = %crate::log_text::escape_control(&reason), "malformed HTTP request head");
                    return Err(End::Truncated);
                }
            }
            if buffer.len() >= settings.max_header_bytes {
                return Err(End::Truncated);
            }
        }
        let mut chunk = [0u8; 4096];
        let room = settings
            .max_header_bytes
            .saturating_sub(buffer.len())
            .clamp(1, chunk.len());
        let read = match deadline {
            None => {
                let waited = tokio::select! {
                    biased;
                    _ = shutdown_signalled(shutdown) => return Err(End::Shutdown),
                    waited = timeout(limits.idle_timeout, stream.read(&mut chunk[..room])) => waited,
                };
                deadline = Some(Instant::now() + limits.read_timeout);
                match waited {
                    Err(_) => return Err(End::Idle),
                    Ok(read) => read,
                }
            }
            Some(at) => match timeout_at(at, stream.read(&mut chunk[..room])).await {
                Err(_) => return Err(End::ReadTimeout),
                Ok(read) => read,
            },
        };
        match read {
            Ok(0) if buffer.is_empty() => return Err(End::PeerClosed),
            Ok(0) => return Err(End::Truncated),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && buffer.is_empty() => {
                return Err(End::PeerClosed);
            }
            Err(e) => return Err(End::Io(e)),
            Ok(n) => buffer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

/// The body of `length` bytes after a head of `head_len` bytes; what follows it stays in `buffer`.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Zeroizing<Vec<u8>>,
    head_len: usize,
    length: usize,
    limits: &ConnectionLimits,
) -> Result<Zeroizing<Vec<u8>>, End> {
    let deadline = Instant::now() + limits.read_timeout;
    let mut body = Zeroizing::new(Vec::with_capacity(length));
    let after_head = buffer.get(head_len..).unwrap_or_default();
    let taken = after_head.len().min(length);
    body.extend_from_slice(after_head.get(..taken).unwrap_or_default());
    let rest = Zeroizing::new(after_head.get(taken..).unwrap_or_default().to_vec());
    *buffer = rest;
    let missing = length - body.len();
    if missing > 0 {
        let start = body.len();
        body.resize(length, 0);
        let target = body.get_mut(start..).unwrap_or_default();
        match timeout_at(deadline, stream.read_exact(target)).await {
            Err(_) => return Err(End::ReadTimeout),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(End::Truncated);
            }
            Ok(Err(e)) => return Err(End::Io(e)),
            Ok(Ok(_)) => {}
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_of_the_profile_vector_parses() {
        // MSGENC-HTTPS-M-1-10's request head (Additional Message Encodings 1.0, section 3.1.1).
        let head = b"POST /kmip HTTP/1.0\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\nContent-Type: application/octet-stream\r\nContent-Length: 152       \r\n\r\nB";
        let parsed = parse_head(head).unwrap();
        assert_eq!(parsed.method, "POST");
        assert_eq!(parsed.path, "/kmip");
        assert!(!parsed.http11);
        assert!(parsed.keep_alive, "HTTP/1.0 with Connection: keep-alive");
        assert_eq!(parsed.content_length, Some(152));
        assert_eq!(parsed.len, head.len() - 1);
        assert_eq!(
            Encoding::from_content_type(parsed.content_type.as_deref().unwrap()),
            Some(Encoding::Ttlv)
        );
    }

    #[test]
    fn heads_are_read_strictly() {
        assert_eq!(
            parse_head(b"POST /kmip HTTP/1.1\r\nContent-Le"),
            Err(HeadError::Partial)
        );
        assert!(matches!(
            parse_head(b"POST /kmip HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"POST /kmip HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let closing = parse_head(b"POST /kmip HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(closing.http11 && !closing.keep_alive);
        let old = parse_head(b"POST /kmip HTTP/1.0\r\n\r\n").unwrap();
        assert!(!old.keep_alive, "HTTP/1.0 closes unless asked");
    }

    #[test]
    fn content_types_choose_the_encoding() {
        assert_eq!(
            Encoding::from_content_type("text/xml; charset=utf-8"),
            Some(Encoding::Xml)
        );
        assert_eq!(
            Encoding::from_content_type("Application/JSON"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }
}
