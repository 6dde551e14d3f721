//! Identical concurrent reads of public catalog data share one backend call (single flight).
//!
//! A read joins the call in flight for the same key, if any, and otherwise starts one. The entry leaves the
//! table as soon as its first reader is done (or gone), so a later read always makes a fresh call: coalescing
//! never serves data older than a call that was already running when the read arrived.
use std::{collections::HashMap, future::Future, sync::Arc};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use parking_lot::Mutex;
use shop_kernel::Error;

type Flight<V> = Shared<BoxFuture<'static, Result<V, Error>>>;

/// Calls in flight by key. Only for reads whose answer does not depend on the caller.
pub struct Coalescer<V: Clone> {
    inflight: Arc<Mutex<HashMap<String, Flight<V>>>>,
}

impl<V: Clone> Default for Coalescer<V> {
    fn default() -> Self {
        Self {
            inflight: Arc::default(),
        }
    }
}

/// Removes its flight from the table when the reader is done or dropped (if the entry is still that flight).
struct Leave<V: Clone> {
    inflight: Arc<Mutex<HashMap<String, Flight<V>>>>,
    key: Option<String>,
    flight: Flight<V>,
}

impl<V: Clone> Drop for Leave<V> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut table = self.inflight.lock();
        if table
            .get(&key)
            .is_some_and(|f| Shared::ptr_eq(f, &self.flight))
        {
            table.remove(&key);
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Coalescer<V> {
    /// The answer of the call in flight for `key`, or of `call()` started now.
    pub async fn read<F, Fut>(&self, key: String, call: F) -> Result<V, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Error>> + Send + 'static,
    {
        let flight = {
            let mut table = self.inflight.lock();
            match table.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let f = call().boxed().shared();
                    table.insert(key.clone(), f.clone());
                    f
                }
            }
        };
        let leave = Leave {
            inflight: self.inflight.clone(),
            key: Some(key),
            flight: flight.clone(),
        };
        let result = flight.await;
        drop(leave);
        result
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.inflight.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;

    #[tokio::test]
    async fn concurrent_identical_reads_share_one_call_and_later_reads_call_again() {
        let c = Coalescer::<u32>::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let rx = rx.shared();
        let read = |key: &str| {
            let calls = calls.clone();
            let rx = rx.clone();
            c.read(key.to_string(), move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                rx.await.map_err(|_| Error::internal("cancelled"))
            })
        };
        let (a, b, other) = (read("k"), read("k"), read("j"));
        let answers = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(7).unwrap();
        });
        let (a, b, other) = tokio::join!(a, b, other);
        answers.await.unwrap();
        assert_eq!((a.unwrap(), b.unwrap(), other.unwrap()), (7, 7, 7));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one call per distinct key");
        assert_eq!(c.in_flight(), 0);
        let again = c
            .read("k".into(), || async { Ok::<_, Error>(8) })
            .await
            .unwrap();
        assert_eq!(again, 8, "a read after the flight landed calls again");
    }

    #[tokio::test]
    async fn errors_are_shared_and_a_dropped_reader_leaves_no_entry() {
        let c = Coalescer::<u32>::default();
        let e = c
            .read("k".into(), || async {
                Err::<u32, _>(Error::unavailable("DOWN", "down"))
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind, shop_kernel::ErrorKind::Unavailable);
        let pending = c.read("p".into(), futures::future::pending);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), pending)
                .await
                .is_err()
        );
        assert_eq!(c.in_flight(), 0, "the abandoned flight left the table");
    }
}
