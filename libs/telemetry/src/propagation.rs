//! W3C trace context (`traceparent`/`tracestate`) in and out of string key→value carriers.
//!
//! The helpers use the W3C TraceContext propagator directly, so they work the same whether or not [`crate::init`]
//! ran (it also installs that propagator globally for third-party instrumentation). Without the
//! OpenTelemetry layer (no `init`, e.g. a unit test) the current span has no context: injecting writes
//! nothing and [`traceparent`] is `None`.
//!
//! Carriers: implement [`Carrier`] for the transport's metadata (volo metainfo, HTTP headers); impls are
//! provided for `HashMap<String, String>`, `BTreeMap<String, String>`, `Vec<(String, String)>` and
//! Kafka-style headers `Vec<(String, Vec<u8>)>`.

use std::collections::{BTreeMap, HashMap};

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Header / metadata key of the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// Header / metadata key of the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

/// A string key→value metadata container that trace context can be written into and read from.
/// Keys are the lower-case W3C names ([`TRACEPARENT`], [`TRACESTATE`]).
pub trait Carrier {
    /// The value stored under `key`, if any (and if it is valid UTF-8).
    fn get(&self, key: &str) -> Option<&str>;
    /// Stores `value` under `key`, replacing an earlier value of the same key.
    fn set(&mut self, key: &str, value: String);
}

impl<S: std::hash::BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for Vec<(String, String)> {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn set(&mut self, key: &str, value: String) {
        match self.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.push((key.to_owned(), value)),
        }
    }
}

/// Kafka-style headers: byte values; a value that is not UTF-8 reads as absent.
impl Carrier for Vec<(String, Vec<u8>)> {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
    fn set(&mut self, key: &str, value: String) {
        match self.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.into_bytes(),
            None => self.push((key.to_owned(), value.into_bytes())),
        }
    }
}

impl<C: Carrier + ?Sized> Carrier for &mut C {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
    fn set(&mut self, key: &str, value: String) {
        (**self).set(key, value)
    }
}

struct InjectInto<'a, C: ?Sized>(&'a mut C);

impl<C: Carrier + ?Sized> Injector for InjectInto<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

struct ExtractFrom<'a, C: ?Sized>(&'a C);

impl<C: Carrier + ?Sized> Extractor for ExtractFrom<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }
    fn keys(&self) -> Vec<&str> {
        // The W3C propagator only looks keys up by name.
        [TRACEPARENT, TRACESTATE]
            .into_iter()
            .filter(|k| self.0.get(k).is_some())
            .collect()
    }
}

/// The OpenTelemetry context of the current `tracing` span.
pub fn current_context() -> Context {
    tracing::Span::current().context()
}

/// Writes the current span's trace context into `carrier` (nothing when there is no valid current span).
pub fn inject_current<C: Carrier + ?Sized>(carrier: &mut C) {
    inject_context(&current_context(), carrier);
}

/// Writes `cx`'s trace context into `carrier` (nothing when `cx` holds no valid span context).
pub fn inject_context<C: Carrier + ?Sized>(cx: &Context, carrier: &mut C) {
    TraceContextPropagator::new().inject_context(cx, &mut InjectInto(carrier));
}

/// The remote parent context carried by `carrier`; `None` when it holds no valid `traceparent`.
pub fn extract<C: Carrier + ?Sized>(carrier: &C) -> Option<Context> {
    let cx = TraceContextPropagator::new().extract(&ExtractFrom(carrier));
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes the context carried by `carrier` the parent of `span`. Call it before the span is first entered
/// (after that the parent is fixed). Returns whether a valid remote parent was attached; without one the
/// span stays a child of whatever span was current when it was created (or a new root).
pub fn set_remote_parent<C: Carrier + ?Sized>(span: &tracing::Span, carrier: &C) -> bool {
    match extract(carrier) {
        Some(cx) => span.set_parent(cx).is_ok(),
        None => false,
    }
}

/// The W3C `traceparent` of the current span (`00-<trace id>-<span id>-<flags>`), for the embedded log's
/// envelope and anything else that stores one string. `None` outside a span or without telemetry.
pub fn traceparent() -> Option<String> {
    traceparent_of(&current_context())
}

/// The W3C `traceparent` of `cx`.
pub fn traceparent_of(cx: &Context) -> Option<String> {
    let mut carrier: Vec<(String, String)> = Vec::with_capacity(2);
    inject_context(cx, &mut carrier);
    carrier
        .into_iter()
        .find(|(k, _)| k == TRACEPARENT)
        .map(|(_, v)| v)
}

/// The remote parent context encoded by a W3C `traceparent` string; `None` when it is malformed or
/// all-zero.
pub fn context_from_traceparent(traceparent: &str) -> Option<Context> {
    let carrier = vec![(TRACEPARENT.to_owned(), traceparent.trim().to_owned())];
    extract(&carrier)
}

/// Hex trace id of the current span (`None` outside a span or without telemetry): for log fields and error
/// responses that point an operator at the trace.
pub fn current_trace_id() -> Option<String> {
    let cx = current_context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips_through_every_carrier() {
        let cx = context_from_traceparent(TP).expect("valid traceparent");
        assert!(cx.span().span_context().is_remote());
        assert_eq!(traceparent_of(&cx).as_deref(), Some(TP));

        let mut map = HashMap::new();
        inject_context(&cx, &mut map);
        assert_eq!(map.get(TRACEPARENT).map(String::as_str), Some(TP));
        assert_eq!(traceparent_of(&extract(&map).unwrap()).as_deref(), Some(TP));

        let mut headers: Vec<(String, Vec<u8>)> = vec![("other".into(), b"x".to_vec())];
        inject_context(&cx, &mut headers);
        inject_context(&cx, &mut headers); // replaces, does not duplicate
        assert_eq!(headers.iter().filter(|(k, _)| k == TRACEPARENT).count(), 1);
        let back = extract(&headers).unwrap();
        assert_eq!(
            back.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn malformed_or_missing_context_is_none() {
        assert!(context_from_traceparent("").is_none());
        assert!(context_from_traceparent("garbage").is_none());
        assert!(
            context_from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
                .is_none()
        );
        let headers: Vec<(String, Vec<u8>)> = vec![(TRACEPARENT.into(), vec![0xff, 0xfe])];
        assert!(extract(&headers).is_none());
        assert!(extract(&HashMap::<String, String>::new()).is_none());
    }

    #[test]
    fn without_a_current_span_nothing_is_injected() {
        let mut map = HashMap::new();
        inject_current(&mut map);
        assert!(map.is_empty());
        assert!(traceparent().is_none());
        assert!(current_trace_id().is_none());
    }
}
