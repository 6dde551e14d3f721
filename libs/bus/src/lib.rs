//! The event bus port ([`EventBus`]) with two adapters — the embedded log on SQLite ([`embedded::EmbeddedBus`],
//! the all-in-one default) and an in-memory one for tests — plus the outbox relay ([`relay::run_relay`]) that
//! publishes what services appended to their event stores, and the consumer runner ([`consumer::run_consumer`]).
//!
//! Delivery is at-least-once; consumers must be idempotent (dedupe on `event_id` or stream+seq).

pub mod conformance;
pub mod consumer;
pub mod embedded;
pub mod memory;
pub mod relay;

use std::{future::Future, sync::Arc};

use bytes::Bytes;
use shop_store::StoreError;
use tokio::sync::Notify;

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

/// A message as delivered to a consumer group, with its offset in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
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

/// Publish/subscribe with consumer groups and committed offsets.
pub trait EventBus: Send + Sync + 'static {
    /// Publishes messages durably. Re-publishing an `event_id` already in the log is a no-op where the adapter
    /// can tell (the embedded log can); consumers still dedupe.
    fn publish(&self, messages: Vec<Message>) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Up to `max` messages of `topics` after the group's committed offset, in log order.
    fn fetch(
        &self,
        group: &str,
        topics: &[String],
        max: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, BusError>> + Send;

    /// Commits the group's position: everything up to and including `offset` has been processed.
    fn commit(&self, group: &str, offset: i64)
    -> impl Future<Output = Result<(), BusError>> + Send;

    /// Fires after every publish (wakes consumers in this process).
    fn published(&self) -> Arc<Notify>;
}

/// The bus chosen by configuration. (The Kafka adapter joins here behind the same trait.)
#[derive(Clone)]
pub enum AnyBus {
    /// The embedded SQLite log (all-in-one default).
    Embedded(embedded::EmbeddedBus),
    /// In-memory (tests).
    Memory(memory::MemoryBus),
}

impl EventBus for AnyBus {
    async fn publish(&self, messages: Vec<Message>) -> Result<(), BusError> {
        match self {
            AnyBus::Embedded(b) => b.publish(messages).await,
            AnyBus::Memory(b) => b.publish(messages).await,
        }
    }
    async fn fetch(
        &self,
        group: &str,
        topics: &[String],
        max: usize,
    ) -> Result<Vec<Delivery>, BusError> {
        match self {
            AnyBus::Embedded(b) => b.fetch(group, topics, max).await,
            AnyBus::Memory(b) => b.fetch(group, topics, max).await,
        }
    }
    async fn commit(&self, group: &str, offset: i64) -> Result<(), BusError> {
        match self {
            AnyBus::Embedded(b) => b.commit(group, offset).await,
            AnyBus::Memory(b) => b.commit(group, offset).await,
        }
    }
    fn published(&self) -> Arc<Notify> {
        match self {
            AnyBus::Embedded(b) => b.published(),
            AnyBus::Memory(b) => b.published(),
        }
    }
}
