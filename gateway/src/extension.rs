//! Schema extension: error codes for parse/validation failures, and the caller's identity around execution.
use std::sync::Arc;

use async_graphql::{
    ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
    },
    parser::types::ExecutableDocument,
};
use shop_kernel::Actor;

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

/// Tags parse and validation errors with `extensions.code`, and runs execution under the caller's identity
/// (the [`Actor`] in the request or websocket-session data) so every RPC carries it.
pub struct Gateway;

impl ExtensionFactory for Gateway {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GatewayExtension)
    }
}

struct GatewayExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for GatewayExtension {
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
        next.run(ctx).await.map_err(|errs| {
            errs.into_iter()
                .map(|e| with_code(e, VALIDATION_FAILED))
                .collect()
        })
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
