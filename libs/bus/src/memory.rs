//! In-memory bus for fast unit tests.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{BusError, Delivery, EventBus, Message};

#[derive(Default)]
struct Inner {
    log: Vec<Message>,
    ids: HashSet<String>,
    offsets: HashMap<String, i64>,
}

/// An [`EventBus`] held in memory.
#[derive(Default, Clone)]
pub struct MemoryBus {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

impl EventBus for MemoryBus {
    async fn publish(&self, messages: Vec<Message>) -> Result<(), BusError> {
        {
            let mut g = self.inner.lock();
            for m in messages {
                if g.ids.insert(m.event_id.clone()) {
                    g.log.push(m);
                }
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn fetch(
        &self,
        group: &str,
        topics: &[String],
        max: usize,
    ) -> Result<Vec<Delivery>, BusError> {
        let g = self.inner.lock();
        let after = g.offsets.get(group).copied().unwrap_or(0);
        Ok(g.log
            .iter()
            .enumerate()
            .map(|(i, m)| (i as i64 + 1, m))
            .filter(|(o, m)| *o > after && topics.contains(&m.topic))
            .take(max)
            .map(|(offset, m)| Delivery {
                offset,
                message: m.clone(),
            })
            .collect())
    }

    async fn commit(&self, group: &str, offset: i64) -> Result<(), BusError> {
        let mut g = self.inner.lock();
        let cur = g.offsets.entry(group.to_string()).or_insert(0);
        *cur = (*cur).max(offset);
        Ok(())
    }

    fn published(&self) -> Arc<Notify> {
        self.notify.clone()
    }
}
