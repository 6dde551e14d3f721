//! Schema extension: document admission ([`Admission`]: persisted operations, size limits, parsed-document
//! cache), the per-client cost budget, error codes for parse/validation failures, and the caller's identity
//! around execution.
use std::sync::Arc;

use std::time::Instant;

use async_graphql::{
    ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
        NextPrepareRequest, NextRequest, NextValidation,
    },
    parser::types::{DocumentOperations, ExecutableDocument, OperationType},
};
use parking_lot::Mutex;
use shop_kernel::Actor;
use shop_telemetry::Metrics;
use tracing::Instrument;

use crate::{hardening::Admission, limits::Limits};

/// Who a request is accounted to for rate limits: `token:<sha256 prefix>` or `ip:<address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey(pub String);

/// The client's IP address, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

/// Code of errors raised while parsing a document.
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// Code of errors raised while validating a document (including depth and complexity limits).
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

fn with_code(mut e: ServerError, code: &str) -> ServerError {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    e
}

/// Admits documents, charges each operation's complexity to its client, tags parse and validation errors with
/// `extensions.code`, and runs execution under the caller's identity (the [`Actor`] in the request or
/// websocket-session data) so every RPC carries it.
pub struct Gateway {
    pub admission: Arc<Admission>,
    pub limits: Arc<Limits>,
    pub metrics: Metrics,
}

impl ExtensionFactory for Gateway {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GatewayExtension {
            admission: self.admission.clone(),
            limits: self.limits.clone(),
            metrics: self.metrics.clone(),
            operation: Mutex::new(None),
        })
    }
}

/// The executed operation's name (as sent) and type.
type OperationInfo = (Option<String>, &'static str);

/// One request's extension (created per request).
struct GatewayExtension {
    admission: Arc<Admission>,
    limits: Arc<Limits>,
    metrics: Metrics,
    operation: Mutex<Option<OperationInfo>>,
}

/// The operation `name` selects in `doc` (or its only one).
fn selected_operation(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationInfo> {
    let (op_name, ty) = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => (name.map(str::to_string), op.node.ty),
        (DocumentOperations::Multiple(ops), Some(n)) => (Some(n.to_string()), ops.get(n)?.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            let (n, op) = ops.iter().next()?;
            (Some(n.to_string()), op.node.ty)
        }
        _ => return None,
    };
    let ty = match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    Some((op_name, ty))
}

#[async_graphql::async_trait::async_trait]
impl Extension for GatewayExtension {
    /// The RED metrics of the request (its span, `graphql.<operation>`, is opened by the HTTP layer, which names it
    /// before it starts: OpenTelemetry span names cannot change afterwards).
    async fn request(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextRequest<'_>,
    ) -> async_graphql::Response {
        let span = tracing::Span::current();
        let started = Instant::now();
        let response = next.run(ctx).await;
        let (name, ty) = self.operation.lock().clone().unwrap_or((None, "unknown"));
        let operation = self.metrics.normalize_operation(name.as_deref());
        let outcome = if response.errors.is_empty() {
            shop_telemetry::metrics::outcome::OK
        } else if response.data == async_graphql::Value::Null {
            shop_telemetry::metrics::outcome::ERROR
        } else {
            shop_telemetry::metrics::outcome::PARTIAL
        };
        if !response.errors.is_empty() {
            span.record("otel.status_code", "ERROR");
        }
        for e in &response.errors {
            let code = match e.extensions.as_ref().and_then(|x| x.get("code")) {
                Some(async_graphql::Value::String(c)) => c.clone(),
                _ => "UNKNOWN".to_string(),
            };
            self.metrics.gateway_error(operation.clone(), code);
        }
        self.metrics
            .gateway_request(operation, ty, outcome, started.elapsed());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        let name = request.operation_name.clone();
        let mut request =
            tracing::info_span!("graphql.parse").in_scope(|| self.admission.admit(request))?;
        if let Ok(doc) = request.parsed_query() {
            let info = selected_operation(doc, name.as_deref());
            if let Some((op_name, ty)) = &info {
                let span = tracing::Span::current();
                let shown = self.metrics.normalize_operation(op_name.as_deref());
                span.record("graphql.operation.name", shown.as_ref());
                span.record("graphql.operation.type", *ty);
            }
            *self.operation.lock() = info;
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next
            .run(ctx)
            .instrument(tracing::info_span!("graphql.validate"))
            .await
            .map_err(|errs| {
                errs.into_iter()
                    .map(|e| with_code(e, VALIDATION_FAILED))
                    .collect::<Vec<_>>()
            })?;
        if let Some(ClientKey(client)) = ctx.data_opt::<ClientKey>()
            && let Err(t) = self.limits.cost(client, result.complexity)
        {
            let mut e = ServerError::new(
                format!(
                    "query cost budget exhausted; retry after {} s",
                    t.retry_after_secs()
                ),
                None,
            );
            let ext = e.extensions.get_or_insert_with(Default::default);
            ext.set("code", shop_kernel::ErrorKind::ResourceExhausted.as_str());
            ext.set("errorCode", "RATE_LIMITED");
            ext.set("retryAfterSeconds", t.retry_after_secs());
            return Err(vec![e]);
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let actor = ctx.data_opt::<Actor>().cloned().unwrap_or_default();
        let span = tracing::info_span!("graphql.execute");
        shop_rpc::with_actor(&actor, next.run(ctx, operation_name))
            .instrument(span)
            .await
    }
}

/// The operation a request most likely runs, read without parsing (for naming its span before it starts): the
/// request's `operationName`, else the first operation's name in the text; its type from the first keyword.
pub fn sniff_operation(
    query: &str,
    operation_name: Option<&str>,
) -> (Option<String>, &'static str) {
    let mut words = query
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == '{' || c == '@')
        })
        .filter(|w| !w.is_empty());
    let (ty, name) = match words.next() {
        Some("mutation") => ("mutation", words.next()),
        Some("subscription") => ("subscription", words.next()),
        Some("query") => ("query", words.next()),
        _ => ("query", None),
    };
    let name = operation_name
        .or(name.filter(|n| shop_telemetry::metrics::is_valid_operation_name(n)))
        .map(str::to_string);
    (name, ty)
}

#[cfg(test)]
mod tests {
    use super::sniff_operation;

    #[test]
    fn operations_are_sniffed_without_parsing() {
        assert_eq!(sniff_operation("{ shop { name } }", None), (None, "query"));
        assert_eq!(
            sniff_operation("# c\n query Landing($n: Int) { a }", None),
            (Some("Landing".into()), "query")
        );
        assert_eq!(
            sniff_operation(
                "mutation($i: CartInput!) { cartCreate(input: $i) { cart { id } } }",
                None
            ),
            (None, "mutation")
        );
        assert_eq!(
            sniff_operation("mutation Buy { a } query Other { b }", Some("Buy")),
            (Some("Buy".into()), "mutation")
        );
        assert_eq!(
            sniff_operation("subscription S@live { x }", None),
            (Some("S".into()), "subscription")
        );
    }
}
