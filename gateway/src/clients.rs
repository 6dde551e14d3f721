//! Thrift clients of the seven services, built once and shared by every request.
use shop_idl::{cart, catalog, inventory, order, recommender, session, user};
use shop_rpc::{ClientSettings, ServiceAddrs, build_client};

/// One generated client per service.
#[derive(Clone)]
pub struct Clients {
    pub catalog: catalog::CatalogServiceClient,
    pub inventory: inventory::InventoryServiceClient,
    pub cart: cart::CartServiceClient,
    pub order: order::OrderServiceClient,
    pub user: user::UserServiceClient,
    pub session: session::SessionServiceClient,
    pub recommender: recommender::RecommenderServiceClient,
}

impl Clients {
    /// Builds every client for `peers` with `settings` (no connection is made until the first call).
    pub fn new(peers: ServiceAddrs, settings: ClientSettings) -> Self {
        Self {
            catalog: build_client!(
                catalog::CatalogServiceClientBuilder,
                "catalog",
                peers.catalog,
                settings
            ),
            inventory: build_client!(
                inventory::InventoryServiceClientBuilder,
                "inventory",
                peers.inventory,
                settings
            ),
            cart: build_client!(cart::CartServiceClientBuilder, "cart", peers.cart, settings),
            order: build_client!(
                order::OrderServiceClientBuilder,
                "order",
                peers.order,
                settings
            ),
            user: build_client!(user::UserServiceClientBuilder, "user", peers.user, settings),
            session: build_client!(
                session::SessionServiceClientBuilder,
                "session",
                peers.session,
                settings
            ),
            recommender: build_client!(
                recommender::RecommenderServiceClientBuilder,
                "recommender",
                peers.recommender,
                settings
            ),
        }
    }
}
