//! Every bus adapter passes the same suite; the relay publishes each stored event.
use std::time::Duration;

use bytes::Bytes;
use shop_bus::{
    EventBus, Subscription,
    conformance::{self, Timing},
    embedded::EmbeddedBus,
    kafka::{KafkaBus, KafkaSettings},
    memory::MemoryBus,
    relay,
};
use shop_store::{EventStore, ExpectedVersion, NewEvent, memory::MemoryEventStore};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn memory_bus_conforms() {
    conformance::run_all(MemoryBus::new(), "t", Timing::LOCAL).await;
    conformance::dedupes_republished(MemoryBus::new(), "t").await;
}

#[tokio::test]
async fn embedded_bus_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(&dir.path().join("log.db")).unwrap();
    conformance::run_all(bus.clone(), "t", Timing::LOCAL).await;
    conformance::reports_lag(bus.clone(), "t", Timing::LOCAL).await;
    conformance::dedupes_republished(bus, "t").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_bus_conforms() {
    let Some(brokers) = shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA") else {
        return;
    };
    let bus = KafkaBus::connect(KafkaSettings {
        brokers,
        partitions: 3,
        namespace: format!("conformance-{}", shop_kernel::ids::new_id()),
        ..KafkaSettings::default()
    })
    .unwrap();
    conformance::run_all(bus.clone(), "t", Timing::BROKER).await;
    conformance::reports_lag(bus, "t", Timing::BROKER).await;
}

#[tokio::test]
async fn relay_publishes_every_appended_event_in_order() {
    let store = MemoryEventStore::new();
    let bus = MemoryBus::new();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay::run_relay(
        "test",
        store.clone(),
        bus.clone(),
        shutdown.clone(),
    ));
    for i in 0..50 {
        let ev = NewEvent {
            event_id: shop_kernel::ids::new_id(),
            event_type: "t.v1".into(),
            topic: "shop.t.v1".into(),
            occurred_at_ms: i,
            traceparent: None,
            payload: Bytes::from(vec![i as u8]),
        };
        store
            .append(
                &format!("s{}", i % 5),
                ExpectedVersion::Any,
                vec![ev],
                vec![],
            )
            .await
            .unwrap();
    }
    let topics = vec!["shop.t.v1".to_string()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut sub = bus.subscribe("g", &topics).await.unwrap();
    let mut got = Vec::new();
    loop {
        got.extend(sub.poll(1000, Duration::from_millis(10)).await.unwrap());
        if got.len() == 50 {
            let payloads: Vec<u8> = got.iter().map(|d| d.message.payload[0]).collect();
            assert_eq!(payloads, (0..50).collect::<Vec<u8>>());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay published {} of 50",
            got.len()
        );
    }
    shutdown.cancel();
    task.await.unwrap();
}

/// The process dies after the relay published a batch but before it marked it published: after a restart the
/// batch is published again, the embedded log ignores the repeats, and consumers see every event exactly once.
#[tokio::test]
async fn a_crash_between_publish_and_mark_republishes_without_loss() {
    use shop_store::sqlite::{Db, EVENT_STORE_MIGRATIONS, SqliteEventStore};
    let dir = tempfile::tempdir().unwrap();
    let (store_path, log_path) = (dir.path().join("svc.db"), dir.path().join("log.db"));
    let open_store =
        || SqliteEventStore::new(Db::open(&store_path, &[EVENT_STORE_MIGRATIONS]).unwrap());
    {
        let store = open_store();
        let bus = EmbeddedBus::open(&log_path).unwrap();
        for i in 0..10u8 {
            let ev = NewEvent {
                event_id: shop_kernel::ids::new_id(),
                event_type: "t.v1".into(),
                topic: "shop.t.v1".into(),
                occurred_at_ms: i64::from(i),
                traceparent: None,
                payload: Bytes::from(vec![i]),
            };
            store
                .append(
                    &format!("s{}", i % 3),
                    ExpectedVersion::Any,
                    vec![ev],
                    vec![],
                )
                .await
                .unwrap();
        }
        // The relay's first half: publish...
        let pending = store.unpublished(100).await.unwrap();
        bus.publish(pending.into_iter().map(Into::into).collect())
            .await
            .unwrap();
        // ...and the process dies before `mark_published`.
    }
    let store = open_store();
    let bus = EmbeddedBus::open(&log_path).unwrap();
    assert_eq!(
        store.unpublished(100).await.unwrap().len(),
        10,
        "nothing was marked"
    );
    assert_eq!(
        relay::relay_once(&store, &bus).await.unwrap(),
        10,
        "republished"
    );
    assert!(store.unpublished(100).await.unwrap().is_empty());
    let mut sub = bus
        .subscribe("g", &["shop.t.v1".to_string()])
        .await
        .unwrap();
    let got = sub.poll(100, Duration::from_millis(100)).await.unwrap();
    let payloads: Vec<u8> = got.iter().map(|d| d.message.payload[0]).collect();
    assert_eq!(
        payloads,
        (0..10).collect::<Vec<u8>>(),
        "each event once, in order"
    );
}
