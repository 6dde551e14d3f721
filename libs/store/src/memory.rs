//! In-memory event store for fast unit tests.
use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{
    EventLog, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, check_version,
};

#[derive(Default)]
struct Inner {
    log: Vec<RecordedEvent>,
    streams: HashMap<String, Vec<usize>>,
    tags: HashMap<String, Vec<String>>,
    /// Position of the last published event.
    published: i64,
    sequences: HashMap<String, i64>,
}

/// An [`EventStore`] held in memory; lost when dropped.
#[derive(Default, Clone)]
pub struct MemoryEventStore {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl EventStore for MemoryEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<String>,
    ) -> Result<u64, StoreError> {
        let version = {
            let mut g = self.inner.lock();
            let inner = &mut *g;
            let actual = inner.streams.get(stream).map_or(0, |v| v.len() as u64);
            check_version(stream, expected, actual)?;
            let mut seq = actual;
            for event in events {
                seq += 1;
                let position = inner.log.len() as i64 + 1;
                inner.log.push(RecordedEvent {
                    position,
                    stream_id: stream.to_string(),
                    seq,
                    event,
                });
                inner
                    .streams
                    .entry(stream.to_string())
                    .or_default()
                    .push(position as usize - 1);
            }
            for tag in tags {
                let list = inner.tags.entry(tag).or_default();
                if !list.iter().any(|s| s == stream) {
                    list.push(stream.to_string());
                }
            }
            seq
        };
        self.notify.notify_waiters();
        Ok(version)
    }

    async fn load(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let g = self.inner.lock();
        Ok(g.streams
            .get(stream)
            .map(|idx| idx.iter().map(|&i| g.log[i].clone()).collect())
            .unwrap_or_default())
    }

    async fn streams_by_tag(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        let g = self.inner.lock();
        Ok(g.tags
            .get(tag)
            .map(|v| v.iter().rev().cloned().collect())
            .unwrap_or_default())
    }

    async fn unpublished(&self, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let g = self.inner.lock();
        Ok(g.log
            .iter()
            .skip(g.published.max(0) as usize)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn mark_published(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        if let Some(last) = events.iter().map(|e| e.position).max() {
            g.published = g.published.max(last);
        }
        Ok(())
    }

    async fn next_sequence(&self, name: &str) -> Result<i64, StoreError> {
        let mut g = self.inner.lock();
        let v = g.sequences.entry(name.to_string()).or_insert(0);
        *v += 1;
        Ok(*v)
    }

    fn appended(&self) -> Arc<Notify> {
        self.notify.clone()
    }
}

impl EventLog for MemoryEventStore {
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let g = self.inner.lock();
        let start = after.max(0) as usize;
        Ok(g.log.iter().skip(start).take(limit).cloned().collect())
    }
}
