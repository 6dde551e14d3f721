//! Customer types.
use async_graphql::{Context, ID, Object, connection::Connection};
use shop_idl::{cart, order, recommender, user};
use shop_kernel::ErrorKind;

use crate::{
    ctx::{self, PageArgs},
    error::{GqlResult, gql, rpc},
    gid::{self, GidType},
    scalars::DateTime,
    types::{
        cart::Cart,
        catalog::{Product, load_products},
        order::Order,
    },
};

/// Fetches one customer under the caller's identity; `None` when unknown or not visible to the caller.
pub async fn fetch_customer(ctx: &Context<'_>, id: &str) -> GqlResult<Option<Customer>> {
    let clients = ctx::clients(ctx)?;
    let r = shop_rpc::call(
        "user",
        clients
            .user
            .get_customers(user::GetCustomersRequest {
                ids: vec![id.to_string().into()],
            })
            .await,
    );
    match r {
        Ok(resp) => Ok(resp
            .customers
            .into_iter()
            .find(|c| c.id == id)
            .map(Customer)),
        Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::PermissionDenied => {
            Ok(None)
        }
        Err(e) => Err(gql(e)),
    }
}

/// A staff permission.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum StaffPermission {
    /// Create and edit products; adjust stock (`inventoryAdjust`).
    MANAGE_PRODUCTS,
    /// Read, cancel (`orderCancel`) and fulfil (`orderFulfill`) any customer's orders.
    MANAGE_ORDERS,
}

impl From<shop_kernel::Permission> for StaffPermission {
    fn from(p: shop_kernel::Permission) -> Self {
        match p {
            shop_kernel::Permission::ManageProducts => StaffPermission::MANAGE_PRODUCTS,
            shop_kernel::Permission::ManageOrders => StaffPermission::MANAGE_ORDERS,
        }
    }
}

/// A postal address of a customer.
#[derive(Debug, Clone)]
pub struct MailingAddress(pub user::Address);

fn opt(s: &Option<pilota::FastStr>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

#[Object]
impl MailingAddress {
    /// Globally unique id.
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::MailingAddress, &self.0.id))
    }
    /// First name.
    async fn first_name(&self) -> Option<String> {
        opt(&self.0.first_name)
    }
    /// Last name.
    async fn last_name(&self) -> Option<String> {
        opt(&self.0.last_name)
    }
    /// Full name.
    async fn name(&self) -> Option<String> {
        let parts: Vec<String> = [opt(&self.0.first_name), opt(&self.0.last_name)]
            .into_iter()
            .flatten()
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(" "))
        }
    }
    /// Company.
    async fn company(&self) -> Option<String> {
        opt(&self.0.company)
    }
    /// First address line.
    async fn address1(&self) -> &str {
        &self.0.address1
    }
    /// Second address line.
    async fn address2(&self) -> Option<String> {
        opt(&self.0.address2)
    }
    /// City.
    async fn city(&self) -> &str {
        &self.0.city
    }
    /// Region.
    async fn province(&self) -> Option<String> {
        opt(&self.0.province)
    }
    /// Country (ISO 3166-1 alpha-2).
    async fn country_code(&self) -> &str {
        &self.0.country_code
    }
    /// Postal code.
    async fn zip(&self) -> &str {
        &self.0.zip
    }
    /// Phone number.
    async fn phone(&self) -> Option<String> {
        opt(&self.0.phone)
    }
    /// The address as lines of text.
    async fn formatted(&self) -> Vec<String> {
        let a = &self.0;
        let mut out = vec![a.address1.to_string()];
        if let Some(a2) = &a.address2 {
            out.push(a2.to_string());
        }
        let mut city = a.city.to_string();
        if let Some(p) = &a.province {
            city = format!("{city} {p}");
        }
        out.push(format!("{city} {}", a.zip));
        out.push(a.country_code.to_string());
        out
    }
}

/// A registered customer (only ever the signed-in one).
#[derive(Debug, Clone)]
pub struct Customer(pub user::Customer);

#[Object]
impl Customer {
    /// Globally unique id.
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::Customer, &self.0.id))
    }
    /// Email address.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Staff permissions (empty for customers who are not staff).
    async fn staff_permissions(&self) -> Vec<StaffPermission> {
        self.0
            .permissions
            .iter()
            .flatten()
            .filter_map(|n| shop_kernel::Permission::parse(n))
            .map(StaffPermission::from)
            .collect()
    }
    /// First name.
    async fn first_name(&self) -> Option<String> {
        opt(&self.0.first_name)
    }
    /// Last name.
    async fn last_name(&self) -> Option<String> {
        opt(&self.0.last_name)
    }
    /// Name to show: full name, or the email address.
    async fn display_name(&self) -> String {
        let parts: Vec<String> = [opt(&self.0.first_name), opt(&self.0.last_name)]
            .into_iter()
            .flatten()
            .collect();
        if parts.is_empty() {
            self.0.email.to_string()
        } else {
            parts.join(" ")
        }
    }
    /// Phone number.
    async fn phone(&self) -> Option<String> {
        opt(&self.0.phone)
    }
    /// Does the customer accept marketing email?
    async fn accepts_marketing(&self) -> bool {
        self.0.accepts_marketing
    }
    /// When the customer registered.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }
    /// When the profile last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at_ms)
    }
    /// Postal addresses.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn addresses(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, MailingAddress>> {
        ctx::connection_from_list(
            &self.0.addresses,
            &PageArgs::new(first, after, last, before),
            MailingAddress,
        )
    }
    /// The default postal address.
    async fn default_address(&self) -> Option<MailingAddress> {
        let id = self.0.default_address_id.as_ref()?;
        self.0
            .addresses
            .iter()
            .find(|a| &a.id == id)
            .cloned()
            .map(MailingAddress)
    }
    /// Orders of the customer, newest first.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Order>> {
        let page = PageArgs::new(first, after, last, before).to_wire()?;
        let clients = ctx::clients(ctx)?;
        let resp = rpc(
            "order",
            clients
                .order
                .list_orders(order::ListOrdersRequest { page })
                .await,
        )?;
        Ok(ctx::connection_from_wire(
            resp.orders.into_iter().map(Order).collect(),
            resp.cursors,
            &resp.page_info,
        ))
    }
    /// Carts of the customer, newest first.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn carts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Cart>> {
        list_carts(ctx, PageArgs::new(first, after, last, before)).await
    }
    /// Products recommended for the customer.
    #[graphql(complexity = "(first.clamp(1, 50) as usize) * child_complexity")]
    async fn recommended_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
    ) -> GqlResult<Vec<Product>> {
        if !(0..=50).contains(&first) {
            return Err(gql(shop_kernel::Error::invalid(
                "INVALID_PAGE_SIZE",
                "`first` must be between 0 and 50",
            )
            .with_field(["first"])));
        }
        let clients = ctx::clients(ctx)?;
        let resp = rpc(
            "recommender",
            clients
                .recommender
                .for_customer(recommender::ForCustomerRequest {
                    customer_id: self.0.id.clone(),
                    limit: first,
                })
                .await,
        )?;
        load_products(ctx, &ctx::strings(&resp.product_ids)).await
    }
}

/// The calling customer's carts, newest first.
pub async fn list_carts(ctx: &Context<'_>, args: PageArgs) -> GqlResult<Connection<String, Cart>> {
    let page = args.to_wire()?;
    let clients = ctx::clients(ctx)?;
    let resp = rpc(
        "cart",
        clients
            .cart
            .list_carts(cart::ListCartsRequest {
                page,
                statuses: None,
            })
            .await,
    )?;
    Ok(ctx::connection_from_wire(
        resp.carts.into_iter().map(Cart).collect(),
        resp.cursors,
        &resp.page_info,
    ))
}
