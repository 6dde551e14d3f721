//! Use cases of the inventory application over the in-memory event store.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use shop_inventory::{
    app::{App, stream_name},
    domain::{AdjustKind, ReservationState},
    events,
};
use shop_kernel::{Actor, ErrorKind};
use shop_store::{
    EventLog, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    memory::MemoryEventStore,
};

fn system() -> Actor {
    Actor::internal()
}

async fn app_with_stock(stock: &[(&str, i64)]) -> (App<MemoryEventStore>, MemoryEventStore) {
    let store = MemoryEventStore::new();
    let app = App::start(store.clone()).await.unwrap();
    for (v, q) in stock {
        app.adjust_stock(&system(), v, AdjustKind::Receive, *q, "received")
            .await
            .unwrap();
    }
    (app, store)
}

fn lines(ls: &[(&str, i64)]) -> Vec<(String, i64)> {
    ls.iter().map(|(v, q)| (v.to_string(), *q)).collect()
}

#[tokio::test]
async fn reserve_commit_release_flow() {
    let (app, _) = app_with_stock(&[("a", 10), ("b", 5)]).await;
    let r = app
        .reserve(&system(), "r1", lines(&[("a", 3), ("b", 5)]), None)
        .await
        .unwrap();
    assert_eq!(r.state, ReservationState::Active);
    let levels = app
        .get_stock(&["a".into(), "b".into(), "zzz".into()])
        .await
        .unwrap();
    assert_eq!(levels.len(), 2, "unknown variants are omitted");
    assert_eq!(
        (levels[0].on_hand, levels[0].reserved, levels[0].available),
        (10, 3, 7)
    );
    assert_eq!(levels[1].available, 0);

    let c = app.commit(&system(), "r1").await.unwrap();
    assert_eq!(c.state, ReservationState::Committed);
    assert_eq!(
        app.commit(&system(), "r1").await.unwrap(),
        c,
        "commit is idempotent"
    );
    let e = app.release(&system(), "r1", "cancel").await.unwrap_err();
    assert_eq!(e.code, "RESERVATION_COMMITTED");
    let levels = app.get_stock(&["a".into()]).await.unwrap();
    assert_eq!((levels[0].on_hand, levels[0].reserved), (7, 0));

    app.reserve(&system(), "r2", lines(&[("a", 2)]), None)
        .await
        .unwrap();
    let rel = app.release(&system(), "r2", "cancel").await.unwrap();
    assert_eq!(rel.state, ReservationState::Released);
    assert_eq!(app.release(&system(), "r2", "again").await.unwrap(), rel);
    assert_eq!(
        app.commit(&system(), "r2").await.unwrap_err().code,
        "RESERVATION_RELEASED"
    );
    assert_eq!(
        app.commit(&system(), "nope").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(app.get_stock(&["a".into()]).await.unwrap()[0].available, 7);
}

#[tokio::test]
async fn insufficient_stock_writes_nothing() {
    let (app, store) = app_with_stock(&[("a", 10), ("b", 1)]).await;
    let before = store.read_all(0, 1000).await.unwrap().len();
    let e = app
        .reserve(&system(), "r1", lines(&[("a", 3), ("b", 2)]), None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::FailedPrecondition, "INSUFFICIENT_STOCK")
    );
    assert_eq!(e.field, ["lines", "1"]);
    assert!(e.message.contains("only 1 available"), "{}", e.message);
    assert_eq!(store.read_all(0, 1000).await.unwrap().len(), before);
    assert_eq!(app.get_stock(&["a".into()]).await.unwrap()[0].reserved, 0);
}

#[tokio::test]
async fn reserve_is_idempotent_and_survives_restart() {
    let (app, store) = app_with_stock(&[("a", 10)]).await;
    let r1 = app
        .reserve(&system(), "r1", lines(&[("a", 4)]), None)
        .await
        .unwrap();
    let again = app
        .reserve(&system(), "r1", lines(&[("a", 4)]), None)
        .await
        .unwrap();
    assert_eq!(r1, again);
    assert_eq!(app.get_stock(&["a".into()]).await.unwrap()[0].reserved, 4);

    // A new instance rebuilds items and the reservation index from the store.
    let app2 = App::start(store).await.unwrap();
    assert_eq!(
        app2.reserve(&system(), "r1", lines(&[("a", 4)]), None)
            .await
            .unwrap(),
        r1
    );
    assert_eq!(app2.get_stock(&["a".into()]).await.unwrap()[0].reserved, 4);
    assert_eq!(
        app2.commit(&system(), "r1").await.unwrap().state,
        ReservationState::Committed
    );
}

#[tokio::test]
async fn only_system_callers_write() {
    let (app, _) = app_with_stock(&[("a", 10)]).await;
    let customer = Actor::customer("c1");
    for e in [
        app.adjust_stock(&customer, "a", AdjustKind::Receive, 1, "x")
            .await
            .unwrap_err(),
        app.reserve(&customer, "r", lines(&[("a", 1)]), None)
            .await
            .unwrap_err(),
        app.release(&Actor::guest(), "r", "x").await.unwrap_err(),
        app.commit(&customer, "r").await.unwrap_err(),
    ] {
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::PermissionDenied, "CALLER_NOT_ALLOWED")
        );
    }
    // Reads are public.
    assert_eq!(app.get_stock(&["a".into()]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn adjustments_are_validated() {
    let (app, _) = app_with_stock(&[("a", 10)]).await;
    app.reserve(&system(), "r", lines(&[("a", 6)]), None)
        .await
        .unwrap();
    let e = app
        .adjust_stock(&system(), "a", AdjustKind::Correct, -5, "lost")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::FailedPrecondition, "STOCK_BELOW_RESERVED")
    );
    assert_eq!(
        app.adjust_stock(&system(), "a", AdjustKind::Set, 5, "count")
            .await
            .unwrap_err()
            .code,
        "STOCK_BELOW_RESERVED"
    );
    let l = app
        .adjust_stock(&system(), "a", AdjustKind::Set, 6, "count")
        .await
        .unwrap();
    assert_eq!((l.on_hand, l.available), (6, 0));
    assert_eq!(
        app.adjust_stock(&system(), "a", AdjustKind::Receive, 1, "")
            .await
            .unwrap_err()
            .code,
        "INVALID_REASON"
    );
    assert_eq!(
        app.adjust_stock(&system(), "a", AdjustKind::Receive, 1_000_000_001, "x")
            .await
            .unwrap_err()
            .code,
        "INVALID_QUANTITY"
    );
    assert_eq!(
        app.adjust_stock(&system(), "a/b", AdjustKind::Receive, 1, "x")
            .await
            .unwrap_err()
            .code,
        "INVALID_VARIANT_ID"
    );
    // Unknown variants start at 0.
    assert_eq!(
        app.adjust_stock(&system(), "new", AdjustKind::Receive, 2, "x")
            .await
            .unwrap()
            .on_hand,
        2
    );
    let many: Vec<String> = (0..251).map(|i| format!("v{i}")).collect();
    assert_eq!(app.get_stock(&many).await.unwrap_err().code, "TOO_MANY_IDS");
}

#[tokio::test]
async fn concurrent_reservations_do_not_oversell() {
    let (app, _) = app_with_stock(&[("hot", 10), ("b", 100)]).await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.reserve(
                &system(),
                &format!("r{i}"),
                lines(&[("b", 1), ("hot", 1)]),
                None,
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "INSUFFICIENT_STOCK"),
        }
    }
    assert_eq!(ok, 10);
    let levels = app.get_stock(&["hot".into(), "b".into()]).await.unwrap();
    assert_eq!((levels[0].reserved, levels[0].available), (10, 0));
    assert_eq!(
        levels[1].reserved, 10,
        "failed reservations left nothing behind"
    );
}

#[tokio::test]
async fn external_writer_conflict_is_retried() {
    let (app, store) = app_with_stock(&[("a", 10)]).await;
    // Another writer appends behind the cache's back.
    let ev = shop_inventory::domain::InventoryEvent::Adjusted {
        variant_id: "a".into(),
        delta: 5,
        kind: AdjustKind::Receive,
        reason: "elsewhere".into(),
    };
    store
        .append(
            &stream_name("a"),
            ExpectedVersion::Exact(1),
            vec![events::encode(&ev, 1)],
            vec![],
        )
        .await
        .unwrap();
    let l = app
        .adjust_stock(&system(), "a", AdjustKind::Receive, 1, "here")
        .await
        .unwrap();
    assert_eq!(l.on_hand, 16);
    assert_eq!(store.load(&stream_name("a")).await.unwrap().len(), 3);
}

/// A store whose appends to one stream fail while `fail` is set.
#[derive(Clone)]
struct FailingStore {
    inner: MemoryEventStore,
    stream: String,
    fail: Arc<AtomicBool>,
}

impl EventStore for FailingStore {
    async fn append(
        &self,
        stream: &str,
        e: ExpectedVersion,
        ev: Vec<NewEvent>,
        t: Vec<String>,
    ) -> Result<u64, StoreError> {
        if stream == self.stream && self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk on fire".into()));
        }
        self.inner.append(stream, e, ev, t).await
    }
    async fn load(&self, s: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.load(s).await
    }
    async fn streams_by_tag(&self, t: &str) -> Result<Vec<String>, StoreError> {
        self.inner.streams_by_tag(t).await
    }
    async fn unpublished(&self, l: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.unpublished(l).await
    }
    async fn mark_published(&self, e: &[RecordedEvent]) -> Result<(), StoreError> {
        self.inner.mark_published(e).await
    }
    async fn next_sequence(&self, n: &str) -> Result<i64, StoreError> {
        self.inner.next_sequence(n).await
    }
    fn appended(&self) -> Arc<tokio::sync::Notify> {
        self.inner.appended()
    }
}

impl EventLog for FailingStore {
    async fn read_all(&self, a: i64, l: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(a, l).await
    }
}

#[tokio::test]
async fn failed_append_is_compensated() {
    let fail = Arc::new(AtomicBool::new(false));
    let store = FailingStore {
        inner: MemoryEventStore::new(),
        stream: stream_name("b"),
        fail: fail.clone(),
    };
    let app = App::start(store).await.unwrap();
    app.adjust_stock(&system(), "a", AdjustKind::Receive, 5, "r")
        .await
        .unwrap();
    app.adjust_stock(&system(), "b", AdjustKind::Receive, 5, "r")
        .await
        .unwrap();
    fail.store(true, Ordering::SeqCst);
    let e = app
        .reserve(&system(), "r1", lines(&[("a", 2), ("b", 2)]), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    let a = &app.get_stock(&["a".into()]).await.unwrap()[0];
    assert_eq!(
        (a.reserved, a.available),
        (0, 5),
        "the reserved line was released again"
    );
    assert_eq!(
        app.commit(&system(), "r1").await.unwrap_err().code,
        "RESERVATION_NOT_FOUND"
    );
}

#[tokio::test]
async fn reservations_expire_by_themselves_even_across_restarts() {
    let (app, store) = app_with_stock(&[("a", 10), ("b", 10)]).await;
    let held = app
        .reserve(
            &system(),
            "lapses",
            lines(&[("a", 3), ("b", 2)]),
            Some(60_000),
        )
        .await
        .unwrap();
    let at = held.expires_at_ms.expect("a hold has an expiry");
    app.reserve(&system(), "kept", lines(&[("a", 1)]), Some(60_000))
        .await
        .unwrap();
    app.commit(&system(), "kept").await.unwrap();
    app.reserve(&system(), "long", lines(&[("b", 4)]), Some(3_600_000))
        .await
        .unwrap();

    // Before the deadline nothing lapses.
    assert_eq!(app.expire_due(at - 1).await, 0);
    assert_eq!(app.get_stock(&["a".into()]).await.unwrap()[0].reserved, 3);

    // A restarted instance finds the deadlines in the store and releases what lapsed, once.
    let app2 = App::start(store).await.unwrap();
    assert_eq!(app2.expire_due(at).await, 1);
    assert_eq!(app2.expire_due(at + 1_000).await, 0, "idempotent");
    let levels = app2.get_stock(&["a".into(), "b".into()]).await.unwrap();
    assert_eq!((levels[0].on_hand, levels[0].reserved), (9, 0));
    assert_eq!((levels[1].on_hand, levels[1].reserved), (10, 4));
    let e = app2.commit(&system(), "lapses").await.unwrap_err();
    assert_eq!(e.code, "RESERVATION_RELEASED");
}

#[tokio::test]
async fn reservation_ttl_is_validated() {
    let (app, store) = app_with_stock(&[("a", 10)]).await;
    let before = store.read_all(0, 1000).await.unwrap().len();
    for ttl in [0, -5, 99, 24 * 60 * 60 * 1000 + 1] {
        let e = app
            .reserve(&system(), "r", lines(&[("a", 1)]), Some(ttl))
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, &*e.code),
            (ErrorKind::InvalidArgument, "INVALID_TTL")
        );
    }
    assert_eq!(
        store.read_all(0, 1000).await.unwrap().len(),
        before,
        "nothing written"
    );
}

#[tokio::test]
async fn committed_stock_can_be_returned_once() {
    let (app, _) = app_with_stock(&[("a", 10), ("b", 5)]).await;
    app.reserve(&system(), "r1", lines(&[("a", 3), ("b", 2)]), None)
        .await
        .unwrap();
    // Only committed stock can go back.
    assert_eq!(
        app.return_stock(&system(), "r1", "cancelled")
            .await
            .unwrap_err()
            .code,
        "RESERVATION_NOT_COMMITTED"
    );
    app.commit(&system(), "r1").await.unwrap();
    let r = app
        .return_stock(&system(), "r1", "cancelled")
        .await
        .unwrap();
    assert_eq!(r.state, ReservationState::Returned);
    let again = app
        .return_stock(&system(), "r1", "cancelled")
        .await
        .unwrap();
    assert_eq!(again.state, ReservationState::Returned, "idempotent");
    let levels = app.get_stock(&["a".into(), "b".into()]).await.unwrap();
    assert_eq!((levels[0].on_hand, levels[0].reserved), (10, 0));
    assert_eq!((levels[1].on_hand, levels[1].reserved), (5, 0));
    assert_eq!(
        app.return_stock(&system(), "nope", "cancelled")
            .await
            .unwrap_err()
            .code,
        "RESERVATION_NOT_FOUND"
    );
    let customer = Actor::customer("c");
    assert_eq!(
        app.return_stock(&customer, "r1", "x")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::PermissionDenied
    );
}
