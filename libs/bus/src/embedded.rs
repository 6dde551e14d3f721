//! The embedded event log: a SQLite database (`data/eventlog.db`) shared by the processes of one machine.
use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use rusqlite::{OptionalExtension, params};
use shop_store::sqlite::{Db, Migration};
use tokio::sync::Notify;

use crate::{BusError, Delivery, EventBus, Message, Subscription, wait_for_messages};

const MIGRATIONS: &[Migration] = &[Migration {
    name: "eventlog_v1",
    sql: "
        CREATE TABLE IF NOT EXISTS log (
            offset INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            key TEXT NOT NULL,
            event_id TEXT NOT NULL UNIQUE,
            event_type TEXT NOT NULL,
            seq INTEGER NOT NULL,
            occurred_at_ms INTEGER NOT NULL,
            traceparent TEXT,
            payload BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS log_by_topic ON log (topic, offset);
        CREATE TABLE IF NOT EXISTS consumer_offsets (grp TEXT PRIMARY KEY, offset INTEGER NOT NULL);
    ",
}];

/// An [`EventBus`] on a local SQLite log. Durable; publishing dedupes on `event_id`.
#[derive(Clone)]
pub struct EmbeddedBus {
    db: Db,
    notify: Arc<Notify>,
    health: crate::health::ConsumerHealth,
}

impl EmbeddedBus {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, BusError> {
        Ok(Self {
            db: Db::open(path, &[MIGRATIONS])?,
            notify: Arc::new(Notify::new()),
            health: Default::default(),
        })
    }

    /// A log in memory (tests).
    pub fn in_memory() -> Result<Self, BusError> {
        Ok(Self {
            db: Db::open_in_memory(&[MIGRATIONS])?,
            notify: Arc::new(Notify::new()),
            health: Default::default(),
        })
    }
}

impl EventBus for EmbeddedBus {
    type Subscription = EmbeddedSubscription;

    fn consumer_health(&self) -> &crate::health::ConsumerHealth {
        &self.health
    }

    async fn publish(&self, messages: Vec<Message>) -> Result<(), BusError> {
        self.db
            .write(move |tx| {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO log (topic, key, event_id, event_type, seq, occurred_at_ms, traceparent, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for m in &messages {
                    stmt.execute(params![
                        m.topic,
                        m.key,
                        m.event_id,
                        m.event_type,
                        m.seq as i64,
                        m.occurred_at_ms,
                        m.traceparent,
                        m.payload.as_ref()
                    ])?;
                }
                Ok(())
            })
            .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<EmbeddedSubscription, BusError> {
        let grp = group.to_string();
        let cursor = self
            .db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT offset FROM consumer_offsets WHERE grp = ?1",
                    [&grp],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0))
            })
            .await?;
        Ok(EmbeddedSubscription {
            bus: self.clone(),
            group: group.to_string(),
            topics: topics.to_vec(),
            cursor,
        })
    }
}

/// A member of a consumer group on the embedded log. The log is one partition, so a group has one position.
pub struct EmbeddedSubscription {
    bus: EmbeddedBus,
    group: String,
    topics: Vec<String>,
    /// The last offset this member delivered.
    cursor: i64,
}

impl EmbeddedSubscription {
    async fn fetch(&self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let after = self.cursor;
        let topics = self.topics.clone();
        Ok(self
            .bus
            .db
            .call(move |c| {
                let placeholders = (0..topics.len()).map(|i| format!("?{}", i + 3)).collect::<Vec<_>>().join(",");
                let sql = format!(
                    "SELECT offset, topic, key, event_id, event_type, seq, occurred_at_ms, traceparent, payload
                     FROM log WHERE offset > ?1 AND topic IN ({placeholders}) ORDER BY offset LIMIT ?2"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let mut args: Vec<rusqlite::types::Value> = vec![after.into(), (max as i64).into()];
                args.extend(topics.iter().map(|t| rusqlite::types::Value::from(t.clone())));
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| {
                        Ok(Delivery {
                            partition: 0,
                            offset: r.get(0)?,
                            message: Message {
                                topic: r.get(1)?,
                                key: r.get(2)?,
                                event_id: r.get(3)?,
                                event_type: r.get(4)?,
                                seq: r.get::<_, i64>(5)? as u64,
                                occurred_at_ms: r.get(6)?,
                                traceparent: r.get(7)?,
                                payload: Bytes::from(r.get::<_, Vec<u8>>(8)?),
                            },
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }
}

impl Subscription for EmbeddedSubscription {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let notify = self.bus.notify.clone();
        let batch = wait_for_messages(&notify, wait, || self.fetch(max)).await?;
        if let Some(last) = batch.last() {
            self.cursor = last.offset;
        }
        Ok(batch)
    }

    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let group = self.group.clone();
        let offset = delivery.offset;
        Ok(self
            .bus
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO consumer_offsets (grp, offset) VALUES (?1, ?2)
                     ON CONFLICT(grp) DO UPDATE SET offset = MAX(offset, excluded.offset)",
                    params![group, offset],
                )?;
                Ok(())
            })
            .await?)
    }

    async fn close(self) -> Result<(), BusError> {
        Ok(())
    }

    async fn lag(&mut self) -> Result<Vec<(String, u64)>, BusError> {
        let group = self.group.clone();
        let topics = self.topics.clone();
        Ok(self
            .bus
            .db
            .call(move |c| {
                // The log is one partition: the lag of a topic is its messages after the group's position.
                let mut stmt = c.prepare_cached(
                    "SELECT COUNT(*) FROM log WHERE topic = ?1 AND offset >
                       COALESCE((SELECT offset FROM consumer_offsets WHERE grp = ?2), 0)",
                )?;
                topics
                    .into_iter()
                    .map(|t| {
                        let n: i64 = stmt.query_row(params![t, group], |r| r.get(0))?;
                        Ok((t, u64::try_from(n).unwrap_or(0)))
                    })
                    .collect::<Result<Vec<_>, rusqlite::Error>>()
                    .map_err(Into::into)
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str, id: &str) -> Message {
        Message {
            topic: topic.into(),
            key: "k".into(),
            event_id: id.into(),
            event_type: "t.v1".into(),
            seq: 1,
            occurred_at_ms: 1,
            traceparent: None,
            payload: Bytes::from_static(b"x"),
        }
    }

    #[tokio::test]
    async fn lag_counts_messages_after_the_committed_position() {
        let bus = EmbeddedBus::in_memory().unwrap();
        bus.publish(vec![
            message("a", "1"),
            message("b", "2"),
            message("a", "3"),
            message("a", "4"),
        ])
        .await
        .unwrap();
        let mut sub = bus.subscribe("g", &["a".into(), "c".into()]).await.unwrap();
        assert_eq!(
            sub.lag().await.unwrap(),
            vec![("a".to_string(), 3), ("c".to_string(), 0)]
        );
        let batch = sub.poll(2, Duration::from_millis(10)).await.unwrap();
        assert_eq!(batch.len(), 2);
        // Delivered but not committed: still lagging.
        assert_eq!(sub.lag().await.unwrap()[0], ("a".to_string(), 3));
        sub.commit(&batch[1]).await.unwrap();
        assert_eq!(sub.lag().await.unwrap()[0], ("a".to_string(), 1));
    }
}
