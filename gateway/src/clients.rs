//! Thrift clients of the seven services, built once and shared by every request.
use shop_idl::{cart, catalog, inventory, order, recommender, session, user};
use shop_rpc::{ClientSettings, ServiceAddrs, auth::Credentials, build_client};

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
    /// Builds every client for `peers` with `settings`, presenting `credentials` on every call (no connection
    /// is made until the first call).
    pub fn new(peers: ServiceAddrs, settings: ClientSettings, credentials: &Credentials) -> Self {
        Self {
            catalog: build_client!(
                catalog::CatalogServiceClientBuilder,
                "catalog",
                peers.catalog,
                settings,
                credentials.clone()
            ),
            inventory: build_client!(
                inventory::InventoryServiceClientBuilder,
                "inventory",
                peers.inventory,
                settings,
                credentials.clone()
            ),
            cart: build_client!(
                cart::CartServiceClientBuilder,
                "cart",
                peers.cart,
                settings,
                credentials.clone()
            ),
            order: build_client!(
                order::OrderServiceClientBuilder,
                "order",
                peers.order,
                settings,
                credentials.clone()
            ),
            user: build_client!(
                user::UserServiceClientBuilder,
                "user",
                peers.user,
                settings,
                credentials.clone()
            ),
            session: build_client!(
                session::SessionServiceClientBuilder,
                "session",
                peers.session,
                settings,
                credentials.clone()
            ),
            recommender: build_client!(
                recommender::RecommenderServiceClientBuilder,
                "recommender",
                peers.recommender,
                settings,
                credentials.clone()
            ),
        }
    }
}
