//! The event bus port ([`EventBus`], [`Subscription`]) with three adapters — the embedded log on SQLite
//! ([`embedded::EmbeddedBus`], the all-in-one default), Apache Kafka ([`kafka::KafkaBus`]) and an in-memory one for tests — plus the outbox relay ([`relay::run_relay`]) that
//! publishes what services appended to their event stores, and the consumer runner ([`consumer::run_consumer`]).
//!
//! Delivery is at-least-once; consumers must be idempotent (dedupe on `event_id` or stream+seq).
//!
//! Tracing: a message carries the W3C `traceparent` of the request that appended its event (Kafka header,
//! embedded-log column); the consumer runner handles each delivery inside a `<topic> process` consumer span
//! parented by it. Metrics: the relay counts `bus_published`, the runner `bus_consumed`, into the registry
//! given to [`set_metrics`].

pub mod conformance;
pub mod consumer;
pub mod embedded;
pub mod health;
pub mod kafka;
pub mod memory;
pub mod relay;

use std::{future::Future, sync::OnceLock, time::Duration};

use bytes::Bytes;
use shop_store::StoreError;
use tokio::sync::Notify;

static METRICS: OnceLock<shop_telemetry::Metrics> = OnceLock::new();

/// Chooses the registry the relays and consumer runners of this process count into (the first call wins;
/// returns whether this one did). Without it nothing is counted.
pub fn set_metrics(metrics: shop_telemetry::Metrics) -> bool {
    METRICS.set(metrics).is_ok()
}

pub(crate) fn metrics() -> Option<&'static shop_telemetry::Metrics> {
    METRICS.get()
}

/// An event on the bus. The payload is the Thrift compact encoding of the aggregate's event union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    /// Partition key: the stream id.
    pub key: String,
    pub event_id: String,
    pub event_type: String,
    pub seq: u64,
    pub occurred_at_ms: i64,
    pub traceparent: Option<String>,
    pub payload: Bytes,
}

impl From<shop_store::RecordedEvent> for Message {
    fn from(r: shop_store::RecordedEvent) -> Self {
        Message {
            topic: r.event.topic,
            key: r.stream_id,
            event_id: r.event.event_id,
            event_type: r.event.event_type,
            seq: r.seq,
            occurred_at_ms: r.event.occurred_at_ms,
            traceparent: r.event.traceparent,
            payload: r.event.payload,
        }
    }
}

/// A message as delivered to a consumer group, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The partition the message is in (the embedded and in-memory logs have one partition, 0).
    pub partition: i32,
    /// Offset within the partition; strictly increasing along a partition.
    pub offset: i64,
    pub message: Message,
}

/// Errors from a bus adapter.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus failure: {0}")]
    Backend(String),
}

impl From<StoreError> for BusError {
    fn from(e: StoreError) -> Self {
        BusError::Backend(e.to_string())
    }
}

impl From<rusqlite::Error> for BusError {
    fn from(e: rusqlite::Error) -> Self {
        BusError::Backend(e.to_string())
    }
}

impl From<rdkafka::error::KafkaError> for BusError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        BusError::Backend(e.to_string())
    }
}

/// Publish/subscribe with consumer groups and committed positions.
///
/// Ordering holds per key (messages with the same key stay in publication order); across keys the log may
/// interleave. Delivery is at-least-once.
pub trait EventBus: Clone + Send + Sync + 'static {
    /// A consumer group member.
    type Subscription: Subscription;

    /// Publishes messages durably (acknowledged by the log) in order per key. Re-publishing an `event_id`
    /// already in the log is a no-op where the adapter can tell (the embedded log can); consumers still dedupe.
    fn publish(&self, messages: Vec<Message>) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Joins consumer `group` on `topics`. Delivery starts after the group's committed positions.
    fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> impl Future<Output = Result<Self::Subscription, BusError>> + Send;

    /// `messaging.system` of consumer and producer spans.
    fn messaging_system(&self) -> &'static str {
        shop_telemetry::semconv::MESSAGING_SYSTEM_EMBEDDED
    }

    /// Readiness of the consumer groups run on this handle and its clones (see [`consumer::GroupTracker`]).
    fn consumer_health(&self) -> &health::ConsumerHealth;
}

/// One member of a consumer group.
pub trait Subscription: Send + 'static {
    /// Up to `max` messages this member has not delivered yet, waiting at most `wait` for the first one
    /// (an empty batch means nothing arrived in time).
    fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, BusError>> + Send;

    /// Marks `delivery` and everything before it in its partition as processed. Never moves a position
    /// backwards. Adapters may batch commits; [`Subscription::close`] flushes them.
    fn commit(&mut self, delivery: &Delivery) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Flushes pending commits and leaves the group.
    fn close(self) -> impl Future<Output = Result<(), BusError>> + Send;

    /// How many messages of each subscribed topic lie after the group's committed position, where the adapter
    /// can tell cheaply (the embedded log can); empty when it cannot. The consumer runner reports it as
    /// `thriftshop_bus_consumer_lag_messages` about once a second.
    fn lag(&mut self) -> impl Future<Output = Result<Vec<(String, u64)>, BusError>> + Send {
        async { Ok(Vec::new()) }
    }
}

/// Polls `fetch` until it returns something or `wait` runs out, waking early on `notify`.
pub(crate) async fn wait_for_messages<F, Fut>(
    notify: &Notify,
    wait: Duration,
    mut fetch: F,
) -> Result<Vec<Delivery>, BusError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<Delivery>, BusError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let batch = fetch().await?;
        let now = tokio::time::Instant::now();
        if !batch.is_empty() || now >= deadline {
            return Ok(batch);
        }
        // Other processes may append to a shared log: poll as well as listen.
        let nap = (deadline - now).min(Duration::from_millis(100));
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}

/// The bus chosen by configuration.
#[derive(Clone)]
pub enum AnyBus {
    /// The embedded SQLite log (all-in-one default).
    Embedded(embedded::EmbeddedBus),
    /// Apache Kafka.
    Kafka(kafka::KafkaBus),
    /// In-memory (tests).
    Memory(memory::MemoryBus),
}

/// A subscription of an [`AnyBus`].
pub enum AnySubscription {
    Embedded(embedded::EmbeddedSubscription),
    Kafka(kafka::KafkaSubscription),
    Memory(memory::MemorySubscription),
}

macro_rules! delegate {
    ($enum:ident, $value:expr, $inner:ident => $call:expr) => {
        match $value {
            $enum::Embedded($inner) => $call,
            $enum::Kafka($inner) => $call,
            $enum::Memory($inner) => $call,
        }
    };
}

impl EventBus for AnyBus {
    type Subscription = AnySubscription;

    async fn publish(&self, messages: Vec<Message>) -> Result<(), BusError> {
        delegate!(AnyBus, self, b => b.publish(messages).await)
    }

    async fn subscribe(&self, group: &str, topics: &[String]) -> Result<AnySubscription, BusError> {
        Ok(match self {
            AnyBus::Embedded(b) => AnySubscription::Embedded(b.subscribe(group, topics).await?),
            AnyBus::Kafka(b) => AnySubscription::Kafka(b.subscribe(group, topics).await?),
            AnyBus::Memory(b) => AnySubscription::Memory(b.subscribe(group, topics).await?),
        })
    }

    fn consumer_health(&self) -> &health::ConsumerHealth {
        delegate!(AnyBus, self, b => b.consumer_health())
    }

    fn messaging_system(&self) -> &'static str {
        match self {
            AnyBus::Kafka(_) => shop_telemetry::semconv::MESSAGING_SYSTEM_KAFKA,
            _ => shop_telemetry::semconv::MESSAGING_SYSTEM_EMBEDDED,
        }
    }
}

impl Subscription for AnySubscription {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        delegate!(AnySubscription, self, s => s.poll(max, wait).await)
    }

    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        delegate!(AnySubscription, self, s => s.commit(delivery).await)
    }

    async fn close(self) -> Result<(), BusError> {
        delegate!(AnySubscription, self, s => s.close().await)
    }

    async fn lag(&mut self) -> Result<Vec<(String, u64)>, BusError> {
        delegate!(AnySubscription, self, s => s.lag().await)
    }
}
