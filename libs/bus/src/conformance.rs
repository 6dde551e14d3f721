//! The conformance suite every [`EventBus`] adapter must pass. Adapters call [`run_all`] from their tests.
use bytes::Bytes;

use crate::{EventBus, Message};

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

/// Runs every check against a fresh, empty bus.
pub async fn run_all<B: EventBus>(bus: B) {
    let a1 = msg("shop.a.v1", "k1", 1);
    let a2 = msg("shop.a.v1", "k1", 2);
    let b1 = msg("shop.b.v1", "k2", 1);
    bus.publish(vec![a1.clone(), b1.clone(), a2.clone()])
        .await
        .unwrap();
    // Re-publishing the same event ids adds nothing.
    bus.publish(vec![a1.clone()]).await.unwrap();

    let topics_a = vec!["shop.a.v1".to_string()];
    let got = bus.fetch("g1", &topics_a, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.message.clone()).collect::<Vec<_>>(),
        vec![a1.clone(), a2.clone()]
    );
    assert!(got[0].offset < got[1].offset);

    // Independent groups; committing moves only that group.
    bus.commit("g1", got[0].offset).await.unwrap();
    let again = bus.fetch("g1", &topics_a, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message, a2);
    assert_eq!(bus.fetch("g2", &topics_a, 10).await.unwrap().len(), 2);

    // Multi-topic fetch keeps log order; limits apply.
    let both = vec!["shop.a.v1".to_string(), "shop.b.v1".to_string()];
    let all = bus.fetch("g3", &both, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.message.clone()).collect::<Vec<_>>(),
        vec![a1, b1, a2.clone()]
    );
    assert_eq!(bus.fetch("g3", &both, 1).await.unwrap().len(), 1);

    // Commits never move backwards.
    let last = all.last().unwrap().offset;
    bus.commit("g3", last).await.unwrap();
    bus.commit("g3", all[0].offset).await.unwrap();
    assert!(bus.fetch("g3", &both, 10).await.unwrap().is_empty());
}
