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
