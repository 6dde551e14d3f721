//! [`TimedEventStore`]: an [`EventStore`] decorator that reports how long every operation took, so store
//! latency is measured in one place for every event-sourced service and every adapter.
//!
//! The store crate does not know the metrics registry: the caller passes an observer (a closure), e.g.
//! `move |op, elapsed| metrics.store_operation("cart", op, elapsed)`. Operation names are
//! [`APPEND`], [`LOAD`], [`STREAMS_BY_TAG`], [`UNPUBLISHED`], [`MARK_PUBLISHED`], [`NEXT_SEQUENCE`] and
//! [`READ_ALL`]; failed operations are reported too (a timeout is latency as well).
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use crate::{EventLog, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError};

/// `operation` of [`EventStore::append`].
pub const APPEND: &str = "append";
/// `operation` of [`EventStore::load`].
pub const LOAD: &str = "load";
/// `operation` of [`EventStore::streams_by_tag`].
pub const STREAMS_BY_TAG: &str = "streams_by_tag";
/// `operation` of [`EventStore::unpublished`].
pub const UNPUBLISHED: &str = "unpublished";
/// `operation` of [`EventStore::mark_published`].
pub const MARK_PUBLISHED: &str = "mark_published";
/// `operation` of [`EventStore::next_sequence`].
pub const NEXT_SEQUENCE: &str = "next_sequence";
/// `operation` of [`EventLog::read_all`].
pub const READ_ALL: &str = "read_all";

/// Receives `(operation, elapsed)` after every store operation. Must be cheap (it runs on the request path).
pub type Observer = Arc<dyn Fn(&'static str, Duration) + Send + Sync>;

/// Times store operations and reports them to an [`Observer`]: the one piece of timing code behind
/// [`TimedEventStore`] and the timing decorators of the services' own store ports (catalog, user, session,
/// recommender). Clones share the observer.
#[derive(Clone)]
pub struct StoreTimer {
    observe: Observer,
}

impl std::fmt::Debug for StoreTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreTimer")
    }
}

impl StoreTimer {
    /// A timer reporting to `observe` (called with the operation name and its duration).
    pub fn new(observe: impl Fn(&'static str, Duration) + Send + Sync + 'static) -> Self {
        Self {
            observe: Arc::new(observe),
        }
    }

    /// Runs `f` and reports how long it took as operation `op`, whatever its outcome.
    pub async fn time<T>(&self, op: &'static str, f: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = f.await;
        (self.observe)(op, started.elapsed());
        out
    }

    /// `inner` with every event-store operation timed by this timer (a service's outbox store).
    pub fn event_store<S>(&self, inner: S) -> TimedEventStore<S> {
        TimedEventStore {
            inner,
            timer: self.clone(),
        }
    }
}

/// An event store whose operations are timed and reported to an [`Observer`]. Clones share the observer.
#[derive(Clone)]
pub struct TimedEventStore<S> {
    inner: S,
    timer: StoreTimer,
}

impl<S> TimedEventStore<S> {
    /// Wraps `inner`; `observe` is called with the operation name and its duration.
    pub fn new(inner: S, observe: impl Fn(&'static str, Duration) + Send + Sync + 'static) -> Self {
        StoreTimer::new(observe).event_store(inner)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn timed<T>(&self, op: &'static str, f: impl Future<Output = T>) -> T {
        self.timer.time(op, f).await
    }
}

impl<S: EventStore> EventStore for TimedEventStore<S> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<String>,
    ) -> Result<u64, StoreError> {
        self.timed(APPEND, self.inner.append(stream, expected, events, tags))
            .await
    }

    async fn load(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.timed(LOAD, self.inner.load(stream)).await
    }

    async fn streams_by_tag(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        self.timed(STREAMS_BY_TAG, self.inner.streams_by_tag(tag))
            .await
    }

    async fn unpublished(&self, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.timed(UNPUBLISHED, self.inner.unpublished(limit)).await
    }

    async fn mark_published(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        self.timed(MARK_PUBLISHED, self.inner.mark_published(events))
            .await
    }

    async fn next_sequence(&self, name: &str) -> Result<i64, StoreError> {
        self.timed(NEXT_SEQUENCE, self.inner.next_sequence(name))
            .await
    }

    fn appended(&self) -> Arc<Notify> {
        self.inner.appended()
    }
}

impl<S: EventLog> EventLog for TimedEventStore<S> {
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.timed(READ_ALL, self.inner.read_all(after, limit))
            .await
    }

    fn has_global_log(&self) -> bool {
        self.inner.has_global_log()
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::memory::MemoryEventStore;

    #[tokio::test]
    async fn every_operation_is_reported_and_delegated() {
        let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let log = seen.clone();
        let store = TimedEventStore::new(MemoryEventStore::new(), move |op, _| log.lock().push(op));
        let event = NewEvent {
            event_id: "e1".into(),
            event_type: "t.v1".into(),
            topic: "shop.t.v1".into(),
            occurred_at_ms: 1,
            traceparent: None,
            payload: bytes::Bytes::from_static(b"x"),
        };
        let v = store
            .append(
                "s-1",
                ExpectedVersion::NoStream,
                vec![event],
                vec!["tag".into()],
            )
            .await
            .unwrap();
        assert_eq!(v, 1);
        assert_eq!(store.load("s-1").await.unwrap().len(), 1);
        assert_eq!(store.streams_by_tag("tag").await.unwrap(), vec!["s-1"]);
        let pending = store.unpublished(10).await.unwrap();
        store.mark_published(&pending).await.unwrap();
        assert_eq!(store.next_sequence("n").await.unwrap(), 1);
        assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
        assert!(store.has_global_log());
        let conflict = store
            .append("s-1", ExpectedVersion::NoStream, vec![], vec![])
            .await;
        assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
        assert_eq!(
            *seen.lock(),
            vec![
                APPEND,
                LOAD,
                STREAMS_BY_TAG,
                UNPUBLISHED,
                MARK_PUBLISHED,
                NEXT_SEQUENCE,
                READ_ALL,
                APPEND
            ]
        );
    }
}
