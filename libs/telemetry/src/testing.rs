//! Test support (cargo feature `testing`):
//! - [`OtlpReceiver`]: an in-process OTLP/HTTP (protobuf) trace receiver on `127.0.0.1:0`; point
//!   [`crate::TelemetrySettings::otlp_endpoint`] at [`OtlpReceiver::endpoint`], flush, then wait for and
//!   inspect the spans.
//! - [`parse_exposition`]: a strict parser of the OpenMetrics / Prometheus text format for `/metrics` tests.
//! - [`init_capturing_logs`]: [`crate::init`] with the log lines kept in memory ([`LogCapture`]) instead of
//!   written to stdout, so a test can check what the process logs.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    net::SocketAddr,
    sync::{Arc, Condvar, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::post,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value},
};
use prost::Message as _;

// ================================================================ OTLP receiver

/// Span kind as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    fn from_proto(kind: i32) -> Self {
        match kind {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

/// Span status code as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

/// One span as the receiver decoded it. Ids are lower-case hex, as in `traceparent`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// `service.name` of the exporting resource.
    pub service_name: Option<String>,
    /// Instrumentation scope (tracer) name.
    pub scope: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub kind: SpanKind,
    /// Attribute values rendered as strings (numbers and booleans in their usual text form).
    pub attributes: BTreeMap<String, String>,
    pub status: SpanStatus,
    pub status_message: String,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
}

impl ReceivedSpan {
    /// An attribute's value.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// Whether `self` is a direct child of `parent`.
    pub fn is_child_of(&self, parent: &ReceivedSpan) -> bool {
        self.trace_id == parent.trace_id
            && self.parent_span_id.as_deref() == Some(parent.span_id.as_str())
    }
}

impl fmt::Display for ReceivedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{:?}] trace={} span={} parent={}",
            self.name,
            self.kind,
            self.trace_id,
            self.span_id,
            self.parent_span_id.as_deref().unwrap_or("-")
        )
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    requests: usize,
    errors: Vec<String>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Received>,
    changed: Condvar,
}

/// An OTLP/HTTP trace receiver serving `POST /v1/traces` on `127.0.0.1:<ephemeral>` from its own thread
/// (with its own Tokio runtime), so it works from sync and async tests alike. Stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl OtlpReceiver {
    /// Binds `127.0.0.1:0` and starts serving.
    pub fn start() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let app = Router::new()
            .route("/v1/traces", post(export))
            .with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("otlp receiver: {e}");
                            return;
                        }
                    };
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stopped.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("otlp receiver: {e}");
                    }
                });
            })?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Base URL for [`crate::TelemetrySettings::otlp_endpoint`] (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    /// Number of export requests received.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Export requests that could not be decoded (should stay empty).
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        let mut r = self.lock();
        r.spans.clear();
        r.errors.clear();
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.lock()
            .spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// Blocks until `done(spans)` holds or `timeout` passes; returns the spans either way (`Err` on timeout).
    pub fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Result<Vec<ReceivedSpan>, Vec<ReceivedSpan>> {
        let deadline = Instant::now() + timeout;
        let mut r = self.lock();
        loop {
            if done(&r.spans) {
                return Ok(r.spans.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(r.spans.clone());
            }
            r = self
                .shared
                .changed
                .wait_timeout(r, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Blocks until at least `n` spans arrived (or `timeout`); returns what arrived.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.wait_until(timeout, |s| s.len() >= n)
            .unwrap_or_else(|s| s)
    }

    /// Blocks until a span named `name` arrived (or `timeout`).
    pub fn wait_for_span(&self, name: &str, timeout: Duration) -> Option<ReceivedSpan> {
        let spans = self
            .wait_until(timeout, |s| s.iter().any(|s| s.name == name))
            .ok()?;
        spans.into_iter().find(|s| s.name == name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn export(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let decoded = if content_type.starts_with("application/x-protobuf") {
        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
    } else {
        Err(format!("unsupported content type {content_type:?}"))
    };
    let mut r = shared.received.lock().unwrap_or_else(|e| e.into_inner());
    r.requests += 1;
    let status = match decoded {
        Ok(request) => {
            r.spans.extend(flatten(request));
            StatusCode::OK
        }
        Err(e) => {
            r.errors.push(e);
            StatusCode::BAD_REQUEST
        }
    };
    drop(r);
    shared.changed.notify_all();
    (
        status,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let service_name = rs.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(any_to_string)
        });
        for ss in rs.scope_spans {
            let scope = ss.scope.map(|s| s.name).unwrap_or_default();
            for span in ss.spans {
                let (status, status_message) = match span.status {
                    Some(s) => (
                        match s.code {
                            1 => SpanStatus::Ok,
                            2 => SpanStatus::Error,
                            _ => SpanStatus::Unset,
                        },
                        s.message,
                    ),
                    None => (SpanStatus::Unset, String::new()),
                };
                out.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    scope: scope.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()
                        && span.parent_span_id.iter().any(|b| *b != 0))
                    .then(|| hex(&span.parent_span_id)),
                    kind: SpanKind::from_proto(span.kind),
                    attributes: attributes(&span.attributes),
                    status,
                    status_message,
                    start_unix_nanos: span.start_time_unix_nano,
                    end_unix_nanos: span.end_time_unix_nano,
                });
            }
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(any_to_string).unwrap_or_default(),
            )
        })
        .collect()
}

fn any_to_string(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(any_to_string).collect();
            format!("[{}]", items.join(","))
        }
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

// ================================================================ log capture

/// The log lines written by telemetry installed with [`init_capturing_logs`]. Clones share the lines.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogCapture")
            .field("bytes", &self.0.lock().map(|b| b.len()).unwrap_or(0))
            .finish()
    }
}

impl LogCapture {
    /// Every complete line written so far (a line still being written is left out).
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// How many complete lines have been written so far (a cursor for [`LogCapture::lines_since`]).
    pub fn len(&self) -> usize {
        self.lines().len()
    }

    /// Whether no complete line has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The complete lines written after the first `cursor` lines.
    pub fn lines_since(&self, cursor: usize) -> Vec<String> {
        self.lines().into_iter().skip(cursor).collect()
    }
}

/// One log event is formatted into one writer and written with one `write` call, so lines never interleave.
impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'w self) -> LogCapture {
        self.clone()
    }
}

/// [`crate::init`] exactly as production runs it (same subscriber, filters, formats and exporter), except
/// that log lines go to the returned [`LogCapture`] instead of stdout. Like `init`, a second call (or a call
/// after another global subscriber was installed) returns an inert guard, and then nothing is captured.
pub fn init_capturing_logs(
    settings: &crate::TelemetrySettings,
) -> Result<(crate::TelemetryGuard, LogCapture), crate::TelemetryError> {
    let capture = LogCapture::default();
    let guard = crate::init::install(settings, capture.clone(), false)?;
    Ok((guard, capture))
}

// ================================================================ exposition parser

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A metric family's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyInfo {
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, FamilyInfo>,
    pub samples: Vec<Sample>,
    /// Whether the text ended with OpenMetrics' `# EOF`.
    pub openmetrics: bool,
}

impl Exposition {
    /// Samples named `name` (the full sample name, e.g. `x_total` or `x_bucket`).
    pub fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// The value of the sample named `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }
}

const SUFFIXES: &[(&str, &[&str])] = &[
    ("counter", &["_total", "_created"]),
    ("gauge", &[""]),
    ("histogram", &["_bucket", "_sum", "_count", "_created"]),
    ("gaugehistogram", &["_bucket", "_gsum", "_gcount"]),
    ("summary", &["", "_sum", "_count", "_created"]),
    ("info", &["_info"]),
    ("stateset", &[""]),
    ("unknown", &[""]),
    ("untyped", &[""]),
];

/// Parses OpenMetrics text (or Prometheus text 0.0.4) strictly: every line must be `# HELP`, `# TYPE`,
/// `# UNIT`, `# EOF` or a well-formed sample of a declared family with a suffix its type allows; label
/// values must be properly quoted and escaped; a series may not repeat; histogram buckets must be
/// cumulative with a `+Inf` bucket equal to `_count`; `# EOF`, when present, must be the last line.
pub fn parse_exposition(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut seen = HashSet::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let at = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if out.openmetrics {
            if line.is_empty() && lines.peek().is_none() {
                break;
            }
            return Err(at("content after # EOF".into()));
        }
        if line.is_empty() {
            if lines.peek().is_none() {
                break;
            }
            return Err(at("empty line".into()));
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest
                .strip_prefix(' ')
                .ok_or_else(|| at("bad comment".into()))?;
            if rest == "EOF" {
                out.openmetrics = true;
                continue;
            }
            let (keyword, rest) = rest
                .split_once(' ')
                .ok_or_else(|| at("bad metadata".into()))?;
            let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            let family = out.families.entry(name.to_owned()).or_default();
            match keyword {
                "TYPE" => {
                    if !family.kind.is_empty() {
                        return Err(at("second TYPE".into()));
                    }
                    if !SUFFIXES.iter().any(|(k, _)| *k == value) {
                        return Err(at(format!("unknown type {value:?}")));
                    }
                    family.kind = value.to_owned();
                }
                "HELP" => family.help = Some(value.to_owned()),
                "UNIT" => family.unit = Some(value.to_owned()),
                _ => return Err(at(format!("unknown keyword {keyword:?}"))),
            }
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let declared = out.families.iter().any(|(family, info)| {
            // Prometheus text 0.0.4 declares a counter by its sample name (`x_total`).
            (info.kind == "counter" && family.ends_with("_total") && sample.name == *family)
                || SUFFIXES
                    .iter()
                    .find(|(k, _)| *k == info.kind)
                    .is_some_and(|(_, suffixes)| {
                        suffixes
                            .iter()
                            .any(|suffix| sample.name.strip_suffix(suffix) == Some(family.as_str()))
                    })
        });
        if !declared {
            return Err(at(format!(
                "sample {:?} of no declared family",
                sample.name
            )));
        }
        if !seen.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(at("duplicate series".into()));
        }
        out.samples.push(sample);
    }
    check_histograms(&out)?;
    Ok(out)
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "sample without value".to_string())?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            // label name
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if body[start..].starts_with('}') {
                chars.next();
                break;
            }
            let eq = body[start..].find('=').ok_or("label without =")? + start;
            let key = &body[start..eq];
            if !is_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    '\n' => return Err("newline in label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("repeated label {key:?}"));
            }
            match chars.next().map(|(_, c)| c) {
                Some(',') => {}
                Some('}') => break,
                _ => return Err("expected , or } after a label".into()),
            }
        }
        let consumed = chars.peek().map(|(i, _)| *i).unwrap_or(body.len());
        rest = &body[consumed..];
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or("expected a space before the value")?;
    let mut parts = rest.split(' ');
    let value_text = parts.next().unwrap_or("");
    let value = match value_text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(ts) = parts.next() {
        ts.parse::<f64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing content".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn check_histograms(exp: &Exposition) -> Result<(), String> {
    for (family, info) in &exp.families {
        if info.kind != "histogram" {
            continue;
        }
        let bucket_name = format!("{family}_bucket");
        let count_name = format!("{family}_count");
        let mut series: HashMap<BTreeMap<String, String>, Vec<(f64, f64)>> = HashMap::new();
        for s in exp.samples.iter().filter(|s| s.name == bucket_name) {
            let le = s
                .labels
                .get("le")
                .ok_or_else(|| format!("{bucket_name} without le"))?;
            let bound = match le.as_str() {
                "+Inf" => f64::INFINITY,
                v => v
                    .parse::<f64>()
                    .map_err(|_| format!("{bucket_name}: bad le {v:?}"))?,
            };
            let mut key = s.labels.clone();
            key.remove("le");
            series.entry(key).or_default().push((bound, s.value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family}{labels:?}: buckets not cumulative"));
            }
            let inf = buckets
                .last()
                .filter(|b| b.0.is_infinite())
                .ok_or_else(|| format!("{family}{labels:?}: no +Inf bucket"))?
                .1;
            let count = exp
                .samples
                .iter()
                .find(|s| s.name == count_name && s.labels == labels)
                .ok_or_else(|| format!("{family}{labels:?}: no _count"))?
                .value;
            if count != inf {
                return Err(format!(
                    "{family}{labels:?}: +Inf bucket {inf} != count {count}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_rejects_malformed_text() {
        let ok = "# TYPE a counter\na_total{x=\"1\"} 2\n# EOF\n";
        assert!(parse_exposition(ok).is_ok());
        for bad in [
            "a_total 1\n",                              // undeclared
            "# TYPE a counter\na 1\n",                  // counter without _total
            "# TYPE a counter\na_total{x=1} 2\n",       // unquoted
            "# TYPE a counter\na_total{x=\"1} 2\n",     // unterminated
            "# TYPE a counter\na_total 1\na_total 2\n", // duplicate
            "# TYPE a counter\na_total one\n",          // value
            "# TYPE a counter\n# EOF\na_total 1\n",     // after EOF
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n", // no +Inf
        ] {
            assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn parser_reads_escapes_and_histograms() {
        let text = "# HELP h help\n# TYPE h histogram\n\
            h_bucket{a=\"q\\\"x\\\\y\\n\",le=\"0.5\"} 1\nh_bucket{a=\"q\\\"x\\\\y\\n\",le=\"+Inf\"} 3\n\
            h_sum{a=\"q\\\"x\\\\y\\n\"} 4.5\nh_count{a=\"q\\\"x\\\\y\\n\"} 3\n# EOF\n";
        let exp = parse_exposition(text).unwrap();
        assert!(exp.openmetrics);
        assert_eq!(exp.value("h_count", &[("a", "q\"x\\y\n")]), Some(3.0));
        assert_eq!(exp.families["h"].help.as_deref(), Some("help"));
    }
}
