//! Runs a consumer group: fetch after the committed offset, handle each message, commit.
use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{Delivery, EventBus};

/// Handles deliveries until `shutdown`. A failing handler is retried (with backoff) before the offset moves on,
/// so nothing is skipped; handlers must be idempotent because a crash before commit redelivers.
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
    let notify = bus.published();
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let batch = match bus.fetch(&group, &topics, 128).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%group, error = %e, "consumer fetch failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = notified => {}
                // Other processes may publish to a shared log: poll as well.
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        }
        for delivery in batch {
            let offset = delivery.offset;
            let mut backoff = Duration::from_millis(20);
            loop {
                match handler(delivery.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(%group, offset, error = %e, "handler failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if let Err(e) = bus.commit(&group, offset).await {
                tracing::warn!(%group, offset, error = %e, "commit failed");
            }
        }
    }
}
