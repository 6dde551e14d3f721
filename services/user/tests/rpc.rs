//! The user service over Thrift: every method, happy paths and typed errors.
use std::{net::SocketAddr, time::Duration};

use shop_bus::{AnyBus, memory::MemoryBus};
use shop_idl::user::{self as wire, UserServiceClient};
use shop_kernel::{Actor, ErrorKind};
use shop_rpc::{ClientSettings, ServiceAddrs, ServiceOptions, Storage, call, with_actor};
use tokio_util::sync::CancellationToken;

struct Running {
    client: UserServiceClient,
    admin: UserServiceClient,
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
            user: addr,
            session: unused,
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
    let task = tokio::spawn(shop_user::run(opts, listener, shutdown.clone()));
    // The gateway's credential for the API; appointing staff is the operators' (`admin`).
    let client = |identity| {
        shop_rpc::build_client!(
            wire::UserServiceClientBuilder,
            "user",
            addr,
            ClientSettings::default(),
            auth.credentials(identity).unwrap()
        )
    };
    Ok(Running {
        client: client(shop_rpc::auth::Identity::Gateway),
        admin: client(shop_rpc::auth::Identity::Admin),
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

fn register_req(email: &str, password: &str) -> wire::RegisterRequest {
    wire::RegisterRequest {
        email: email.to_string().into(),
        password: password.to_string().into(),
        first_name: Some("Ann".into()),
        last_name: None,
        phone: None,
        accepts_marketing: true,
    }
}

fn address(zip: &str) -> wire::AddressInput {
    wire::AddressInput {
        first_name: None,
        last_name: None,
        company: None,
        address1: "1 Main St".into(),
        address2: None,
        city: "Springfield".into(),
        province: Some("IL".into()),
        country_code: "US".into(),
        zip: zip.to_string().into(),
        phone: None,
    }
}

fn system() -> Actor {
    Actor::internal()
}

#[tokio::test]
async fn register_and_authenticate() -> anyhow::Result<()> {
    let svc = start(Storage::Memory).await?;
    let c = &svc.client;

    let ann = call(
        "user",
        c.register(register_req("  Ann@Example.COM ", "correct horse"))
            .await,
    )?
    .customer;
    assert_eq!(ann.email, "ann@example.com");
    assert_eq!(ann.first_name.as_deref(), Some("Ann"));
    assert!(ann.accepts_marketing);
    assert!(ann.addresses.is_empty());

    // Only internal callers appoint staff; customers (even for themselves) and guests are refused.
    let grant = |email: &str| shop_idl::user::SetPermissionsRequest {
        email: email.to_string().into(),
        permissions: vec!["MANAGE_ORDERS".into()],
    };
    for actor in [Actor::customer(ann.id.to_string()), Actor::guest()] {
        let e = with_actor(&actor, async {
            call(
                "user",
                svc.admin.set_permissions(grant("ann@example.com")).await,
            )
        })
        .await
        .unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::PermissionDenied, "CALLER_NOT_ALLOWED")
        );
    }
    let staff = with_actor(&system(), async {
        call(
            "user",
            svc.admin.set_permissions(grant("ANN@example.com")).await,
        )
    })
    .await?
    .customer;
    assert_eq!(staff.permissions, Some(vec!["MANAGE_ORDERS".into()]));

    // Duplicate (after normalisation).
    let e = call(
        "user",
        c.register(register_req("ann@example.com", "another pw"))
            .await,
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref(), e.field.clone()),
        (ErrorKind::Conflict, "EMAIL_TAKEN", vec!["email".into()])
    );

    // Validation.
    let e = call(
        "user",
        c.register(register_req("not-an-email", "correct horse"))
            .await,
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref(), e.field.clone()),
        (
            ErrorKind::InvalidArgument,
            "INVALID_EMAIL",
            vec!["email".into()]
        )
    );
    let e = call(
        "user",
        c.register(register_req("bob@example.com", "short")).await,
    )
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("PASSWORD_TOO_SHORT", vec!["password".into()])
    );
    let e = call(
        "user",
        c.register(register_req("bob@example.com", &"x".repeat(129)))
            .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "PASSWORD_TOO_LONG");
    let mut long_name = register_req("bob@example.com", "correct horse");
    long_name.first_name = Some("n".repeat(101).into());
    let e = call("user", c.register(long_name).await).unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("FIELD_TOO_LONG", vec!["first_name".into()])
    );

    // Authenticate.
    let auth = |email: &str, password: &str| wire::AuthenticateRequest {
        email: email.to_string().into(),
        password: password.to_string().into(),
    };
    let who = call(
        "user",
        c.authenticate(auth(" ANN@example.com", "correct horse"))
            .await,
    )?
    .customer;
    assert_eq!(who.id, ann.id);

    let started = std::time::Instant::now();
    let wrong = call(
        "user",
        c.authenticate(auth("ann@example.com", "wrong horse")).await,
    )
    .unwrap_err();
    let wrong_took = started.elapsed();
    // Warm the dummy hash, then time an unknown email.
    let _ = call(
        "user",
        c.authenticate(auth("nobody@example.com", "whatever1"))
            .await,
    );
    let started = std::time::Instant::now();
    let unknown = call(
        "user",
        c.authenticate(auth("nobody@example.com", "correct horse"))
            .await,
    )
    .unwrap_err();
    let unknown_took = started.elapsed();
    for e in [&wrong, &unknown] {
        assert_eq!(
            (e.kind, e.code.as_ref(), e.message.as_str()),
            (
                ErrorKind::Unauthenticated,
                "INVALID_CREDENTIALS",
                "Unidentified customer"
            )
        );
    }
    assert_eq!(
        wrong, unknown,
        "unknown email and wrong password must be indistinguishable"
    );
    // An unknown email still spends an argon2 verification (generous bound: timing on a shared box is noisy).
    assert!(
        unknown_took * 4 >= wrong_took,
        "unknown {unknown_took:?} vs wrong {wrong_took:?}"
    );
    let e = call("user", c.authenticate(auth("garbage", "x")).await).unwrap_err();
    assert_eq!(e.code, "INVALID_CREDENTIALS");

    // The registration event reaches the bus through the outbox relay.
    let topic = "shop.user.v1";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = svc.bus.messages(topic);
        if let Some(m) = got.iter().find(|m| m.event_type == "user.registered.v1") {
            assert_eq!(m.key, ann.id.to_string());
            assert!(!m.payload.is_empty());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "event not relayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.stop().await
}

#[tokio::test]
async fn profiles_addresses_and_visibility() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let svc = start(Storage::Sqlite(dir.path().to_path_buf())).await?;
    let c = &svc.client;
    let ann = call(
        "user",
        c.register(register_req("ann@example.com", "correct horse"))
            .await,
    )?
    .customer;
    let bob = call(
        "user",
        c.register(register_req("bob@example.com", "correct horse"))
            .await,
    )?
    .customer;
    let as_ann = Actor::customer(ann.id.to_string());
    let as_bob = Actor::customer(bob.id.to_string());

    // get_customers: own record only, or any for the system; others are omitted.
    let ids = wire::GetCustomersRequest {
        ids: vec![ann.id.clone(), bob.id.clone(), "unknown".into()],
    };
    let seen = with_actor(&as_ann, async {
        call("user", c.get_customers(ids.clone()).await)
    })
    .await?
    .customers;
    assert_eq!(
        seen.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![ann.id.clone()]
    );
    let seen = with_actor(&system(), async {
        call("user", c.get_customers(ids.clone()).await)
    })
    .await?
    .customers;
    assert_eq!(seen.len(), 2);
    let seen = call("user", c.get_customers(ids.clone()).await)?.customers;
    assert!(seen.is_empty(), "a guest sees nobody");
    let bad = wire::GetCustomersRequest {
        ids: vec!["ok".into(), "not/valid".into()],
    };
    let e = with_actor(&system(), async {
        call("user", c.get_customers(bad).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("INVALID_ID", vec!["ids".into(), "1".into()])
    );

    // update_profile.
    let patch = wire::UpdateProfileRequest {
        customer_id: ann.id.clone(),
        first_name: None,
        last_name: Some("Lee".into()),
        phone: Some("+1 555 0100".into()),
        accepts_marketing: Some(false),
    };
    let updated = with_actor(&as_ann, async {
        call("user", c.update_profile(patch.clone()).await)
    })
    .await?
    .customer;
    assert_eq!(updated.last_name.as_deref(), Some("Lee"));
    assert_eq!(updated.first_name.as_deref(), Some("Ann"));
    assert!(!updated.accepts_marketing);
    let e = with_actor(&as_bob, async {
        call("user", c.update_profile(patch.clone()).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::NotFound, "CUSTOMER_NOT_FOUND")
    );
    let e = call("user", c.update_profile(patch.clone()).await).unwrap_err();
    assert_eq!(e.code, "CUSTOMER_NOT_FOUND");
    let mut long_phone = patch.clone();
    long_phone.phone = Some("1".repeat(33).into());
    let e = with_actor(&as_ann, async {
        call("user", c.update_profile(long_phone).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("FIELD_TOO_LONG", vec!["phone".into()])
    );

    // Addresses.
    let add = |zip: &str, make_default: bool| wire::AddAddressRequest {
        customer_id: ann.id.clone(),
        address: address(zip),
        make_default,
    };
    let a1 = with_actor(&as_ann, async {
        call("user", c.add_address(add("111", false)).await)
    })
    .await?
    .customer;
    assert_eq!(a1.addresses.len(), 1);
    assert_eq!(a1.default_address_id, Some(a1.addresses[0].id.clone()));
    let a2 = with_actor(&as_ann, async {
        call("user", c.add_address(add("222", true)).await)
    })
    .await?
    .customer;
    let (first, second) = (a2.addresses[0].id.clone(), a2.addresses[1].id.clone());
    assert_eq!(a2.default_address_id, Some(second.clone()));

    let e = with_actor(&as_ann, async {
        call("user", c.add_address(add(" ", false)).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref(), e.field.clone()),
        (
            ErrorKind::InvalidArgument,
            "FIELD_REQUIRED",
            vec!["address".into(), "zip".into()]
        )
    );
    let mut bad_country = add("333", false);
    bad_country.address.country_code = "usa".into();
    let e = with_actor(&as_ann, async {
        call("user", c.add_address(bad_country).await)
    })
    .await
    .unwrap_err();
    assert_eq!(e.field, ["address", "country_code"]);
    let e = with_actor(&as_bob, async {
        call("user", c.add_address(add("333", false)).await)
    })
    .await
    .unwrap_err();
    assert_eq!(e.code, "CUSTOMER_NOT_FOUND");

    let upd = wire::UpdateAddressRequest {
        customer_id: ann.id.clone(),
        address_id: first.clone(),
        address: address("999"),
    };
    let a3 = with_actor(&as_ann, async {
        call("user", c.update_address(upd.clone()).await)
    })
    .await?
    .customer;
    assert_eq!(a3.addresses[0].zip, "999");
    assert_eq!(a3.addresses[0].province.as_deref(), Some("IL"));
    let e = with_actor(&as_bob, async {
        call("user", c.update_address(upd.clone()).await)
    })
    .await
    .unwrap_err();
    assert_eq!(e.code, "CUSTOMER_NOT_FOUND");
    let missing = wire::UpdateAddressRequest {
        address_id: "nope".into(),
        ..upd.clone()
    };
    let e = with_actor(&as_ann, async {
        call("user", c.update_address(missing).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::NotFound, "ADDRESS_NOT_FOUND")
    );

    // Deleting the default moves it to the remaining address.
    let del = wire::DeleteAddressRequest {
        customer_id: ann.id.clone(),
        address_id: second.clone(),
    };
    let e = with_actor(&as_bob, async {
        call("user", c.delete_address(del.clone()).await)
    })
    .await
    .unwrap_err();
    assert_eq!(e.code, "CUSTOMER_NOT_FOUND");
    let a4 = with_actor(&as_ann, async {
        call("user", c.delete_address(del.clone()).await)
    })
    .await?
    .customer;
    assert_eq!(a4.addresses.len(), 1);
    assert_eq!(a4.default_address_id, Some(first.clone()));
    let e = with_actor(&as_ann, async { call("user", c.delete_address(del).await) })
        .await
        .unwrap_err();
    assert_eq!(e.code, "ADDRESS_NOT_FOUND");

    // The system may act on any customer; the limit of 20 addresses holds.
    for i in 0..19 {
        with_actor(&system(), async {
            call("user", c.add_address(add(&format!("z{i}"), false)).await)
        })
        .await?;
    }
    let e = with_actor(&system(), async {
        call("user", c.add_address(add("over", false)).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::FailedPrecondition, "TOO_MANY_ADDRESSES")
    );

    // State survives a restart on SQLite.
    svc.stop().await?;
    let svc = start(Storage::Sqlite(dir.path().to_path_buf())).await?;
    let who = svc
        .client
        .authenticate(wire::AuthenticateRequest {
            email: "ann@example.com".into(),
            password: "correct horse".into(),
        })
        .await;
    let who = call("user", who)?.customer;
    assert_eq!(who.addresses.len(), 20);
    assert_eq!(who.last_name.as_deref(), Some("Lee"));
    svc.stop().await
}

#[tokio::test]
async fn concurrent_registrations_of_one_email() -> anyhow::Result<()> {
    let svc = start(Storage::Memory).await?;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = svc.client.clone();
        tasks.push(tokio::spawn(async move {
            call(
                "user",
                client
                    .register(register_req("race@example.com", "correct horse"))
                    .await,
            )
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await? {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "EMAIL_TAKEN", "{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    svc.stop().await
}

#[tokio::test]
async fn password_change_and_reset_over_thrift() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let svc = start(Storage::Sqlite(dir.path().to_path_buf())).await?;
    let c = &svc.client;
    let ann = call(
        "user",
        c.register(register_req("ann@example.com", "correct horse"))
            .await,
    )?
    .customer;
    let as_ann = Actor::customer(ann.id.to_string());
    let change = |current: &str, new: &str| wire::ChangePasswordRequest {
        current_password: current.to_string().into(),
        new_password: new.to_string().into(),
    };

    // Change: the caller's identity comes from metadata; a guest has none.
    let e = call(
        "user",
        c.change_password(change("correct horse", "new horse 2"))
            .await,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthenticated);
    let e = with_actor(&as_ann, async {
        call(
            "user",
            c.change_password(change("wrong horse", "new horse 2"))
                .await,
        )
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::Unauthenticated, "CURRENT_PASSWORD_INVALID")
    );
    assert_eq!(e.field, ["current_password"]);
    let changed = with_actor(&as_ann, async {
        call(
            "user",
            c.change_password(change("correct horse", "new horse 2"))
                .await,
        )
    })
    .await?
    .customer;
    assert_eq!(changed.id, ann.id);

    // Reset: internal callers only; the link arrives on shop.email.v1 through the relay.
    let recover = wire::RequestPasswordResetRequest {
        email: "ann@example.com".into(),
    };
    let e = with_actor(&as_ann, async {
        call("user", c.request_password_reset(recover.clone()).await)
    })
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    with_actor(&system(), async {
        call("user", c.request_password_reset(recover).await)
    })
    .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mail = loop {
        if let Some(m) = svc.bus.messages("shop.email.v1").first() {
            assert_eq!(m.event_type, "email.password_reset_requested.v1");
            assert_eq!(m.key, format!("password-reset-{}", ann.id));
            break shop_user::events::decode_mail(m.payload.clone())?;
        }
        assert!(tokio::time::Instant::now() < deadline, "mail not relayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        mail.reset_url,
        format!(
            "http://127.0.0.1:8080/account/reset/{}/{}",
            ann.id, mail.reset_token
        )
    );
    let reset = |token: &str| wire::ResetPasswordRequest {
        customer_id: ann.id.clone(),
        reset_token: token.to_string().into(),
        new_password: "reset horse 3".into(),
    };
    let e = with_actor(&system(), async {
        call("user", c.reset_password(reset("wrong")).await)
    })
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::Unauthenticated, "TOKEN_INVALID")
    );
    with_actor(&system(), async {
        call("user", c.reset_password(reset(&mail.reset_token)).await)
    })
    .await?;
    let auth = |password: &str| wire::AuthenticateRequest {
        email: "ann@example.com".into(),
        password: password.to_string().into(),
    };
    assert!(call("user", c.authenticate(auth("new horse 2")).await).is_err());
    assert!(call("user", c.authenticate(auth("reset horse 3")).await).is_ok());
    // The user stream says what happened, without a secret.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let changes = svc
            .bus
            .messages("shop.user.v1")
            .into_iter()
            .filter(|m| m.event_type == "user.password_changed.v1")
            .count();
        if changes == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "password changes not relayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.stop().await
}
