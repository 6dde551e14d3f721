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
    conformance::run_all(bus, "t", Timing::BROKER).await;
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
