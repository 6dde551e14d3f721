//! Runs a consumer group member: poll, handle each message, commit; leave the group cleanly on shutdown.
use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{Delivery, EventBus, Subscription};

const BATCH: usize = 128;
const POLL_WAIT: Duration = Duration::from_millis(250);

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
    let mut backoff = Backoff::new(Duration::from_millis(200));
    let mut subscription = loop {
        match bus.subscribe(&group, &topics).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(%group, error = %e, "subscribe failed; retrying");
                if !backoff.sleep(&shutdown).await {
                    return;
                }
            }
        }
    };
    'outer: while !shutdown.is_cancelled() {
        let batch = tokio::select! {
            polled = subscription.poll(BATCH, POLL_WAIT) => polled,
            _ = shutdown.cancelled() => break,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%group, error = %e, "consumer poll failed");
                if !backoff.sleep(&shutdown).await {
                    break;
                }
                continue;
            }
        };
        for delivery in batch {
            let mut retry = Backoff::new(Duration::from_millis(20));
            loop {
                match handler(delivery.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(%group, partition = delivery.partition, offset = delivery.offset,
                            error = %e, "handler failed; retrying");
                        if !retry.sleep(&shutdown).await {
                            break 'outer;
                        }
                    }
                }
            }
            if let Err(e) = subscription.commit(&delivery).await {
                tracing::warn!(%group, offset = delivery.offset, error = %e, "commit failed");
            }
        }
    }
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
    let mut backoff = Backoff::new(Duration::from_millis(200));
    let mut subscription = loop {
        match bus.subscribe(&group, &topics).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(%group, error = %e, "subscribe failed; retrying");
                if !backoff.sleep(&shutdown).await {
                    return;
                }
            }
        }
    };
    let mut in_flight: std::collections::VecDeque<(Delivery, tokio::task::JoinHandle<bool>)> =
        std::collections::VecDeque::new();
    while !shutdown.is_cancelled() {
        // Commit the finished prefix.
        while in_flight
            .front()
            .is_some_and(|(_, task)| task.is_finished())
        {
            let (delivery, task) = in_flight.pop_front().expect("front exists");
            if !task.await.unwrap_or(false) {
                // Shut down mid-retry: leave the position before this delivery.
                break;
            }
            if let Err(e) = subscription.commit(&delivery).await {
                tracing::warn!(%group, offset = delivery.offset, error = %e, "commit failed");
            }
        }
        let room = max_in_flight.saturating_sub(in_flight.len());
        if room == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        let wait = if in_flight.is_empty() {
            POLL_WAIT
        } else {
            Duration::from_millis(1)
        };
        let polled = tokio::select! {
            polled = subscription.poll(room, wait) => polled,
            _ = shutdown.cancelled() => break,
        };
        match polled {
            Ok(batch) => {
                for delivery in batch {
                    let handler = handler.clone();
                    let shutdown = shutdown.clone();
                    let group = group.clone();
                    let d = delivery.clone();
                    let task = tokio::spawn(async move {
                        let mut retry = Backoff::new(Duration::from_millis(20));
                        loop {
                            match handler(d.clone()).await {
                                Ok(()) => return true,
                                Err(e) => {
                                    tracing::warn!(%group, partition = d.partition, offset = d.offset,
                                        error = %e, "handler failed; retrying");
                                    if !retry.sleep(&shutdown).await {
                                        return false;
                                    }
                                }
                            }
                        }
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
        if let Err(e) = subscription.commit(&delivery).await {
            tracing::warn!(%group, offset = delivery.offset, error = %e, "commit failed");
        }
    }
    if let Err(e) = subscription.close().await {
        tracing::warn!(%group, error = %e, "leaving the consumer group failed");
    }
}
