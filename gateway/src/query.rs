//! Query root.
use async_graphql::{Context, Enum, ID, Object, connection::Connection};
use shop_idl::{cart as wcart, catalog as wcatalog, recommender};
use shop_kernel::{Error, ErrorKind};

use crate::{
    ctx::{self, PageArgs},
    error::{GqlResult, gql, rpc},
    gid::{self, Gid, GidType},
    types::{
        Node,
        cart::Cart,
        catalog::{self, Collection, Product, ProductSortKeys, ProductVariant},
        customer::{self, Customer, MailingAddress},
        order::{self, Order},
    },
};

/// Largest number of ids `nodes` accepts.
pub const MAX_NODES: usize = 250;

/// Kind of product recommendations.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::upper_case_acronyms)]
pub enum ProductRecommendationIntent {
    /// Products related to the given one.
    #[default]
    RELATED,
    /// Products bought together with the given one.
    COMPLEMENTARY,
}

/// Parses a global id argument of type `ty` (INVALID_ARGUMENT otherwise).
pub fn arg_id(ty: GidType, id: &ID, field: &str) -> GqlResult<String> {
    gid::parse_as(ty, id.as_str()).map_err(|e| gql(e.with_field([field.to_string()])))
}

/// Fetches a cart under the caller's identity; `None` when it does not exist or is not the caller's.
pub async fn fetch_cart(ctx: &Context<'_>, id: &str) -> GqlResult<Option<Cart>> {
    let clients = ctx::clients(ctx)?;
    let r = shop_rpc::call(
        "cart",
        clients
            .cart
            .get_cart(wcart::GetCartRequest {
                cart_id: id.to_string().into(),
            })
            .await,
    );
    match r {
        Ok(resp) => Ok(resp.cart.map(Cart)),
        Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::PermissionDenied => {
            Ok(None)
        }
        Err(e) => Err(gql(e)),
    }
}

/// The signed-in customer, if any.
pub async fn signed_in_customer(ctx: &Context<'_>) -> GqlResult<Option<Customer>> {
    match ctx::actor(ctx).customer_id {
        Some(id) => customer::fetch_customer(ctx, &id).await,
        None => Ok(None),
    }
}

async fn resolve_node(ctx: &Context<'_>, gid: Gid) -> GqlResult<Option<Node>> {
    Ok(match gid.ty {
        GidType::Product => catalog::load_product(ctx, &gid.id)
            .await?
            .map(Node::Product),
        GidType::ProductVariant => catalog::load_variant(ctx, &gid.id)
            .await?
            .map(Node::ProductVariant),
        GidType::Collection => catalog::load_collection(ctx, &gid.id)
            .await?
            .map(Node::Collection),
        GidType::Cart => fetch_cart(ctx, &gid.id).await?.map(Node::Cart),
        // Cart lines are only reachable through their cart.
        GidType::CartLine => None,
        GidType::Order => order::fetch_order(ctx, &gid.id).await?.map(Node::Order),
        GidType::Customer => match signed_in_customer(ctx).await? {
            Some(c) if c.0.id == gid.id => Some(Node::Customer(c)),
            _ => None,
        },
        GidType::MailingAddress => signed_in_customer(ctx).await?.and_then(|c| {
            c.0.addresses
                .into_iter()
                .find(|a| a.id == gid.id)
                .map(|a| Node::MailingAddress(MailingAddress(a)))
        }),
    })
}

/// The query root.
pub struct Query;

#[Object]
impl Query {
    /// A product by id or handle.
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        handle: Option<String>,
    ) -> GqlResult<Option<Product>> {
        match (id, handle) {
            (Some(id), _) => {
                catalog::load_product(ctx, &arg_id(GidType::Product, &id, "id")?).await
            }
            (None, Some(handle)) => {
                if handle.is_empty() || handle.len() > 255 {
                    return Err(gql(Error::invalid(
                        "INVALID_HANDLE",
                        "`handle` is not valid",
                    )
                    .with_field(["handle"])));
                }
                let resp = ctx::catalog_reads(ctx)?
                    .product_by_handle(handle)
                    .await
                    .map_err(gql)?;
                Ok(resp.product.map(Product))
            }
            (None, None) => Err(gql(Error::invalid(
                "MISSING_ARGUMENT",
                "give `id` or `handle`",
            ))),
        }
    }

    /// Products, optionally filtered by a search `query` (`title:`, `vendor:`, `product_type:`, `tag:`, `sku:`,
    /// `price:<N`, free words).
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        query: Option<String>,
        #[graphql(default)] sort_key: ProductSortKeys,
        #[graphql(default)] reverse: bool,
    ) -> GqlResult<Connection<String, Product>> {
        catalog::search_products(
            ctx,
            PageArgs::new(first, after, last, before),
            query,
            None,
            sort_key,
            reverse,
        )
        .await
    }

    /// A collection by id or handle.
    async fn collection(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        handle: Option<String>,
    ) -> GqlResult<Option<Collection>> {
        match (id, handle) {
            (Some(id), _) => {
                catalog::load_collection(ctx, &arg_id(GidType::Collection, &id, "id")?).await
            }
            (None, Some(handle)) => {
                if handle.is_empty() || handle.len() > 255 {
                    return Err(gql(Error::invalid(
                        "INVALID_HANDLE",
                        "`handle` is not valid",
                    )
                    .with_field(["handle"])));
                }
                let resp = ctx::catalog_reads(ctx)?
                    .collection_by_handle(handle)
                    .await
                    .map_err(gql)?;
                Ok(resp.collection.map(Collection))
            }
            (None, None) => Err(gql(Error::invalid(
                "MISSING_ARGUMENT",
                "give `id` or `handle`",
            ))),
        }
    }

    /// Collections (categories).
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn collections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Collection>> {
        let page = PageArgs::new(first, after, last, before).to_wire()?;
        let resp = ctx::catalog_reads(ctx)?
            .list_collections(wcatalog::ListCollectionsRequest { page })
            .await
            .map_err(gql)?;
        Ok(ctx::connection_from_wire(
            resp.collections.into_iter().map(Collection).collect(),
            resp.cursors,
            &resp.page_info,
        ))
    }

    /// Any object by global id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Node>> {
        let gid = Gid::parse(id.as_str()).map_err(|e| gql(e.with_field(["id"])))?;
        resolve_node(ctx, gid).await
    }

    /// Objects by global id (at most 250), in order; unknown ids give null.
    #[graphql(complexity = "ids.len().max(1) * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> GqlResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(gql(Error::invalid(
                "TOO_MANY_IDS",
                format!("at most {MAX_NODES} ids"),
            )
            .with_field(["ids"])));
        }
        let gids = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Gid::parse(id.as_str())
                    .map_err(|e| gql(e.with_field(["ids".to_string(), i.to_string()])))
            })
            .collect::<GqlResult<Vec<_>>>()?;
        futures::future::try_join_all(gids.into_iter().map(|g| resolve_node(ctx, g))).await
    }

    /// A cart by id (null when it does not exist or belongs to someone else).
    async fn cart(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Cart>> {
        fetch_cart(ctx, &arg_id(GidType::Cart, &id, "id")?).await
    }

    /// The signed-in customer's carts, newest first; with a guest access token, the guest's carts (those no
    /// customer owns yet); empty for anonymous callers.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn carts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Cart>> {
        let args = PageArgs::new(first, after, last, before);
        let actor = ctx::actor(ctx);
        if actor.customer_id.is_none() && actor.guest_id.is_none() {
            args.validate().map_err(gql)?;
            return Ok(Connection::new(false, false));
        }
        customer::list_carts(ctx, args).await
    }

    /// The signed-in customer (null for guests).
    async fn customer(&self, ctx: &Context<'_>) -> GqlResult<Option<Customer>> {
        signed_in_customer(ctx).await
    }

    /// An order by id (null when it does not exist or belongs to someone else).
    async fn order(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Order>> {
        order::fetch_order(ctx, &arg_id(GidType::Order, &id, "id")?).await
    }

    /// Products recommended alongside a product.
    #[graphql(complexity = "10 * child_complexity")]
    async fn product_recommendations(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        #[graphql(default)] intent: ProductRecommendationIntent,
    ) -> GqlResult<Option<Vec<Product>>> {
        let _ = intent;
        let id = arg_id(GidType::Product, &product_id, "productId")?;
        let clients = ctx::clients(ctx)?;
        let resp = rpc(
            "recommender",
            clients
                .recommender
                .related(recommender::RelatedRequest {
                    product_id: id.into(),
                    limit: 10,
                })
                .await,
        )?;
        Ok(Some(
            catalog::load_products(ctx, &ctx::strings(&resp.product_ids)).await?,
        ))
    }

    /// A variant by id.
    async fn product_variant(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<Option<ProductVariant>> {
        catalog::load_variant(ctx, &arg_id(GidType::ProductVariant, &id, "id")?).await
    }
}
