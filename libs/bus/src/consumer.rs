//! Runs a consumer group member: poll, handle each message, commit; leave the group cleanly on shutdown.
use std::{collections::VecDeque, future::Future, time::Duration};

use shop_telemetry::OpenTelemetrySpanExt as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{Delivery, EventBus, Subscription};

const BATCH: usize = 128;
const POLL_WAIT: Duration = Duration::from_millis(250);
/// How often a runner asks its subscription for the group's lag.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// Handles deliveries until `shutdown`. A failing handler is retried (with backoff) before the position moves
/// on, so nothing is skipped; handlers must be idempotent because a crash before commit redelivers.
pub async fn run_consumer<B, H, Fut>(
    bus: B,
    group: String,
    topics: Vec<String>,
    mut handler: H,
    shutdown: CancellationToken,
) where
    B: EventBus,
    H: FnMut(Delivery) -> Fut + Send,
    Fut: Future<Output = Result<(), shop_kernel::Error>> + Send,
{
    let system = bus.messaging_system();
    let mut tracker = GroupTracker::new(&bus, &group);
    let Some(mut subscription) = subscribe(&bus, &group, &topics, &shutdown).await else {
        return;
    };
    tracker.subscribed();
    let mut backoff = Backoff::new(Duration::from_millis(200));
    'outer: while !shutdown.is_cancelled() {
        tracker.measure_lag(&mut subscription).await;
        let batch = tokio::select! {
            polled = subscription.poll(BATCH, POLL_WAIT) => polled,
            _ = shutdown.cancelled() => break,
        };
        tracker.polled(&batch);
        let batch = match batch {
            Ok(b) => {
                backoff = Backoff::new(Duration::from_millis(200));
                b
            }
            Err(e) => {
                tracing::warn!(%group, error = %e, "consumer poll failed");
                if !backoff.sleep(&shutdown).await {
                    break;
                }
                continue;
            }
        };
        for delivery in batch {
            if !handle(&mut handler, &delivery, &group, system, &shutdown).await {
                break 'outer;
            }
            commit(&mut subscription, &delivery, &group).await;
        }
    }
    close(subscription, &group).await;
}

/// Like [`run_consumer`], but handles up to `max_in_flight` deliveries at once (each on its own task) while
/// committing strictly in delivery order: a position is committed only when every earlier delivery is done.
/// Handlers for the same key may run concurrently; they must serialise themselves where that matters.
pub async fn run_consumer_concurrent<B, H, Fut>(
    bus: B,
    group: String,
    topics: Vec<String>,
    max_in_flight: usize,
    handler: H,
    shutdown: CancellationToken,
) where
    B: EventBus,
    H: Fn(Delivery) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), shop_kernel::Error>> + Send + 'static,
{
    let max_in_flight = max_in_flight.max(1);
    let system = bus.messaging_system();
    let mut tracker = GroupTracker::new(&bus, &group);
    let Some(mut subscription) = subscribe(&bus, &group, &topics, &shutdown).await else {
        return;
    };
    tracker.subscribed();
    let mut backoff = Backoff::new(Duration::from_millis(200));
    let mut in_flight: VecDeque<(Delivery, tokio::task::JoinHandle<bool>)> = VecDeque::new();
    'outer: while !shutdown.is_cancelled() {
        tracker.measure_lag(&mut subscription).await;
        // Commit the finished prefix; when full, wait for the oldest delivery instead of polling.
        while let Some((_, task)) = in_flight.front() {
            if !task.is_finished() && in_flight.len() < max_in_flight {
                break;
            }
            let Some((delivery, task)) = in_flight.pop_front() else {
                break;
            };
            if !task.await.unwrap_or(false) {
                // Shut down mid-retry: the position stays before this delivery.
                break 'outer;
            }
            commit(&mut subscription, &delivery, &group).await;
        }
        let room = max_in_flight - in_flight.len();
        let polled = tokio::select! {
            polled = subscription.poll(room, POLL_WAIT) => polled,
            _ = shutdown.cancelled() => break,
        };
        tracker.polled(&polled);
        match polled {
            Ok(batch) => {
                backoff = Backoff::new(Duration::from_millis(200));
                for delivery in batch {
                    let mut handler = handler.clone();
                    let shutdown = shutdown.clone();
                    let group = group.clone();
                    let d = delivery.clone();
                    let task = tokio::spawn(async move {
                        handle(&mut handler, &d, &group, system, &shutdown).await
                    });
                    in_flight.push_back((delivery, task));
                }
            }
            Err(e) => {
                tracing::warn!(%group, error = %e, "consumer poll failed");
                if !backoff.sleep(&shutdown).await {
                    break;
                }
            }
        }
    }
    // Let running handlers finish (they stop retrying on shutdown), committing what completed in order.
    while let Some((delivery, task)) = in_flight.pop_front() {
        if !task.await.unwrap_or(false) {
            break;
        }
        commit(&mut subscription, &delivery, &group).await;
    }
    close(subscription, &group).await;
}

/// Joins the group, retrying with backoff; `None` when shutdown came first.
async fn subscribe<B: EventBus>(
    bus: &B,
    group: &str,
    topics: &[String],
    shutdown: &CancellationToken,
) -> Option<B::Subscription> {
    let mut backoff = Backoff::new(Duration::from_millis(200));
    loop {
        match bus.subscribe(group, topics).await {
            Ok(s) => return Some(s),
            Err(e) => {
                tracing::warn!(%group, error = %e, "subscribe failed; retrying");
                if !backoff.sleep(shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// Runs the handler until it succeeds (retrying with backoff); false if shutdown interrupted the retries.
/// The whole of it runs in a `<topic> process` consumer span parented by the message's `traceparent`.
async fn handle<H, Fut>(
    handler: &mut H,
    delivery: &Delivery,
    group: &str,
    system: &'static str,
    shutdown: &CancellationToken,
) -> bool
where
    H: FnMut(Delivery) -> Fut,
    Fut: Future<Output = Result<(), shop_kernel::Error>>,
{
    let topic = delivery.message.topic.as_str();
    let span = tracing::info_span!(
        "bus.process",
        otel.name = %format_args!("{topic} process"),
        otel.kind = "consumer",
        messaging.system = system,
        messaging.operation.type = "process",
        messaging.destination.name = topic,
        messaging.destination.partition.id = delivery.partition,
        messaging.consumer.group.name = group,
        messaging.message.id = delivery.message.event_id.as_str(),
        messaging.kafka.offset = delivery.offset,
        otel.status_code = tracing::field::Empty,
    );
    if !span.is_disabled()
        && let Some(parent) = delivery
            .message
            .traceparent
            .as_deref()
            .and_then(shop_telemetry::context_from_traceparent)
    {
        let _ = span.set_parent(parent);
    }
    let done = handle_with_retries(handler, delivery, group, shutdown)
        .instrument(span)
        .await;
    if done && let Some(m) = crate::metrics() {
        m.bus_consumed(group.to_owned(), delivery.message.topic.clone());
    }
    done
}

async fn handle_with_retries<H, Fut>(
    handler: &mut H,
    delivery: &Delivery,
    group: &str,
    shutdown: &CancellationToken,
) -> bool
where
    H: FnMut(Delivery) -> Fut,
    Fut: Future<Output = Result<(), shop_kernel::Error>>,
{
    let mut retry = Backoff::new(Duration::from_millis(20));
    loop {
        match handler(delivery.clone()).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::Span::current().record("otel.status_code", "error");
                tracing::warn!(%group, partition = delivery.partition, offset = delivery.offset,
                    error = %e, "handler failed; retrying");
                if !retry.sleep(shutdown).await {
                    return false;
                }
            }
        }
    }
}

async fn commit<S: Subscription>(subscription: &mut S, delivery: &Delivery, group: &str) {
    if let Err(e) = subscription.commit(delivery).await {
        tracing::warn!(%group, offset = delivery.offset, error = %e, "commit failed");
    }
}

/// Reports a consumer group's state to the bus's [`ConsumerHealth`](crate::health::ConsumerHealth) (for
/// readiness) and its lag to `thriftshop_bus_consumer_lag_messages`. Every runner of a group keeps one.
pub struct GroupTracker {
    group: String,
    health: crate::health::GroupHealth,
    next_lag: tokio::time::Instant,
}

impl GroupTracker {
    /// Registers `group` with `bus`'s consumer health, as not subscribed yet.
    pub fn new<B: EventBus>(bus: &B, group: &str) -> Self {
        Self {
            group: group.to_string(),
            health: bus.consumer_health().register(group),
            next_lag: tokio::time::Instant::now(),
        }
    }

    /// The runner joined its group.
    pub fn subscribed(&self) {
        self.health.subscribed();
    }

    /// Notes a poll's outcome.
    pub fn polled<T>(&self, outcome: &Result<T, crate::BusError>) {
        match outcome {
            Ok(_) => self.health.polled(),
            Err(e) => self.health.poll_failed(e),
        }
    }

    /// Measures the group's lag, at most every [`LAG_EVERY`].
    pub async fn measure_lag<S: Subscription>(&mut self, subscription: &mut S) {
        let now = tokio::time::Instant::now();
        if now < self.next_lag {
            return;
        }
        self.next_lag = now + LAG_EVERY;
        let group = &self.group;
        match subscription.lag().await {
            Ok(lags) => {
                self.health.lag(lags.iter().map(|(_, n)| n).sum());
                if let Some(m) = crate::metrics() {
                    for (topic, n) in lags {
                        m.bus_consumer_lag(group.clone(), topic, n);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(%group, error = %e, "consumer lag unavailable");
                self.health.lag_failed(&e);
            }
        }
    }
}

async fn close<S: Subscription>(subscription: S, group: &str) {
    if let Err(e) = subscription.close().await {
        tracing::warn!(%group, error = %e, "leaving the consumer group failed");
    }
}

/// Exponential backoff capped at 5 s that gives up when shutdown is requested.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new(first: Duration) -> Self {
        Self { next: first }
    }

    /// Sleeps; returns false if shutdown was requested meanwhile.
    async fn sleep(&mut self, shutdown: &CancellationToken) -> bool {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = shutdown.cancelled() => false,
        }
    }
}
