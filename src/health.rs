//! The admin endpoints of a service run alone (`thriftshop serve <service>`): `GET /healthz` (the process is
//! alive), `GET /readyz` (it has started, its store answers and its consumer groups are caught up: 200, else
//! 503 with the problems) and `GET /metrics` (its Prometheus
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
    let problems = a.ready.check().await.err().unwrap_or_default();
    a.metrics.set_ready(a.component, problems.is_empty());
    let (status, word) = if problems.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let body =
        serde_json::json!({ "status": word, "component": a.component, "problems": problems });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
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

    #[tokio::test]
    async fn readyz_is_not_ready_while_a_consumer_group_lags_beyond_the_bound() {
        use shop_bus::EventBus as _;
        let bus = shop_bus::AnyBus::Memory(shop_bus::memory::MemoryBus::new());
        let ready = Readiness::new();
        ready.watch_consumers(&bus, 100);
        ready.mark_ready();
        let app = router("order", ready, Metrics::new());
        let group = bus.consumer_health().register("order.processor");
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("order.processor: not subscribed"), "{body}");
        group.subscribed();
        group.lag(101);
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("lag 101 messages (bound 100)"), "{body}");
        group.lag(3);
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        group.lag_failed(&"no Kafka broker is up");
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(group);
        assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    }
}
