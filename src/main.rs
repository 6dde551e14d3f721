//! `thriftshop`: with no arguments, the whole shop on one machine; `thriftshop serve <component>` runs one part.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use thriftshop::{Component, Shop, config::Config, serve_component};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc malloc: allocation was about a quarter of the shop's CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "thriftshop",
    version,
    about = "An open-source commerce backend: GraphQL over seven Thrift services"
)]
struct Cli {
    /// TOML configuration file (env `THRIFTSHOP__SECTION__KEY` overrides it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one component alone (gateway, catalog, inventory, cart, order, user, session, recommender).
    Serve {
        component: Component,
        /// Listen address (overrides the configured one for this component).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Print the effective configuration as TOML-like debug output and exit.
    Config,
    /// Appoint staff on a running shop (through the user service at `services.user`, with the `admin` key of
    /// the shop's service keys).
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
    /// Service keys for the service-to-service credentials.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Print a fresh set of keys for every identity as a keys file (TOML). Give each process its own
    /// `[signing]` key and everyone the `[verifying]` keys.
    Generate,
}

#[derive(Subcommand)]
enum StaffAction {
    /// Give a registered customer exactly these permissions (MANAGE_PRODUCTS, MANAGE_ORDERS).
    Grant {
        /// The customer's email.
        email: String,
        /// Permissions, e.g. `MANAGE_ORDERS MANAGE_PRODUCTS` (comma-separated also works).
        #[arg(required = true, value_delimiter = ',')]
        permissions: Vec<String>,
    },
    /// Take every staff permission away from a customer.
    Revoke {
        /// The customer's email.
        email: String,
    },
}

fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        t.cancel();
                        return;
                    }
                };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    // Logs and traces: one subscriber for the process; its guard flushes pending spans on exit.
    let mut telemetry = cfg.telemetry.clone();
    if let Some(Command::Serve { component, .. }) = &cli.command {
        telemetry.service_name = format!("{}-{}", telemetry.service_name, component.name());
    }
    let _telemetry = shop_telemetry::init(&telemetry).context("starting telemetry")?;
    match cli.command {
        None => {
            let started = std::time::Instant::now();
            let shop = Shop::start(cfg).await.context("starting the shop")?;
            tracing::info!(
                "thriftshop ready in {} ms: GraphQL on http://{}/graphql",
                started.elapsed().as_millis(),
                shop.gateway_addr
            );
            let stop = shutdown_on_signal();
            let token = shop.shutdown_token();
            tokio::spawn(async move {
                stop.cancelled().await;
                token.cancel();
            });
            shop.wait().await
        }
        Some(Command::Serve { component, listen }) => {
            if let Some(addr) = listen {
                match component {
                    Component::Gateway => cfg.gateway.listen = addr,
                    Component::Catalog => cfg.services.catalog = addr,
                    Component::Inventory => cfg.services.inventory = addr,
                    Component::Cart => cfg.services.cart = addr,
                    Component::Order => cfg.services.order = addr,
                    Component::User => cfg.services.user = addr,
                    Component::Session => cfg.services.session = addr,
                    Component::Recommender => cfg.services.recommender = addr,
                }
            }
            tracing::info!(component = component.name(), "serving");
            serve_component(component, cfg, shutdown_on_signal()).await
        }
        Some(Command::Config) => {
            println!("{cfg:#?}");
            Ok(())
        }
        Some(Command::Keys {
            action: KeysAction::Generate,
        }) => {
            print!("{}", shop_rpc::auth::KeyRing::generate().to_toml());
            Ok(())
        }
        Some(Command::Staff { action }) => {
            let (email, permissions) = match action {
                StaffAction::Grant { email, permissions } => (email, permissions),
                StaffAction::Revoke { email } => (email, Vec::new()),
            };
            let permissions: Vec<String> = permissions
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            let auth = cfg.service_auth()?;
            let held = thriftshop::admin::set_staff_permissions(
                &auth,
                cfg.services.user,
                &email,
                &permissions,
            )
            .await?;
            if held.is_empty() {
                println!("{email} is not staff");
            } else {
                println!("{email} now holds {}", held.join(", "));
            }
            Ok(())
        }
    }
}
