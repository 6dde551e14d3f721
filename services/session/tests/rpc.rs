//! The session service over Thrift: every method, happy paths and typed errors.
use std::{net::SocketAddr, time::Duration};

use shop_bus::{AnyBus, memory::MemoryBus};
use shop_idl::session::{self as wire, SessionServiceClient};
use shop_kernel::{Actor, ErrorKind};
use shop_rpc::{ClientSettings, ServiceAddrs, ServiceOptions, Storage, call, with_actor};
use tokio_util::sync::CancellationToken;

struct Running {
    client: SessionServiceClient,
    bus: MemoryBus,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), shop_rpc::BoxError>>,
}

async fn start(storage: Storage) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let unused: SocketAddr = "127.0.0.1:1".parse()?;
    let bus = MemoryBus::new();
    let auth = shop_rpc::auth::ServiceAuth::ephemeral();
    let opts = ServiceOptions {
        storage,
        peers: ServiceAddrs {
            catalog: unused,
            inventory: unused,
            cart: unused,
            order: unused,
            user: unused,
            session: addr,
            recommender: unused,
        },
        client: ClientSettings::default(),
        bus: AnyBus::Memory(bus.clone()),
        tuning: shop_rpc::Tuning::default(),
        ready: Default::default(),
        metrics: Default::default(),
        auth: auth.clone(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(shop_session::run(opts, listener, shutdown.clone()));
    let client = shop_rpc::build_client!(
        wire::SessionServiceClientBuilder,
        "session",
        addr,
        ClientSettings::default(),
        auth.credentials(shop_rpc::auth::Identity::Gateway).unwrap()
    );
    Ok(Running {
        client,
        bus,
        shutdown,
        task,
    })
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await??
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    }
}

fn system() -> Actor {
    Actor::internal()
}

fn create(customer_id: &str) -> wire::CreateSessionRequest {
    wire::CreateSessionRequest {
        customer_id: customer_id.to_string().into(),
    }
}

fn validate(token: &str) -> wire::ValidateRequest {
    wire::ValidateRequest {
        token: token.to_string().into(),
    }
}

async fn sessions_lifecycle(storage: Storage) -> anyhow::Result<()> {
    let svc = start(storage).await?;
    let c = &svc.client;

    // Only the system (the gateway) may mint customer sessions.
    for actor in [Actor::guest(), Actor::customer("c1")] {
        let e = with_actor(&actor, async {
            call("session", c.create_session(create("c1")).await)
        })
        .await
        .unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::PermissionDenied, "CALLER_NOT_ALLOWED")
        );
    }
    let e = with_actor(&system(), async {
        call("session", c.create_session(create("bad id")).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref(), e.field.clone()),
        (
            ErrorKind::InvalidArgument,
            "INVALID_ID",
            vec!["customer_id".into()]
        )
    );

    let before = shop_kernel::now_ms();
    let created = with_actor(&system(), async {
        call("session", c.create_session(create("c1")).await)
    })
    .await?;
    let token = created.token.to_string();
    assert_eq!(token.len(), 43, "256-bit url-safe base64");
    assert!(shop_kernel::ids::is_valid_token(&token));
    assert_eq!(created.session.kind, wire::SessionKind::CUSTOMER);
    assert_eq!(created.session.customer_id.as_deref(), Some("c1"));
    let ttl = created.session.expires_at_ms - created.session.created_at_ms;
    assert_eq!(ttl, 30 * 24 * 3600 * 1000);
    assert!(created.session.created_at_ms >= before);

    // Validate.
    let v = call("session", c.validate(validate(&token)).await)?.session;
    assert_eq!(v, created.session);
    for bad in [
        "",
        "not a token",
        &"a".repeat(129),
        "unknown-but-well-formed",
        &token[..42],
    ] {
        let e = call("session", c.validate(validate(bad)).await).unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::Unauthenticated, "INVALID_TOKEN"),
            "{bad:?}"
        );
    }

    // Guest sessions: any caller.
    let guest = call(
        "session",
        c.create_guest_session(wire::CreateGuestSessionRequest {})
            .await,
    )?;
    assert_eq!(guest.session.kind, wire::SessionKind::GUEST);
    assert_eq!(guest.session.customer_id, None);
    assert_ne!(guest.token, created.token);
    let v = call("session", c.validate(validate(&guest.token)).await)?.session;
    assert_eq!(v.session_id, guest.session.session_id);

    // Renew: new token and session, old token dead.
    let renewed = call(
        "session",
        c.renew(wire::RenewRequest {
            token: token.clone().into(),
        })
        .await,
    )?;
    assert_ne!(renewed.token.to_string(), token);
    assert_ne!(renewed.session.session_id, created.session.session_id);
    assert_eq!(renewed.session.customer_id.as_deref(), Some("c1"));
    assert!(renewed.session.expires_at_ms >= created.session.expires_at_ms);
    let e = call("session", c.validate(validate(&token)).await).unwrap_err();
    assert_eq!(e.code, "INVALID_TOKEN");
    let e = call(
        "session",
        c.renew(wire::RenewRequest {
            token: token.clone().into(),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_TOKEN");
    call("session", c.validate(validate(&renewed.token)).await)?;

    // Revoke: idempotent for known tokens, INVALID_TOKEN for unknown ones.
    let revoked = call(
        "session",
        c.revoke(wire::RevokeRequest {
            token: guest.token.clone(),
        })
        .await,
    )?
    .session;
    assert_eq!(revoked.session_id, guest.session.session_id);
    let again = call(
        "session",
        c.revoke(wire::RevokeRequest {
            token: guest.token.clone(),
        })
        .await,
    )?
    .session;
    assert_eq!(again, revoked);
    let e = call("session", c.validate(validate(&guest.token)).await).unwrap_err();
    assert_eq!(e.code, "INVALID_TOKEN");
    let e = call(
        "session",
        c.revoke(wire::RevokeRequest {
            token: "unknown".into(),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::Unauthenticated, "INVALID_TOKEN")
    );

    // Revoke all: the customer themself or the system; nobody else.
    let second = with_actor(&system(), async {
        call("session", c.create_session(create("c1")).await)
    })
    .await?;
    let other = with_actor(&system(), async {
        call("session", c.create_session(create("c2")).await)
    })
    .await?;
    let all = wire::RevokeAllRequest {
        customer_id: "c1".into(),
    };
    for actor in [Actor::guest(), Actor::customer("c2")] {
        let e = with_actor(&actor, async {
            call("session", c.revoke_all(all.clone()).await)
        })
        .await
        .unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::PermissionDenied, "CALLER_NOT_ALLOWED")
        );
    }
    let n = with_actor(&Actor::customer("c1"), async {
        call("session", c.revoke_all(all.clone()).await)
    })
    .await?;
    assert_eq!(n.revoked, 2, "the renewed session and the second one");
    for t in [&renewed.token, &second.token] {
        assert_eq!(
            call("session", c.validate(validate(t)).await)
                .unwrap_err()
                .code,
            "INVALID_TOKEN"
        );
    }
    call("session", c.validate(validate(&other.token)).await)?;
    let n = with_actor(&system(), async {
        call("session", c.revoke_all(all.clone()).await)
    })
    .await?;
    assert_eq!(n.revoked, 0);
    let bad = wire::RevokeAllRequest {
        customer_id: "".into(),
    };
    let e = with_actor(&system(), async {
        call("session", c.revoke_all(bad).await)
    })
    .await
    .unwrap_err();
    assert_eq!(e.code, "INVALID_ID");

    // Events reach the bus through the outbox relay; no token appears in them.
    let topic = "shop.session.v1";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen;
    loop {
        seen = svc.bus.messages(topic);
        let created = seen
            .iter()
            .filter(|m| m.event_type == "session.created.v1")
            .count();
        let revoked = seen
            .iter()
            .filter(|m| m.event_type == "session.revoked.v1")
            .count();
        if (created, revoked) == (5, 4) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events not relayed: {created} created, {revoked} revoked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secrets = [&token, &guest.token.to_string(), &renewed.token.to_string()];
    for m in &seen {
        let payload = String::from_utf8_lossy(&m.payload);
        assert!(secrets.iter().all(|t| !payload.contains(t.as_str())));
        shop_session::events::decode(m.payload.clone())?;
    }
    svc.stop().await
}

#[tokio::test]
async fn lifecycle_in_memory() -> anyhow::Result<()> {
    sessions_lifecycle(Storage::Memory).await
}

#[tokio::test]
async fn lifecycle_on_sqlite_and_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    sessions_lifecycle(Storage::Sqlite(dir.path().to_path_buf())).await?;
    // Sessions survive a restart; the database never holds a token in clear.
    let svc = start(Storage::Sqlite(dir.path().to_path_buf())).await?;
    let created = with_actor(&system(), async {
        call("session", svc.client.create_session(create("c9")).await)
    })
    .await?;
    svc.stop().await?;
    let svc = start(Storage::Sqlite(dir.path().to_path_buf())).await?;
    let v = call(
        "session",
        svc.client.validate(validate(&created.token)).await,
    )?
    .session;
    assert_eq!(v.customer_id.as_deref(), Some("c9"));
    svc.stop().await?;
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(dir.path())? {
        raw.extend(std::fs::read(entry?.path())?);
    }
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        !raw.contains(created.token.as_str()),
        "token stored in clear"
    );
    Ok(())
}
