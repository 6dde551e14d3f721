//! Tracing and RED metrics of Thrift calls.
//!
//! - [`ServerObservability`] (server layer): one `rpc.<Service>/<method>` server span per request, parented by
//!   the W3C `traceparent` the caller put in the TTHeader metainfo, and `Metrics::rpc_server`.
//! - [`ClientObservability`] (client layer, added by [`crate::build_client!`]): one `rpc.<Service>/<method>`
//!   client span per call; when that span is sampled, the call carries its `traceparent` (persistent
//!   metainfo key [`crate::META_TRACEPARENT`]) so the callee's server span becomes its child.
//!
//! Verified against volo-thrift 0.12.7: the pingpong server runs every connection inside a `METAINFO.scope`
//! and the TTHeader decoder fills it before the service stack (layers included) is called, so a layer reads
//! the caller's persistent keys with `METAINFO.with`; the method name is `cx.rpc_info.method()` (set by the
//! decoder on the server, by the generated client method on the client).
//!
//! Cost when nothing is traced: without a subscriber interested in the spans they are disabled and the
//! layers only read the clock (metrics); with telemetry installed but not exporting, roots are unsampled
//! and nothing is injected into metainfo (no per-call allocation besides the span itself).

use std::{
    cell::{Cell, RefCell},
    collections::HashSet,
    fmt,
    sync::{Arc, OnceLock, RwLock},
    time::Instant,
};

use metainfo::{Forward, METAINFO};
use opentelemetry::trace::TraceContextExt as _;
use shop_kernel::ErrorKind;
use shop_telemetry::{Metrics, OpenTelemetrySpanExt as _, metrics::outcome};
use tracing::{Instrument as _, field::Empty};
use volo::{FastStr, Layer, Service};
use volo_thrift::{ClientError, ServerError, context::ClientContext, context::ServerContext};

use crate::META_TRACEPARENT;

tokio::task_local! {
    /// The error kind [`crate::reply`] answered with, for the server layer's metrics and span.
    static OUTCOME: Cell<Option<ErrorKind>>;
}

/// Called by [`crate::reply`]: remembers the error kind of the request being served.
pub(crate) fn note_error(kind: ErrorKind) {
    let _ = OUTCOME.try_with(|c| c.set(Some(kind)));
}

/// `rpc.<Service>/<method>`, formatted lazily (no allocation unless a subscriber records it).
struct RpcName<S, M>(S, M);

impl<S: fmt::Display, M: fmt::Display> fmt::Display for RpcName<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rpc.{}/{}", self.0, self.1)
    }
}

/// The IDL service name of a short service name: `cart` → `CartService`.
struct IdlName<'a>(&'a str);

impl fmt::Display for IdlName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        if let Some(first) = chars.next() {
            write!(f, "{}", first.to_ascii_uppercase())?;
            f.write_str(chars.as_str())?;
        }
        if !self.0.ends_with("Service") {
            f.write_str("Service")?;
        }
        Ok(())
    }
}

/// Method names as `'static` metric labels: interned once per distinct name (the IDL bounds them; the
/// decoder rejects unknown methods before the layers run). Past a cap everything counts as `other`.
fn method_label(method: &FastStr) -> &'static str {
    const CAP: usize = 1024;
    static NAMES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    if let Some(&n) = names
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(method.as_str())
    {
        return n;
    }
    let mut w = names.write().unwrap_or_else(|e| e.into_inner());
    if let Some(&n) = w.get(method.as_str()) {
        return n;
    }
    if w.len() >= CAP {
        return shop_telemetry::metrics::OTHER;
    }
    let n: &'static str = Box::leak(method.as_str().to_owned().into_boxed_str());
    w.insert(n);
    n
}

/// Server layer: a server span per request (parented by the caller's `traceparent`) and RED metrics.
/// `XServer::new(handler).layer_front(ServerObservability::new("cart", metrics))`.
#[derive(Clone)]
pub struct ServerObservability {
    inner: Arc<Names>,
    metrics: Metrics,
}

struct Names {
    /// Metric label: `cart`.
    service: &'static str,
    /// `rpc.service` and span name part: `CartService`.
    idl: String,
}

impl ServerObservability {
    /// `service` is the short name used as the `service` metric label (`cart`, `inventory`, …); spans use
    /// the IDL name (`CartService`). Also hands `metrics` to the bus ([`shop_bus::set_metrics`]) when the
    /// process has not chosen bus metrics yet, so relays and consumers count into the same registry.
    pub fn new(service: &'static str, metrics: Metrics) -> Self {
        shop_bus::set_metrics(metrics.clone());
        Self {
            inner: Arc::new(Names {
                service,
                idl: IdlName(service).to_string(),
            }),
            metrics,
        }
    }
}

impl<S> Layer<S> for ServerObservability {
    type Service = ServerObservabilityService<S>;

    fn layer(self, inner: S) -> Self::Service {
        ServerObservabilityService {
            inner,
            names: self.inner,
            metrics: self.metrics,
        }
    }
}

/// The service [`ServerObservability`] wraps around a server's handler.
#[derive(Clone)]
pub struct ServerObservabilityService<S> {
    inner: S,
    names: Arc<Names>,
    metrics: Metrics,
}

impl<S, Req> Service<ServerContext, Req> for ServerObservabilityService<S>
where
    S: Service<ServerContext, Req, Error = ServerError> + Send + Sync + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = ServerError;

    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, ServerError> {
        let start = Instant::now();
        let method = cx.rpc_info.method().clone();
        let idl = self.names.idl.as_str();
        let span = tracing::info_span!(
            "rpc.server",
            otel.name = %RpcName(idl, &method),
            otel.kind = "server",
            rpc.system = "thrift",
            rpc.service = idl,
            rpc.method = %method,
            error.type = Empty,
            otel.status_code = Empty,
        );
        if !span.is_disabled() {
            // The caller's context, attached before the span is first entered.
            let remote = METAINFO
                .try_with(|mi| mi.borrow().get_persistent(META_TRACEPARENT))
                .ok()
                .flatten();
            if let Some(parent) = remote
                .as_deref()
                .and_then(shop_telemetry::context_from_traceparent)
            {
                let _ = span.set_parent(parent);
            }
        }
        let (result, kind) = OUTCOME
            .scope(Cell::new(None), async {
                let result = self.inner.call(cx, req).await;
                let kind = match &result {
                    Ok(_) => OUTCOME.with(Cell::get),
                    // A refusal by an inner layer (authentication) noted its kind.
                    Err(_) => Some(OUTCOME.with(Cell::get).unwrap_or(ErrorKind::Internal)),
                };
                if let Some(kind) = kind {
                    let current = tracing::Span::current();
                    current.record("error.type", kind.as_str());
                    if kind == ErrorKind::Internal || kind == ErrorKind::Unavailable {
                        current.record("otel.status_code", "error");
                    }
                }
                (result, kind)
            })
            .instrument(span)
            .await;
        let code = kind.map_or(outcome::OK, ErrorKind::as_str);
        self.metrics.rpc_server(
            self.names.service,
            method_label(&method),
            code,
            start.elapsed(),
        );
        result
    }
}

/// Client layer: a client span per call; a sampled span's `traceparent` travels in the call's metainfo.
/// [`crate::build_client!`] adds it to every client.
#[derive(Clone, Copy, Default, Debug)]
pub struct ClientObservability;

impl<S> Layer<S> for ClientObservability {
    type Service = ClientObservabilityService<S>;

    fn layer(self, inner: S) -> Self::Service {
        ClientObservabilityService { inner }
    }
}

/// The service [`ClientObservability`] wraps around a client.
#[derive(Clone)]
pub struct ClientObservabilityService<S> {
    inner: S,
}

impl<S, Req> Service<ClientContext, Req> for ClientObservabilityService<S>
where
    S: Service<ClientContext, Req, Error = ClientError> + Send + Sync + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = ClientError;

    async fn call(&self, cx: &mut ClientContext, req: Req) -> Result<S::Response, ClientError> {
        let service = cx.rpc_info.callee().service_name_ref();
        let method = cx.rpc_info.method();
        let span = tracing::info_span!(
            "rpc.client",
            otel.name = %RpcName(IdlName(service), method),
            otel.kind = "client",
            rpc.system = "thrift",
            rpc.service = %IdlName(service),
            rpc.method = %method,
            otel.status_code = Empty,
        );
        if span.is_disabled() {
            return self.inner.call(cx, req).await;
        }
        let ocx = span.context();
        if !ocx.span().span_context().is_sampled() {
            return self.inner.call(cx, req).instrument(span).await;
        }
        let Some(tp) = shop_telemetry::propagation::traceparent_of(&ocx) else {
            return self.inner.call(cx, req).instrument(span).await;
        };
        // A metainfo of its own for this call (a copy of the caller's forwarded keys plus the traceparent):
        // concurrent calls from one scope must not see each other's traceparent.
        let mut mi = crate::call_metainfo();
        mi.set_persistent(META_TRACEPARENT, tp);
        let result = METAINFO
            .scope(RefCell::new(mi), self.inner.call(cx, req))
            .instrument(span.clone())
            .await;
        if result.is_err() {
            span.record("otel.status_code", "error");
        }
        result
    }
}
