//! The Apache Kafka adapter (rdkafka).
//!
//! - Producer: idempotence on, `acks=all`, bounded delivery timeout; a message's key is its stream id (so one
//!   stream stays in one partition, in order); event metadata and trace context travel in Kafka headers, the
//!   payload is the Thrift-encoded event.
//! - Consumers: one consumer-group member per [`KafkaSubscription`]; offsets are *stored* only after the handler
//!   succeeded (`enable.auto.offset.store=false`) and committed in the background and on close (at-least-once).
//!   Their lag (high watermark minus stored offset, per partition) comes from librdkafka's statistics, every
//!   [`STATS_INTERVAL`].
//! - Topics are created on first use with the configured partitions and replication factor.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::{ClientContext, DefaultClientContext},
    consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    statistics::Statistics,
};

use crate::{BusError, Delivery, EventBus, Message, Subscription};

const H_EVENT_ID: &str = "event_id";
const H_EVENT_TYPE: &str = "event_type";
const H_SEQ: &str = "seq";
const H_OCCURRED_AT: &str = "occurred_at_ms";
const H_TRACEPARENT: &str = "traceparent";

/// How often consumers report statistics (and so how fresh [`Subscription::lag`] is).
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// What the last statistics report said: per-partition lag, whether any broker was up, and when.
#[derive(Default)]
struct Report {
    lags: HashMap<(String, i32), u64>,
    brokers_up: usize,
    at: Option<std::time::Instant>,
}

/// The consumers' client context: keeps the lag and broker states from each statistics report (librdkafka's
/// logs and errors take the default route).
#[derive(Default)]
pub struct LagContext {
    report: Arc<parking_lot::Mutex<Report>>,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        let mut report = self.report.lock();
        report.at = Some(std::time::Instant::now());
        // Bootstrap entries have node id -1; the real brokers are the ones a consumer fetches from.
        report.brokers_up = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0 && b.state == "UP")
            .count();
        let lags = &mut report.lags;
        lags.clear();
        for (name, topic) in statistics.topics {
            for (id, partition) in topic.partitions {
                // Partition -1 is librdkafka's internal "unassigned" partition; -1 lag = not known yet.
                if id >= 0
                    && let Ok(lag) = u64::try_from(partition.consumer_lag_stored)
                {
                    lags.insert((name.clone(), id), lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {}

/// Connection and provisioning settings for [`KafkaBus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    /// Partitions of topics this bus creates.
    pub partitions: i32,
    /// Replication factor of topics this bus creates (3 in production, 1 on a single broker).
    pub replication_factor: i32,
    /// Client id reported to the brokers.
    pub client_id: String,
    /// How long a publish may take before it fails (`delivery.timeout.ms`).
    pub delivery_timeout: Duration,
    /// Prefix for topic and group names (`<namespace>.shop.order.v1`), so several shops or test runs can share
    /// a cluster. Empty: names are used as they are.
    pub namespace: String,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            partitions: 6,
            replication_factor: 1,
            client_id: "thriftshop".into(),
            delivery_timeout: Duration::from_secs(30),
            namespace: String::new(),
        }
    }
}

/// An [`EventBus`] on Apache Kafka.
#[derive(Clone)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

struct Inner {
    settings: KafkaSettings,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Topics known to exist.
    ensured: parking_lot::Mutex<HashSet<String>>,
    health: crate::health::ConsumerHealth,
}

impl KafkaBus {
    /// Connects a producer and an admin client (connections are made lazily by librdkafka).
    pub fn connect(settings: KafkaSettings) -> Result<Self, BusError> {
        let producer: FutureProducer = base_config(&settings)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "delivery.timeout.ms",
                settings.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "2")
            .create()?;
        let admin: AdminClient<DefaultClientContext> = base_config(&settings).create()?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                producer,
                admin,
                ensured: parking_lot::Mutex::new(HashSet::new()),
                health: Default::default(),
            }),
        })
    }

    /// The settings this bus was created with.
    pub fn settings(&self) -> &KafkaSettings {
        &self.inner.settings
    }

    /// The name on the cluster of the shop's topic or group `name`.
    fn qualified(&self, name: &str) -> String {
        match self.inner.settings.namespace.as_str() {
            "" => name.to_string(),
            ns => format!("{ns}.{name}"),
        }
    }

    /// The shop's name of cluster topic `topic`.
    fn unqualified<'a>(&self, topic: &'a str) -> &'a str {
        match self.inner.settings.namespace.as_str() {
            "" => topic,
            ns => topic
                .strip_prefix(ns)
                .and_then(|t| t.strip_prefix('.'))
                .unwrap_or(topic),
        }
    }

    /// Creates the (cluster-named) topics that do not exist yet (idempotent; remembered per process).
    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError> {
        let missing: Vec<String> = {
            let known = self.inner.ensured.lock();
            topics
                .iter()
                .filter(|t| !known.contains(*t))
                .cloned()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let s = &self.inner.settings;
        let new_topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    s.partitions,
                    TopicReplication::Fixed(s.replication_factor),
                )
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self.inner.admin.create_topics(&new_topics, &opts).await?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(BusError::Backend(format!(
                        "creating topic {topic} failed: {code}"
                    )));
                }
            }
        }
        self.inner.ensured.lock().extend(missing);
        Ok(())
    }
}

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers)
        .set("client.id", &settings.client_id)
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set("log_level", "4");
    c
}

impl EventBus for KafkaBus {
    type Subscription = KafkaSubscription;

    fn consumer_health(&self) -> &crate::health::ConsumerHealth {
        &self.inner.health
    }

    async fn publish(&self, messages: Vec<Message>) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let topics: Vec<String> = messages.iter().map(|m| self.qualified(&m.topic)).collect();
        self.ensure_topics(&topics).await?;
        // Enqueue in order (the idempotent producer keeps per-partition order), then wait for every ack.
        let mut acks = Vec::with_capacity(messages.len());
        for (m, topic) in messages.iter().zip(&topics) {
            let seq = m.seq.to_string();
            let occurred = m.occurred_at_ms.to_string();
            let mut headers = OwnedHeaders::new_with_capacity(5)
                .insert(header(H_EVENT_ID, m.event_id.as_bytes()))
                .insert(header(H_EVENT_TYPE, m.event_type.as_bytes()))
                .insert(header(H_SEQ, seq.as_bytes()))
                .insert(header(H_OCCURRED_AT, occurred.as_bytes()));
            if let Some(tp) = &m.traceparent {
                headers = headers.insert(header(H_TRACEPARENT, tp.as_bytes()));
            }
            let mut record = FutureRecord::to(topic)
                .key(m.key.as_bytes())
                .payload(m.payload.as_ref())
                .headers(headers)
                .timestamp(m.occurred_at_ms);
            loop {
                match self.inner.producer.send_result(record) {
                    Ok(ack) => {
                        acks.push(ack);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        for ack in acks {
            match ack.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(e.into()),
                Err(_) => return Err(BusError::Backend("producer dropped a delivery".into())),
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<KafkaSubscription, BusError> {
        let topics: Vec<String> = topics.iter().map(|t| self.qualified(t)).collect();
        self.ensure_topics(&topics).await?;
        let context = LagContext::default();
        let report = context.report.clone();
        let mut config = base_config(&self.inner.settings);
        // Troubleshooting: librdkafka debug contexts for consumers (e.g. `cgrp,fetch`), logged at debug level.
        if let Ok(contexts) = std::env::var("THRIFTSHOP_KAFKA_CONSUMER_DEBUG") {
            config.set("debug", contexts).set("log_level", "7");
        }
        let consumer: StreamConsumer<LagContext> = config
            .set("group.id", self.qualified(group))
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("enable.partition.eof", "false")
            .set(
                "statistics.interval.ms",
                STATS_INTERVAL.as_millis().to_string(),
            )
            .create_with_context(context)?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(KafkaSubscription {
            bus: self.clone(),
            consumer: Some(consumer),
            report,
            stored: HashMap::new(),
            errors: ErrorLog::default(),
        })
    }
}

fn header<'a>(key: &'a str, value: &'a [u8]) -> Header<'a, &'a [u8]> {
    Header {
        key,
        value: Some(value),
    }
}

/// A consumer-group member on Kafka.
pub struct KafkaSubscription {
    bus: KafkaBus,
    /// `None` only after close.
    consumer: Option<StreamConsumer<LagContext>>,
    /// Updated by the consumer's statistics callback.
    report: Arc<parking_lot::Mutex<Report>>,
    /// Highest processed offset per (topic, partition).
    stored: HashMap<(String, i32), i64>,
    errors: ErrorLog,
}

/// Rate-limited logging of a subscription's non-fatal consumer errors.
#[derive(Default)]
struct ErrorLog {
    last: Option<std::time::Instant>,
    /// Errors since the last line.
    since: u64,
}

impl ErrorLog {
    /// Logs `e`, at most once per [`ERROR_LOG_EVERY`] (the line says how many errors it stands for).
    fn note(&mut self, e: &KafkaError) {
        let now = std::time::Instant::now();
        self.since += 1;
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < ERROR_LOG_EVERY)
        {
            return;
        }
        tracing::warn!(error = %e, errors = self.since, "kafka consumer errors (it recovers by itself)");
        self.last = Some(now);
        self.since = 0;
    }
}

/// How often a subscription logs its (non-fatal, self-healing) consumer errors.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long leaving the group (final commit, unsubscribe, destroy) may take before it is abandoned.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

impl KafkaSubscription {
    fn consumer(&self) -> Result<&StreamConsumer<LagContext>, BusError> {
        self.consumer
            .as_ref()
            .ok_or_else(|| BusError::Backend("subscription is closed".into()))
    }
}

/// Synchronously commits the processed offsets of partitions still assigned to this member.
fn commit_stored(
    consumer: &StreamConsumer<LagContext>,
    stored: &HashMap<(String, i32), i64>,
) -> Result<(), BusError> {
    let assigned = consumer.assignment()?;
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in stored {
        if assigned.find_partition(topic, *partition).is_some() {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))?;
        }
    }
    if tpl.count() > 0 {
        consumer.commit(&tpl, CommitMode::Sync)?;
    }
    Ok(())
}

fn to_delivery(bus: &KafkaBus, m: &BorrowedMessage<'_>) -> Result<Delivery, BusError> {
    let mut event_id = None;
    let mut event_type = None;
    let mut seq = None;
    let mut occurred_at_ms = None;
    let mut traceparent = None;
    if let Some(headers) = m.headers() {
        for h in headers.iter() {
            let value = h
                .value
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string);
            match h.key {
                H_EVENT_ID => event_id = value,
                H_EVENT_TYPE => event_type = value,
                H_SEQ => seq = value.and_then(|v| v.parse().ok()),
                H_OCCURRED_AT => occurred_at_ms = value.and_then(|v| v.parse().ok()),
                H_TRACEPARENT => traceparent = value,
                _ => {}
            }
        }
    }
    let malformed = |what: &str| {
        BusError::Backend(format!(
            "message {}/{}@{} has no valid {what} header",
            m.topic(),
            m.partition(),
            m.offset()
        ))
    };
    Ok(Delivery {
        partition: m.partition(),
        offset: m.offset(),
        message: Message {
            topic: bus.unqualified(m.topic()).to_string(),
            key: m
                .key()
                .and_then(|k| std::str::from_utf8(k).ok())
                .ok_or_else(|| malformed("key"))?
                .to_string(),
            event_id: event_id.ok_or_else(|| malformed(H_EVENT_ID))?,
            event_type: event_type.ok_or_else(|| malformed(H_EVENT_TYPE))?,
            seq: seq.ok_or_else(|| malformed(H_SEQ))?,
            occurred_at_ms: occurred_at_ms.ok_or_else(|| malformed(H_OCCURRED_AT))?,
            traceparent,
            payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
        },
    })
}

impl Subscription for KafkaSubscription {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = tokio::time::Instant::now() + wait;
        let consumer = self
            .consumer
            .as_ref()
            .ok_or_else(|| BusError::Backend("subscription is closed".into()))?;
        let mut out = Vec::new();
        // Wait (up to `wait`) for the first message, then drain what is already buffered without waiting.
        while out.len() < max {
            let until = if out.is_empty() {
                deadline
            } else {
                tokio::time::Instant::now()
            };
            let received = tokio::time::timeout_at(until, consumer.recv()).await;
            match received {
                Err(_) => break,
                Ok(Ok(m)) => out.push(to_delivery(&self.bus, &m)?),
                // Consumer errors are informational (librdkafka reconnects, rejoins and resumes by itself) unless
                // fatal. They are queued like messages, so they are drained here, never waited on: during an
                // outage the queue fills with them, and rebalance events queued behind them must be served
                // promptly once the brokers are back, or the member never gets its partitions again.
                Ok(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(KafkaError::MessageConsumptionFatal(code).into());
                }
                Ok(Err(e)) => self.errors.note(&e),
            }
        }
        Ok(out)
    }

    /// Messages after this member's stored offsets, per topic, over the partitions in the consumer's last
    /// statistics report (librdkafka's `consumer_lag_stored`: high watermark minus stored offset). Unavailable
    /// when that report saw no broker up, or no report came for a while (the lag would be a stale guess).
    async fn lag(&mut self) -> Result<Vec<(String, u64)>, BusError> {
        let report = self.report.lock();
        if let Some(at) = report.at {
            if at.elapsed() > STATS_INTERVAL * 10 {
                return Err(BusError::Backend(format!(
                    "no consumer statistics for {} s",
                    at.elapsed().as_secs()
                )));
            }
            if report.brokers_up == 0 {
                return Err(BusError::Backend("no Kafka broker is up".into()));
            }
        }
        let mut per_topic: HashMap<String, u64> = HashMap::new();
        for ((topic, _), lag) in report.lags.iter() {
            *per_topic
                .entry(self.bus.unqualified(topic).to_string())
                .or_default() += lag;
        }
        let mut lags: Vec<(String, u64)> = per_topic.into_iter().collect();
        lags.sort();
        Ok(lags)
    }

    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let key = (
            self.bus.qualified(&delivery.message.topic),
            delivery.partition,
        );
        if self
            .stored
            .get(&key)
            .is_some_and(|&done| done >= delivery.offset)
        {
            return Ok(());
        }
        self.consumer()?
            .store_offset(&key.0, delivery.partition, delivery.offset)?;
        self.stored.insert(key, delivery.offset);
        Ok(())
    }

    async fn close(mut self) -> Result<(), BusError> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        let stored = std::mem::take(&mut self.stored);
        let closing = tokio::task::spawn_blocking(move || -> Result<(), BusError> {
            // Partition lists hold references into the client: they must be gone before the consumer is
            // destroyed, or librdkafka's destroy waits for them forever (librdkafka #3796).
            let committed = commit_stored(&consumer, &stored);
            consumer.unsubscribe();
            drop(consumer);
            committed
        });
        // A coordinator that does not answer must not hold up shutdown: uncommitted positions are redelivered
        // to the next member (handlers are idempotent).
        match tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
            Ok(joined) => joined
                .map_err(|e| BusError::Backend(format!("closing the consumer panicked: {e}")))?,
            Err(_) => Err(BusError::Backend(format!(
                "leaving the consumer group did not finish within {} s; abandoned",
                CLOSE_TIMEOUT.as_secs()
            ))),
        }
    }
}
