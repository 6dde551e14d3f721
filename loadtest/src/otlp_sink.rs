//! A minimal OTLP/HTTP trace sink for `--compare-tracing`: accepts `POST /v1/traces` (protobuf), counts the
//! spans in each export request and discards them. It answers at once with an empty (valid) export response,
//! so the shop's exporter never waits on it, and it does not decode attributes or keep spans, so it costs
//! the generator's machine as little as an OTLP endpoint can. Serves from its own thread and runtime.
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::post,
};
use serde::Serialize;

/// What the sink has received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SinkCounts {
    /// Spans in well-formed export requests.
    pub spans: u64,
    /// Export requests (`POST /v1/traces`).
    pub requests: u64,
    /// Request body bytes.
    pub bytes: u64,
    /// Requests whose body was not a well-formed `ExportTraceServiceRequest` (answered 400).
    pub malformed: u64,
}

impl SinkCounts {
    /// What arrived between `earlier` and `self`.
    pub fn since(self, earlier: SinkCounts) -> SinkCounts {
        SinkCounts {
            spans: self.spans - earlier.spans,
            requests: self.requests - earlier.requests,
            bytes: self.bytes - earlier.bytes,
            malformed: self.malformed - earlier.malformed,
        }
    }
}

#[derive(Default)]
struct Counters {
    spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    malformed: AtomicU64,
}

/// The sink; stops when dropped.
pub struct OtlpSink {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpSink {
    /// Binds `127.0.0.1:0` and serves from a thread of its own.
    pub fn start() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let app = Router::new()
            .route("/v1/traces", post(export))
            .layer(DefaultBodyLimit::max(64 << 20))
            .with_state(counters.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("otlp-sink".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => return eprintln!("otlp sink: {e}"),
                    };
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stopped.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("otlp sink: {e}");
                    }
                });
            })?;
        Ok(Self {
            addr,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The base URL for `telemetry.otlp_endpoint` (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counts so far.
    pub fn counts(&self) -> SinkCounts {
        let c = &self.counters;
        SinkCounts {
            spans: c.spans.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for OtlpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn export(State(c): State<Arc<Counters>>, body: Bytes) -> impl IntoResponse {
    c.requests.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    match count_spans(&body) {
        Some(n) => {
            c.spans.fetch_add(n, Ordering::Relaxed);
            // An empty ExportTraceServiceResponse: full success.
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                Bytes::new(),
            )
        }
        None => {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain")],
                Bytes::from_static(b"not an ExportTraceServiceRequest"),
            )
        }
    }
}

/// The spans in a protobuf `ExportTraceServiceRequest`, counted from the wire format without decoding them:
/// `resource_spans` (field 1) → `scope_spans` (field 2) → `spans` (field 2). `None` when malformed.
pub fn count_spans(body: &[u8]) -> Option<u64> {
    let mut n = 0;
    for (field, resource_spans) in fields(body)? {
        if field != 1 {
            continue;
        }
        for (field, scope_spans) in fields(resource_spans?)? {
            if field != 2 {
                continue;
            }
            for (field, span) in fields(scope_spans?)? {
                if field == 2 {
                    span?;
                    n += 1;
                }
            }
        }
    }
    Some(n)
}

/// The fields of one protobuf message: `(number, Some(payload))` for length-delimited fields, `(number, None)`
/// for the others (varint, fixed32, fixed64). `None` when the message is malformed.
#[allow(clippy::type_complexity)]
fn fields(mut buf: &[u8]) -> Option<Vec<(u64, Option<&[u8]>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (field, wire) = (key >> 3, key & 7);
        if field == 0 {
            return None;
        }
        let payload = match wire {
            0 => {
                varint(&mut buf)?;
                None
            }
            1 | 5 => {
                let len = if wire == 1 { 8 } else { 4 };
                buf = buf.get(len..)?;
                None
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let (payload, rest) = (buf.get(..len)?, buf.get(len..)?);
                buf = rest;
                Some(payload)
            }
            _ => return None,
        };
        out.push((field, payload));
    }
    Some(out)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: u64, wire: u64) -> Vec<u8> {
        enc_varint((field << 3) | wire)
    }

    fn enc_varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn msg(field: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = key(field, 2);
        out.extend(enc_varint(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    }

    fn span(name: &str) -> Vec<u8> {
        // trace_id (1), span_id (2), name (5), kind (6, varint), start time (7, fixed64).
        let mut s = msg(1, &[7; 16]);
        s.extend(msg(2, &[9; 8]));
        s.extend(msg(5, name.as_bytes()));
        s.extend(key(6, 0));
        s.push(2);
        s.extend(key(7, 1));
        s.extend([1; 8]);
        s
    }

    fn scope_spans(n: usize) -> Vec<u8> {
        let mut s = msg(1, &msg(1, b"thriftshop"));
        for i in 0..n {
            s.extend(msg(2, &span(&format!("span {i}"))));
        }
        s.extend(msg(3, b"https://opentelemetry.io/schemas/1.0"));
        s
    }

    #[test]
    fn counts_spans_across_resources_and_scopes() {
        let resource = msg(1, &msg(1, &msg(1, b"service.name")));
        let mut rs1 = resource.clone();
        rs1.extend(msg(2, &scope_spans(3)));
        rs1.extend(msg(2, &scope_spans(2)));
        let mut rs2 = resource;
        rs2.extend(msg(2, &scope_spans(300)));
        let mut req = msg(1, &rs1);
        req.extend(msg(1, &rs2));
        assert_eq!(count_spans(&req), Some(305));
        assert_eq!(count_spans(&[]), Some(0));
        assert_eq!(count_spans(&req[..req.len() - 1]), None, "truncated");
        assert_eq!(count_spans(b"{\"resourceSpans\":[]}"), None, "JSON");
    }

    #[tokio::test]
    async fn the_sink_answers_and_counts() {
        let sink = OtlpSink::start().unwrap();
        let mut req = msg(1, &msg(2, &scope_spans(4)));
        req.extend(msg(1, &msg(2, &scope_spans(1))));
        let client = reqwest::Client::new();
        let url = format!("{}/v1/traces", sink.endpoint());
        for _ in 0..2 {
            let r = client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(req.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let bad = client.post(&url).body("nope").send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let c = sink.counts();
        assert_eq!(
            (c.spans, c.requests, c.malformed),
            (10, 3, 1),
            "{c:?} after two requests of five spans and one malformed"
        );
        assert_eq!(c.since(c), SinkCounts::default());
    }
}
