//! Log line formats that carry the current OpenTelemetry `trace_id`/`span_id` and redact secret-looking
//! fields.
//!
//! The ids come from the OpenTelemetry context that tracing-opentelemetry activates when a span is entered,
//! so a line written inside a request carries that request's trace id even when the span itself is not
//! exported.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{self, Writer},
        time::{FormatTime, SystemTime},
    },
    registry::LookupSpan,
};

/// Field names whose values never reach a log line (matched case-insensitively as substrings).
const SECRET_MARKERS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
];
const REDACTED: &str = "[redacted]";

fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|m| lower.contains(m))
}

/// `(trace_id, span_id)` of the active OpenTelemetry span, if any.
pub(crate) fn current_ids() -> Option<(String, String)> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
    })
}

// ---------------------------------------------------------------- text (development)

/// `key=value` fields, message first without a key, secrets redacted.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = TextVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for TextVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = match field.name() {
            "message" => write!(self.writer, "{sep}{value:?}"),
            name if is_secret(name) => write!(self.writer, "{sep}{name}={REDACTED}"),
            name => write!(self.writer, "{sep}{name}={value:?}"),
        };
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// `2026-11-22T04:31:43.123456Z <trace_id>/<span_id>  INFO span{fields}: target: message fields`.
pub(crate) struct TextFormat {
    inner: format::Format<format::Full, ()>,
}

impl TextFormat {
    pub(crate) fn new() -> Self {
        Self {
            inner: format::format().without_time(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        SystemTime.format_time(&mut writer)?;
        if let Some((trace_id, span_id)) = current_ids() {
            write!(writer, " {trace_id}/{span_id}")?;
        }
        writer.write_char(' ')?;
        self.inner.format_event(ctx, writer, event)
    }
}

// ---------------------------------------------------------------- JSON (production)

/// Span fields kept as a JSON object text in the span's extensions (merged when a field is recorded later).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonFields;

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut JsonVisitor(&mut map));
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut map = match serde_json::from_str::<Value>(&current.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        fields.record(&mut JsonVisitor(&mut map));
        current.fields = Value::Object(map).to_string();
        Ok(())
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let value = if is_secret(name) {
            Value::from(REDACTED)
        } else {
            value
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
}

/// One JSON object per line:
/// `{"timestamp","level","target","message","fields":{…},"span":{"name",…},"spans":[…],"trace_id","span_id"}`.
pub(crate) struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::with_capacity(32);
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;

        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields.remove("message");
        // Events bridged from the `log` crate carry their origin as `log.*` fields.
        let mut target = Value::from(event.metadata().target());
        if let Some(t) = fields.remove("log.target") {
            target = t;
        }
        fields.retain(|k, _| !k.starts_with("log."));

        let mut line = Map::new();
        line.insert("timestamp".into(), Value::from(timestamp));
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        line.insert("target".into(), target);
        if let Some(message) = message {
            line.insert("message".into(), message);
        }
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if let Some(scope) = ctx.event_scope() {
            let mut names = Vec::new();
            let mut current = None;
            for span in scope.from_root() {
                names.push(Value::from(span.name()));
                current = Some(span);
            }
            if let Some(span) = current {
                let mut obj = Map::new();
                obj.insert("name".into(), Value::from(span.name()));
                if let Some(formatted) = span.extensions().get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&formatted.fields)
                {
                    obj.extend(map);
                }
                line.insert("span".into(), Value::Object(obj));
            }
            line.insert("spans".into(), Value::Array(names));
        }
        if let Some((trace_id, span_id)) = current_ids() {
            line.insert("trace_id".into(), Value::from(trace_id));
            line.insert("span_id".into(), Value::from(span_id));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}
