//! Schema extension: document admission ([`Admission`]: persisted operations, size limits, parsed-document
//! cache), the per-client cost budget, error codes for parse/validation failures, and the caller's identity
//! around execution.
use std::sync::Arc;

use async_graphql::{
    ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
        NextPrepareRequest, NextValidation,
    },
    parser::types::ExecutableDocument,
};
use shop_kernel::Actor;

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
}

impl ExtensionFactory for Gateway {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GatewayExtension {
            admission: self.admission.clone(),
            limits: self.limits.clone(),
        })
    }
}

struct GatewayExtension {
    admission: Arc<Admission>,
    limits: Arc<Limits>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for GatewayExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        let request = self.admission.admit(request)?;
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
        let result = next.run(ctx).await.map_err(|errs| {
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
        shop_rpc::with_actor(&actor, next.run(ctx, operation_name)).await
    }
}
