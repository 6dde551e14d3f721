//! The conformance suite every [`EventBus`] adapter must pass. Adapters call [`run_all`] from their tests.
//!
//! Topics and groups are prefixed with `namespace` so the suite can run against a shared, long-lived broker.
use std::time::Duration;

use bytes::Bytes;

use crate::{Delivery, EventBus, Message, Subscription};

/// Timing knobs: real brokers need longer to join a group than an embedded log.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long to wait for messages that must arrive.
    pub arrive: Duration,
    /// How long to wait before concluding that nothing more arrives.
    pub quiet: Duration,
}

impl Timing {
    /// For in-process logs.
    pub const LOCAL: Timing = Timing {
        arrive: Duration::from_secs(2),
        quiet: Duration::from_millis(150),
    };
    /// For a broker on loopback.
    pub const BROKER: Timing = Timing {
        arrive: Duration::from_secs(30),
        quiet: Duration::from_secs(3),
    };
}

fn msg(topic: &str, key: &str, n: u64) -> Message {
    Message {
        topic: topic.into(),
        key: key.into(),
        event_id: shop_kernel::ids::new_id(),
        event_type: "test.happened.v1".into(),
        seq: n,
        occurred_at_ms: 1_700_000_000_000 + n as i64,
        traceparent: Some(format!("00-{n:032x}-{n:016x}-01")),
        payload: Bytes::from(format!("p{n}")),
    }
}

/// Polls until `n` messages arrived (or `timing.arrive` passed), then checks that nothing more comes.
async fn receive<S: Subscription>(sub: &mut S, n: usize, timing: Timing) -> Vec<Delivery> {
    let deadline = tokio::time::Instant::now() + timing.arrive;
    let mut got = Vec::new();
    while got.len() < n && tokio::time::Instant::now() < deadline {
        got.extend(
            sub.poll(n - got.len(), Duration::from_millis(250))
                .await
                .unwrap(),
        );
    }
    got.extend(sub.poll(100, timing.quiet).await.unwrap());
    got
}

fn step(label: &str) {
    eprintln!("bus conformance: {label}");
}

fn messages(ds: &[Delivery]) -> Vec<Message> {
    ds.iter().map(|d| d.message.clone()).collect()
}

/// Runs every check against `bus`; `namespace` must be fresh for each run.
pub async fn run_all<B: EventBus>(bus: B, namespace: &str, timing: Timing) {
    let topic_a = format!("{namespace}.a.v1");
    let topic_b = format!("{namespace}.b.v1");
    let group = |g: &str| format!("{namespace}.{g}");
    let a1 = msg(&topic_a, "k1", 1);
    let a2 = msg(&topic_a, "k1", 2);
    let b1 = msg(&topic_b, "k2", 1);
    bus.publish(vec![a1.clone(), b1.clone(), a2.clone()])
        .await
        .unwrap();
    bus.publish(vec![]).await.unwrap();

    step("publish done");
    // A group receives a topic's messages, in order per key, with all metadata intact.
    let topics_a = vec![topic_a.clone()];
    let mut s1 = bus.subscribe(&group("g1"), &topics_a).await.unwrap();
    let got = receive(&mut s1, 2, timing).await;
    assert_eq!(messages(&got), vec![a1.clone(), a2.clone()]);
    assert_eq!(got[0].partition, got[1].partition);
    assert!(got[0].offset < got[1].offset);

    step("g1 received");
    // Committing moves the group: a new member resumes after the committed message.
    s1.commit(&got[0]).await.unwrap();
    s1.close().await.unwrap();
    let mut s1b = bus.subscribe(&group("g1"), &topics_a).await.unwrap();
    assert_eq!(
        messages(&receive(&mut s1b, 1, timing).await),
        vec![a2.clone()]
    );
    s1b.close().await.unwrap();

    step("g1 resumed");
    // Groups are independent.
    let mut s2 = bus.subscribe(&group("g2"), &topics_a).await.unwrap();
    assert_eq!(receive(&mut s2, 2, timing).await.len(), 2);
    s2.close().await.unwrap();

    step("g2 received");
    // Several topics: everything arrives once, per-key order holds, `max` is respected.
    let both = vec![topic_a.clone(), topic_b.clone()];
    let mut s3 = bus.subscribe(&group("g3"), &both).await.unwrap();
    let mut first = Vec::new();
    let deadline = tokio::time::Instant::now() + timing.arrive;
    while first.is_empty() && tokio::time::Instant::now() < deadline {
        first = s3.poll(1, Duration::from_millis(250)).await.unwrap();
    }
    assert_eq!(first.len(), 1, "poll(max = 1) returns one message");
    let mut all = first;
    all.extend(receive(&mut s3, 2, timing).await);
    let got = messages(&all);
    assert_eq!(got.len(), 3);
    for m in [&a1, &a2, &b1] {
        assert!(got.contains(m), "missing {m:?}");
    }
    let pos = |m: &Message| got.iter().position(|x| x == m).unwrap();
    assert!(pos(&a1) < pos(&a2), "per-key order");

    step("g3 received");
    // Live delivery: a message published while subscribed arrives.
    let a3 = msg(&topic_a, "k1", 3);
    bus.publish(vec![a3.clone()]).await.unwrap();
    let live = receive(&mut s3, 1, timing).await;
    assert_eq!(messages(&live), vec![a3.clone()]);
    all.extend(live);

    step("live received");
    // Commits never move backwards: commit everything, then an earlier delivery again.
    for d in &all {
        s3.commit(d).await.unwrap();
    }
    s3.commit(&all[0]).await.unwrap();
    s3.close().await.unwrap();
    let mut s3b = bus.subscribe(&group("g3"), &both).await.unwrap();
    assert!(receive(&mut s3b, 0, timing).await.is_empty());
    s3b.close().await.unwrap();
}

/// For logs that dedupe on `event_id` (embedded, in-memory): re-publishing adds nothing.
pub async fn dedupes_republished<B: EventBus>(bus: B, namespace: &str) {
    let topic = format!("{namespace}.dedupe.v1");
    let m = msg(&topic, "k", 1);
    bus.publish(vec![m.clone()]).await.unwrap();
    bus.publish(vec![m.clone(), m.clone()]).await.unwrap();
    let mut s = bus
        .subscribe(&format!("{namespace}.dedupe"), &[topic])
        .await
        .unwrap();
    assert_eq!(messages(&receive(&mut s, 1, Timing::LOCAL).await), vec![m]);
}

/// For adapters that report consumer lag (embedded, Kafka): the lag is the number of messages after the
/// last committed one, and it reaches zero once everything is committed.
pub async fn reports_lag<B: EventBus>(bus: B, namespace: &str, timing: Timing) {
    let topic = format!("{namespace}.lag.v1");
    let sent: Vec<Message> = (1..=5).map(|seq| msg(&topic, "k", seq)).collect();
    bus.publish(sent).await.unwrap();
    let mut sub = bus
        .subscribe(&format!("{namespace}.lag"), std::slice::from_ref(&topic))
        .await
        .unwrap();
    let got = receive(&mut sub, 5, timing).await;
    assert_eq!(got.len(), 5);
    sub.commit(&got[1]).await.unwrap();
    assert_lag(&mut sub, &topic, 3, timing).await;
    sub.commit(&got[4]).await.unwrap();
    assert_lag(&mut sub, &topic, 0, timing).await;
    sub.close().await.unwrap();
}

/// Waits (polling, which also serves the adapter's callbacks) until `topic`'s lag is `expected`.
async fn assert_lag<S: Subscription>(sub: &mut S, topic: &str, expected: u64, timing: Timing) {
    // Statistics-based lag (Kafka) refreshes about once a second.
    let deadline = tokio::time::Instant::now() + timing.arrive + Duration::from_secs(5);
    let mut last = Vec::new();
    while tokio::time::Instant::now() < deadline {
        last = sub.lag().await.unwrap();
        if last.iter().any(|(t, n)| t == topic && *n == expected) {
            return;
        }
        assert!(
            sub.poll(10, Duration::from_millis(200))
                .await
                .unwrap()
                .is_empty()
        );
    }
    panic!("lag of {topic} never became {expected}: last {last:?}");
}
