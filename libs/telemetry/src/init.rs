//! Process-wide set-up: the `tracing` subscriber, the OpenTelemetry tracer provider and the OTLP exporter.

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig as _};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider},
};
use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, fmt::MakeWriter, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{
    LogFormat, TelemetryError, TelemetrySettings,
    logfmt::{JsonFields, JsonFormat, TextFields, TextFormat},
};

/// Instrumentation scope name of every span we create.
const TRACER_NAME: &str = "thriftshop";

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Keeps telemetry running; dropping it flushes pending spans and shuts the exporter down (bounded by the
/// export timeout). Keep it alive for the life of the process (`let _telemetry = init(..)?;` in `main`).
#[must_use = "dropping the guard shuts trace export down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    exporting: bool,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("active", &self.is_active())
            .field("exporting", &self.exporting)
            .finish()
    }
}

impl TelemetryGuard {
    /// Whether this guard belongs to the `init` call that installed telemetry (later calls get an inert guard).
    pub fn is_active(&self) -> bool {
        self.provider.is_some()
    }

    /// Whether spans are exported over OTLP.
    pub fn is_exporting(&self) -> bool {
        self.exporting
    }

    /// Exports every finished span now (blocking). Tests call it before inspecting a receiver.
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        match &self.provider {
            Some(p) => p
                .force_flush()
                .map_err(|e| TelemetryError::Exporter(e.to_string())),
            None => Ok(()),
        }
    }

    /// Flushes and stops trace export now (what dropping the guard does).
    pub fn shutdown(mut self) -> Result<(), TelemetryError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), TelemetryError> {
        match self.provider.take() {
            Some(p) => p
                .shutdown()
                .map_err(|e| TelemetryError::Exporter(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

/// Installs telemetry for this process: the global `tracing` subscriber (logs to stdout in the configured
/// format, every line inside a span carrying `trace_id`/`span_id`), the OpenTelemetry layer with a
/// parent-based ratio sampler, OTLP/HTTP trace export when `otlp_endpoint` is set, and the global W3C
/// TraceContext propagator.
///
/// Safe to call more than once (tests): when telemetry — or any other global `tracing` subscriber — is
/// already installed, this validates `settings` and returns an inert guard ([`TelemetryGuard::is_active`]
/// is false) instead of panicking.
pub fn init(settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    install(settings, std::io::stdout, std::io::stdout().is_terminal())
}

/// [`init`] with the log lines going to `writer` instead of stdout (`testing::init_capturing_logs`).
pub(crate) fn install<W>(
    settings: &TelemetrySettings,
    writer: W,
    ansi: bool,
) -> Result<TelemetryGuard, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let log_filter = log_filter(settings)?;
    let trace_filter = parse_filter("trace_filter", &settings.trace_filter)?;
    let endpoint = traces_endpoint(settings)?;
    validate(settings)?;
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(inert());
    }
    let exporting = endpoint.is_some();
    let provider = tracer_provider(settings, endpoint.as_deref())?;
    let subscriber = subscriber(
        settings.log_format,
        log_filter,
        trace_filter,
        provider.tracer(TRACER_NAME),
        writer,
        ansi,
    );
    if subscriber.try_init().is_err() {
        // Another subscriber owns the process (a test installed one): leave it alone.
        let _ = provider.shutdown();
        return Ok(inert());
    }
    INSTALLED.store(true, Ordering::Release);
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    Ok(TelemetryGuard {
        provider: Some(provider),
        exporting,
    })
}

fn inert() -> TelemetryGuard {
    TelemetryGuard {
        provider: None,
        exporting: false,
    }
}

fn validate(settings: &TelemetrySettings) -> Result<(), TelemetryError> {
    if !(0.0..=1.0).contains(&settings.sampling_ratio) {
        return Err(TelemetryError::InvalidSetting {
            setting: "sampling_ratio",
            message: format!("{} is not within 0.0..=1.0", settings.sampling_ratio),
        });
    }
    if settings.service_name.trim().is_empty() {
        return Err(TelemetryError::InvalidSetting {
            setting: "service_name",
            message: "must not be empty".into(),
        });
    }
    for (setting, ms) in [
        ("export_timeout_ms", settings.export_timeout_ms),
        ("export_interval_ms", settings.export_interval_ms),
    ] {
        if ms == 0 {
            return Err(TelemetryError::InvalidSetting {
                setting,
                message: "must be at least 1".into(),
            });
        }
    }
    Ok(())
}

fn parse_filter(which: &'static str, directives: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| TelemetryError::InvalidFilter {
            which,
            directives: directives.to_owned(),
            message: e.to_string(),
        })
}

/// `RUST_LOG` (when set and not blank) wins over the configured `log_filter`.
fn log_filter(settings: &TelemetrySettings) -> Result<EnvFilter, TelemetryError> {
    match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => parse_filter("RUST_LOG", &env),
        _ => parse_filter("log_filter", &settings.log_filter),
    }
}

/// The OTLP/HTTP traces URL: the configured base URL with `/v1/traces` appended unless it names a path.
fn traces_endpoint(settings: &TelemetrySettings) -> Result<Option<String>, TelemetryError> {
    let Some(raw) = settings
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let invalid = |message: String| TelemetryError::InvalidSetting {
        setting: "otlp_endpoint",
        message,
    };
    let rest = if let Some(rest) = raw.strip_prefix("http://") {
        rest
    } else if raw.starts_with("https://") {
        return Err(invalid(format!(
            "{raw}: https is not supported (this build has no TLS); export to a local collector \
             or agent over http"
        )));
    } else {
        return Err(invalid(format!("{raw}: expected http://host:port")));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(invalid(format!("{raw}: no host")));
    }
    let url = if path.is_empty() || path == "/" {
        format!("http://{authority}/v1/traces")
    } else {
        raw.to_owned()
    };
    if raw.chars().any(char::is_whitespace) {
        return Err(invalid(format!("{raw:?}: contains whitespace")));
    }
    Ok(Some(url))
}

fn resource(settings: &TelemetrySettings) -> Resource {
    let mut attributes = Vec::new();
    if let Some(v) = &settings.service_version {
        attributes.push(KeyValue::new("service.version", v.clone()));
    }
    if let Some(env) = &settings.environment {
        attributes.push(KeyValue::new("deployment.environment.name", env.clone()));
    }
    Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attributes)
        .build()
}

/// The tracer provider: parent-based ratio sampling, batch export over OTLP/HTTP when `endpoint` is set.
///
/// Without an exporter, new roots are not sampled (`ParentBased(AlwaysOff)`): spans still get ids for log
/// correlation and propagation, but cost no recording; a sampled remote parent is still honoured so a
/// caller's decision travels on to services that do export.
pub(crate) fn tracer_provider(
    settings: &TelemetrySettings,
    endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let root = match endpoint {
        Some(_) if settings.sampling_ratio >= 1.0 => Sampler::AlwaysOn,
        Some(_) => Sampler::TraceIdRatioBased(settings.sampling_ratio),
        None => Sampler::AlwaysOff,
    };
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(root)))
        .with_resource(resource(settings));
    if let Some(endpoint) = endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_millis(settings.export_timeout_ms))
            .with_headers(Default::default())
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(Duration::from_millis(settings.export_interval_ms))
            .build();
        builder = builder.with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        );
    }
    Ok(builder.build())
}

/// The subscriber [`init`] installs, with the log writer as a parameter (tests capture lines).
pub(crate) fn subscriber<W>(
    format: LogFormat,
    log_filter: EnvFilter,
    trace_filter: EnvFilter,
    tracer: SdkTracer,
    writer: W,
    ansi: bool,
) -> impl Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Busy/idle timings cost two clock reads per poll; the span duration is enough.
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_filter(trace_filter)
        .boxed();
    let logs = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .event_format(TextFormat::new())
            .fmt_fields(TextFields)
            .with_ansi(ansi)
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(JsonFormat)
            .fmt_fields(JsonFields)
            .with_ansi(false)
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
    };
    let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![otel, logs];
    tracing_subscriber::registry().with(layers)
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::*;
    use crate::propagation;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Capture {
        type Writer = Capture;
        fn make_writer(&'w self) -> Capture {
            self.clone()
        }
    }

    impl Capture {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn with_capture(format: LogFormat, f: impl FnOnce()) -> Vec<String> {
        let settings = TelemetrySettings::default();
        let provider = tracer_provider(&settings, None).unwrap();
        let capture = Capture::default();
        let sub = subscriber(
            format,
            EnvFilter::new("info"),
            EnvFilter::new("info"),
            provider.tracer(TRACER_NAME),
            capture.clone(),
            false,
        );
        tracing::subscriber::with_default(sub, f);
        capture.lines()
    }

    #[test]
    fn json_lines_inside_a_span_carry_its_trace_and_span_ids() {
        let mut ids = None;
        let lines = with_capture(LogFormat::Json, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("request", operation = "checkout", password = "hunter2");
            let _e = span.enter();
            let inner = tracing::info_span!("inner");
            let _i = inner.enter();
            tracing::info!(cart = 7, token = "abc", "inside");
            ids = propagation::traceparent();
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let outside: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(outside["message"], "outside any span");
        assert!(outside.get("trace_id").is_none());

        let inside: Value = serde_json::from_str(&lines[1]).unwrap();
        let tp = ids.expect("traceparent inside a span");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(inside["trace_id"], parts[1]);
        assert_eq!(inside["span_id"], parts[2]);
        assert_eq!(inside["level"], "INFO");
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["fields"]["cart"], 7);
        assert_eq!(inside["fields"]["token"], "[redacted]");
        assert_eq!(inside["span"]["name"], "inner");
        assert_eq!(inside["spans"], serde_json::json!(["request", "inner"]));
        assert!(!lines[1].contains("hunter2"));
    }

    #[test]
    fn json_span_fields_recorded_later_are_merged() {
        let lines = with_capture(LogFormat::Json, || {
            let span = tracing::info_span!("op", a = 1, b = tracing::field::Empty);
            span.record("b", "two");
            let _e = span.enter();
            tracing::warn!("x");
        });
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["span"]["a"], 1);
        assert_eq!(line["span"]["b"], "two");
        assert_eq!(line["level"], "WARN");
    }

    #[test]
    fn pretty_lines_inside_a_span_carry_the_ids() {
        let mut tp = None;
        let lines = with_capture(LogFormat::Pretty, || {
            let span = tracing::info_span!("request", api_key = "k");
            let _e = span.enter();
            tracing::info!(n = 1, "hello");
            tp = propagation::traceparent();
        });
        let tp = tp.unwrap();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains(&format!(" {}/{} ", parts[1], parts[2])),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("hello n=1"), "{}", lines[0]);
        assert!(lines[0].contains("api_key=[redacted]"), "{}", lines[0]);
    }

    #[test]
    fn remote_parent_is_adopted_and_unsampled_roots_still_get_ids() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut seen = (None, None);
        with_capture(LogFormat::Json, || {
            let root = tracing::info_span!("root");
            seen.0 = root.in_scope(propagation::traceparent);
            let child = tracing::info_span!("server");
            let carrier = vec![("traceparent".to_owned(), tp.to_owned())];
            assert!(propagation::set_remote_parent(&child, &carrier));
            seen.1 = child.in_scope(propagation::traceparent);
        });
        // No exporter: new roots are not sampled, but ids exist (flags 00).
        let root = seen.0.expect("root has a context");
        assert!(root.ends_with("-00"), "{root}");
        // The remote parent's trace id and sampled flag are kept; the span id is new.
        let child = seen.1.expect("child has a context");
        assert!(
            child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{child}"
        );
        assert!(child.ends_with("-01"), "{child}");
        assert!(!child.contains("00f067aa0ba902b7"));
    }

    #[test]
    fn invalid_settings_are_reported() {
        let bad = |f: fn(&mut TelemetrySettings)| {
            let mut s = TelemetrySettings::default();
            f(&mut s);
            init(&s).unwrap_err().to_string()
        };
        assert!(bad(|s| s.sampling_ratio = 1.5).contains("sampling_ratio"));
        if std::env::var_os("RUST_LOG").is_none() {
            assert!(bad(|s| s.log_filter = "info,[[[".into()).contains("log_filter"));
        }
        assert!(bad(|s| s.trace_filter = "info,[[[".into()).contains("trace_filter"));
        assert!(bad(|s| s.otlp_endpoint = Some("https://x:4318".into())).contains("https"));
        assert!(bad(|s| s.otlp_endpoint = Some("x:4318".into())).contains("otlp_endpoint"));
        assert!(bad(|s| s.service_name = " ".into()).contains("service_name"));
    }

    #[test]
    fn endpoint_gets_the_traces_path() {
        let ep = |e: &str| {
            let s = TelemetrySettings {
                otlp_endpoint: Some(e.into()),
                ..Default::default()
            };
            traces_endpoint(&s).unwrap()
        };
        assert_eq!(
            ep("http://127.0.0.1:4318").as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            ep("http://127.0.0.1:4318/").as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            ep("http://collector:4318/custom/v1/traces").as_deref(),
            Some("http://collector:4318/custom/v1/traces")
        );
        assert_eq!(ep("  ").as_deref(), None);
    }

    use serde_json::Value;
}
