//! Observability building blocks shared by every thriftshop component.
//!
//! - [`init`]: one call per process sets up `tracing` (env filter, pretty or JSON logs whose lines carry the
//!   current `trace_id`/`span_id`), the OpenTelemetry bridge with a parent-based ratio sampler, an OTLP/HTTP
//!   trace exporter when an endpoint is configured, and the global W3C TraceContext propagator. The returned
//!   [`TelemetryGuard`] flushes and shuts the exporter down when dropped.
//! - [`propagation`]: W3C trace context in and out of string carriers (Thrift TTHeader metainfo, Kafka headers,
//!   the embedded log's `traceparent` field).
//! - [`metrics`]: the Prometheus registry with every `thriftshop_*` series; [`Metrics::encode`] renders `/metrics`.
//! - [`semconv`]: the OpenTelemetry semantic-convention attribute names we use on spans.
//! - `testing` (cargo feature `testing`): an in-process OTLP receiver, a strict exposition-format parser and
//!   `init_capturing_logs` (telemetry whose log lines a test can read).
//!
//! Spans are ordinary `tracing` spans. tracing-opentelemetry reads the special fields `otel.name`, `otel.kind`
//! (`server`, `client`, `producer`, `consumer`, `internal`) and `otel.status_code` (`ok`, `error`); other fields
//! become span attributes. A remote parent must be attached *before* the span is first entered:
//!
//! ```ignore
//! let span = tracing::info_span!("cart/add_lines", otel.kind = "server", "rpc.system" = "thrift");
//! shop_telemetry::propagation::set_remote_parent(&span, &metainfo_carrier);
//! async move { /* … */ }.instrument(span).await
//! ```

mod init;
mod logfmt;
pub mod metrics;
pub mod propagation;
pub mod semconv;
#[cfg(feature = "testing")]
pub mod testing;

use serde::{Deserialize, Serialize};

pub use init::{TelemetryGuard, init};
pub use metrics::{Metrics, OperationNames};
pub use propagation::{Carrier, context_from_traceparent, traceparent};

/// The OpenTelemetry context type, re-exported so callers need no direct `opentelemetry` dependency.
pub use opentelemetry::Context as OtelContext;
/// `span.context()` / `span.set_parent(cx)` on `tracing` spans.
pub use tracing_opentelemetry::OpenTelemetrySpanExt;

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable single lines (development): `time trace_id/span_id LEVEL spans: target: message fields`.
    #[default]
    Pretty,
    /// One JSON object per line (production): `timestamp`, `level`, `target`, `message`, the event's fields,
    /// `span` (the current span's name and fields), `spans` (names, root first), `trace_id`, `span_id`.
    Json,
}

/// Telemetry settings of one process. Defaults: pretty logs at `info`, no trace export, sample everything
/// that is exported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `service.name` resource attribute of exported spans (`thriftshop-gateway`, `thriftshop-cart`, …).
    pub service_name: String,
    /// `service.version` resource attribute (optional).
    pub service_version: Option<String>,
    /// `deployment.environment.name` resource attribute (optional: `production`, `staging`, …).
    pub environment: Option<String>,
    /// Log line format; production uses `json`.
    pub log_format: LogFormat,
    /// `EnvFilter` directives for log lines. `RUST_LOG`, when set, wins.
    pub log_filter: String,
    /// `EnvFilter` directives for spans exported as traces (independent of log verbosity, so quieter logs do
    /// not cut traces).
    pub trace_filter: String,
    /// OTLP/HTTP collector base URL, e.g. `http://127.0.0.1:4318` (Jaeger and the OpenTelemetry Collector
    /// listen there); `/v1/traces` is appended unless the URL already names a path. Unset = no trace export
    /// (spans still get ids, so log lines and propagated `traceparent`s stay correlated).
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces (roots) that are sampled, 0.0..=1.0. Spans with a remote or local parent follow
    /// the parent's decision (parent-based sampling).
    pub sampling_ratio: f64,
    /// Timeout of one OTLP export request, in milliseconds.
    pub export_timeout_ms: u64,
    /// How long the batch processor waits before exporting a partial batch, in milliseconds.
    pub export_interval_ms: u64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            service_name: "thriftshop".to_owned(),
            service_version: None,
            environment: None,
            log_format: LogFormat::Pretty,
            log_filter: "info,volo=warn,volo_thrift=warn".to_owned(),
            trace_filter: "info".to_owned(),
            otlp_endpoint: None,
            sampling_ratio: 1.0,
            export_timeout_ms: 10_000,
            export_interval_ms: 1_000,
        }
    }
}

/// Why [`init`] refused to start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A `log_filter`, `trace_filter` or `RUST_LOG` directive does not parse.
    #[error("invalid {which} directives {directives:?}: {message}")]
    InvalidFilter {
        which: &'static str,
        directives: String,
        message: String,
    },
    /// A setting is out of range (sampling ratio, endpoint, timeouts).
    #[error("invalid telemetry setting `{setting}`: {message}")]
    InvalidSetting {
        setting: &'static str,
        message: String,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP trace exporter: {0}")]
    Exporter(String),
}
