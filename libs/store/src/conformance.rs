//! The conformance suite every [`EventStore`] adapter must pass. Adapters call [`run_all`] from their tests.
use bytes::Bytes;

use crate::{EventLog, EventStore, ExpectedVersion, NewEvent, StoreError};

fn event(n: u32) -> NewEvent {
    NewEvent {
        event_id: shop_kernel::ids::new_id(),
        event_type: "test.happened.v1".into(),
        topic: "shop.test.v1".into(),
        occurred_at_ms: 1_700_000_000_000 + n as i64,
        traceparent: Some(format!("00-{n:032x}-{n:016x}-01")),
        payload: Bytes::from(format!("payload-{n}")),
    }
}

/// Runs every check against a fresh, empty store. Panics (test failure) on the first violation.
pub async fn run_all<S: EventStore + Clone>(store: S) {
    outbox(&store).await;
    append_and_load_round_trip(&store).await;
    optimistic_concurrency(&store).await;
    tags(&store).await;
    sequences(&store).await;
    concurrent_appends_one_winner(&store).await;
}

/// The checks for stores with a global order, on top of [`run_all`].
pub async fn run_log<S: EventLog + Clone>(store: S) {
    run_all(store.clone()).await;
    global_order(&store).await;
}

/// Appended events are unpublished until marked, in stream order; marking is durable and partial marks work.
async fn outbox<S: EventStore>(store: &S) {
    assert!(store.unpublished(100).await.unwrap().is_empty());
    let (a, b) = (vec![event(1), event(2)], vec![event(3)]);
    store
        .append("s-out-a", ExpectedVersion::NoStream, a.clone(), vec![])
        .await
        .unwrap();
    store
        .append("s-out-b", ExpectedVersion::NoStream, b.clone(), vec![])
        .await
        .unwrap();
    let pending = store.unpublished(100).await.unwrap();
    assert_eq!(pending.len(), 3);
    let of = |stream: &str| -> Vec<NewEvent> {
        pending
            .iter()
            .filter(|e| e.stream_id == stream)
            .map(|e| e.event.clone())
            .collect()
    };
    assert_eq!(of("s-out-a"), a, "stream order");
    assert_eq!(of("s-out-b"), b);
    store.mark_published(&pending).await.unwrap();
    assert!(store.unpublished(100).await.unwrap().is_empty());

    // A later append is pending again; publishing part of it leaves the rest.
    store
        .append(
            "s-out-a",
            ExpectedVersion::Exact(2),
            vec![event(4), event(5)],
            vec![],
        )
        .await
        .unwrap();
    let pending = store.unpublished(100).await.unwrap();
    assert_eq!(
        pending.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    store.mark_published(&pending[..1]).await.unwrap();
    let rest = store.unpublished(100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4]);
    store.mark_published(&rest).await.unwrap();
    assert!(store.unpublished(100).await.unwrap().is_empty());
}

async fn append_and_load_round_trip<S: EventStore>(store: &S) {
    let evs = vec![event(1), event(2)];
    let v = store
        .append("s-round", ExpectedVersion::NoStream, evs.clone(), vec![])
        .await
        .unwrap();
    assert_eq!(v, 2);
    let loaded = store.load("s-round").await.unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].event, evs[0]);
    assert_eq!(loaded[1].event, evs[1]);
    assert_eq!((loaded[0].seq, loaded[1].seq), (1, 2));
    assert!(loaded[0].position < loaded[1].position);
    assert!(store.load("s-missing").await.unwrap().is_empty());
}

async fn optimistic_concurrency<S: EventStore>(store: &S) {
    store
        .append("s-occ", ExpectedVersion::NoStream, vec![event(1)], vec![])
        .await
        .unwrap();
    let err = store
        .append("s-occ", ExpectedVersion::NoStream, vec![event(2)], vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: 1, .. }),
        "{err:?}"
    );
    let err = store
        .append("s-occ", ExpectedVersion::Exact(5), vec![event(3)], vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(
        store
            .append("s-occ", ExpectedVersion::Exact(1), vec![event(4)], vec![])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .append("s-occ", ExpectedVersion::Any, vec![event(5)], vec![])
            .await
            .unwrap(),
        3
    );
    // A failed append writes nothing.
    assert_eq!(store.load("s-occ").await.unwrap().len(), 3);
}

async fn tags<S: EventStore>(store: &S) {
    store
        .append(
            "s-tag-a",
            ExpectedVersion::NoStream,
            vec![event(1)],
            vec!["owner:x".into()],
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    store
        .append(
            "s-tag-b",
            ExpectedVersion::NoStream,
            vec![event(2)],
            vec!["owner:x".into()],
        )
        .await
        .unwrap();
    store
        .append(
            "s-tag-a",
            ExpectedVersion::Exact(1),
            vec![event(3)],
            vec!["owner:x".into()],
        )
        .await
        .unwrap();
    // A failed append leaves no tag behind.
    store
        .append(
            "s-tag-b",
            ExpectedVersion::NoStream,
            vec![event(4)],
            vec!["owner:y".into()],
        )
        .await
        .unwrap_err();
    assert_eq!(
        store.streams_by_tag("owner:x").await.unwrap(),
        vec!["s-tag-b".to_string(), "s-tag-a".to_string()],
        "newest first tagging first"
    );
    assert!(
        store
            .streams_by_tag("owner:nobody")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn global_order<S: EventLog>(store: &S) {
    let before = store
        .read_all(0, 100_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.position);
    for (i, s) in ["s-log-a", "s-log-b", "s-log-c"].into_iter().enumerate() {
        store
            .append(s, ExpectedVersion::NoStream, vec![event(i as u32)], vec![])
            .await
            .unwrap();
    }
    let after = store.read_all(before, 100).await.unwrap();
    assert_eq!(
        after
            .iter()
            .map(|e| e.stream_id.as_str())
            .collect::<Vec<_>>(),
        vec!["s-log-a", "s-log-b", "s-log-c"]
    );
    assert!(after.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(store.read_all(before, 2).await.unwrap().len(), 2);
}

async fn sequences<S: EventStore>(store: &S) {
    assert_eq!(store.next_sequence("orders").await.unwrap(), 1);
    assert_eq!(store.next_sequence("orders").await.unwrap(), 2);
    assert_eq!(store.next_sequence("other").await.unwrap(), 1);
}

async fn concurrent_appends_one_winner<S: EventStore + Clone>(store: &S) {
    store
        .append("s-race", ExpectedVersion::NoStream, vec![event(0)], vec![])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.append("s-race", ExpectedVersion::Exact(1), vec![event(i)], vec![])
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(
        ok, 1,
        "exactly one concurrent append at the same version wins"
    );
    assert_eq!(store.load("s-race").await.unwrap().len(), 2);
}
