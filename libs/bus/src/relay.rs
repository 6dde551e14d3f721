//! The outbox relay: publishes events appended to a service's event store, in order, at least once.
//!
//! Appending an event and scheduling its publication are one write (the event store *is* the outbox). The relay
//! reads what is unpublished, publishes it, then marks it published. A crash between the two republishes
//! those events; the embedded log ignores event ids it already has and consumers dedupe.
//!
//! Tracing: every event published gets a `<topic> publish` producer span parented by the `traceparent` stored
//! with the event (the request that appended it), open while its batch is published. The message keeps the
//! stored `traceparent`, so consumer spans stay children of that request's span.
use std::time::Duration;

use shop_store::{EventStore, RecordedEvent};
use shop_telemetry::OpenTelemetrySpanExt as _;
use tokio_util::sync::CancellationToken;

use crate::{EventBus, Message};

const BATCH: usize = 256;

/// Publishes one batch; returns how many events were published.
pub async fn relay_once<S: EventStore, B: EventBus>(
    store: &S,
    bus: &B,
) -> Result<usize, crate::BusError> {
    let batch = store.unpublished(BATCH).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let system = bus.messaging_system();
    let spans: Vec<tracing::Span> = batch.iter().map(|e| producer_span(e, system)).collect();
    let published = bus
        .publish(batch.iter().cloned().map(Message::from).collect())
        .await;
    let status = if published.is_ok() { "ok" } else { "error" };
    for span in &spans {
        span.record("otel.status_code", status);
    }
    drop(spans);
    published?;
    store.mark_published(&batch).await?;
    tracing::debug!(events = batch.len(), "relay published");
    if let Some(m) = crate::metrics() {
        for e in &batch {
            m.bus_published(e.event.topic.clone());
        }
    }
    Ok(batch.len())
}

/// The `<topic> publish` producer span of one event, parented by the event's stored `traceparent`.
fn producer_span(e: &RecordedEvent, system: &'static str) -> tracing::Span {
    let topic = e.event.topic.as_str();
    let span = tracing::info_span!(
        "bus.publish",
        otel.name = %format_args!("{topic} publish"),
        otel.kind = "producer",
        messaging.system = system,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = topic,
        messaging.message.id = e.event.event_id.as_str(),
        messaging.kafka.message.key = e.stream_id.as_str(),
        otel.status_code = tracing::field::Empty,
    );
    if !span.is_disabled()
        && let Some(parent) = e
            .event
            .traceparent
            .as_deref()
            .and_then(shop_telemetry::context_from_traceparent)
    {
        let _ = span.set_parent(parent);
    }
    span
}

/// Runs the relay until `shutdown`; drains what is pending before returning.
pub async fn run_relay<S: EventStore, B: EventBus>(
    name: &str,
    store: S,
    bus: B,
    shutdown: CancellationToken,
) {
    let notify = store.appended();
    let mut backoff = Duration::from_millis(50);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match relay_once(&store, &bus).await {
            Ok(n) if n > 0 => {
                backoff = Duration::from_millis(50);
                continue;
            }
            Ok(_) => {
                if shutdown.is_cancelled() {
                    return;
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::warn!(relay = name, error = %e, "relay failed; retrying");
                if shutdown.is_cancelled() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
