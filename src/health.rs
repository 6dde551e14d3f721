//! The admin endpoints of a service run alone (`thriftshop serve <service>`): `GET /healthz` (the process is
//! alive), `GET /readyz` (its store is open and it serves: 200, else 503) and `GET /metrics` (its Prometheus
//! series). The gateway serves its own; the all-in-one shop serves every component's series on the gateway's.
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use shop_rpc::Readiness;
use shop_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Admin {
    component: &'static str,
    ready: Readiness,
    metrics: Metrics,
}

/// Serves the admin endpoints of `component` on `listener` until `shutdown`.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    component: &'static str,
    ready: Readiness,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(component, ready, metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

fn router(component: &'static str, ready: Readiness, metrics: Metrics) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Admin {
            component,
            ready,
            metrics,
        })
}

async fn readyz(State(a): State<Admin>) -> Response {
    let ready = a.ready.is_ready();
    a.metrics.set_ready(a.component, ready);
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let body = format!(r#"{{"status":"{word}","component":"{}"}}"#, a.component);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics_text(State(a): State<Admin>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = a.metrics.encode_for(accept);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get(app: &Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .clone()
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_follows_the_readiness_signal_and_metrics_are_served() {
        let ready = Readiness::new();
        let app = router("cart", ready.clone(), Metrics::new());
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        ready.mark_ready();
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, text) = get(&app, "/metrics").await;
        assert!(
            text.contains(r#"thriftshop_component_ready{component="cart"} 1"#),
            "{text}"
        );
    }
}
