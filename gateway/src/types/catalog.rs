//! Catalog types: Product, ProductVariant, Collection, Image, SelectedOption.
use async_graphql::{Context, Enum, ID, Object, SimpleObject, connection::Connection};
use shop_idl::catalog;

use crate::{
    ctx::{self, PageArgs},
    error::{GqlResult, gql},
    gid::{self, GidType},
    scalars::{DateTime, MoneyV2},
};

/// Loads `ids` in order through a loader, skipping unknown ids.
pub async fn load_products(ctx: &Context<'_>, ids: &[String]) -> GqlResult<Vec<Product>> {
    let found = ctx::loaders(ctx)?
        .products
        .load_many(ids.iter().cloned())
        .await
        .map_err(gql)?;
    Ok(ids
        .iter()
        .filter_map(|id| found.get(id).cloned().map(Product))
        .collect())
}

/// Loads variants in order, skipping unknown ids.
pub async fn load_variants(ctx: &Context<'_>, ids: &[String]) -> GqlResult<Vec<ProductVariant>> {
    let found = ctx::loaders(ctx)?
        .variants
        .load_many(ids.iter().cloned())
        .await
        .map_err(gql)?;
    Ok(ids
        .iter()
        .filter_map(|id| found.get(id).cloned().map(ProductVariant))
        .collect())
}

/// One product by id.
pub async fn load_product(ctx: &Context<'_>, id: &str) -> GqlResult<Option<Product>> {
    Ok(ctx::loaders(ctx)?
        .products
        .load_one(id.to_string())
        .await
        .map_err(gql)?
        .map(Product))
}

/// One variant by id.
pub async fn load_variant(ctx: &Context<'_>, id: &str) -> GqlResult<Option<ProductVariant>> {
    Ok(ctx::loaders(ctx)?
        .variants
        .load_one(id.to_string())
        .await
        .map_err(gql)?
        .map(ProductVariant))
}

/// One collection by id.
pub async fn load_collection(ctx: &Context<'_>, id: &str) -> GqlResult<Option<Collection>> {
    Ok(ctx::loaders(ctx)?
        .collections
        .load_one(id.to_string())
        .await
        .map_err(gql)?
        .map(Collection))
}

/// `html` without its tags (`<…>`), whitespace runs collapsed; text outside tags is kept as it is.
fn strip_tags(html: &str) -> String {
    if !html.contains('<') {
        return html.to_string();
    }
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Units available to sell of a variant (0 when inventory does not know it).
async fn available(ctx: &Context<'_>, variant_id: &str) -> GqlResult<i64> {
    let level = ctx::loaders(ctx)?
        .stock
        .load_one(variant_id.to_string())
        .await
        .map_err(gql)?;
    Ok(level.map(|l| l.available.max(0)).unwrap_or(0))
}

/// Total units available to sell over `variant_ids`.
async fn available_total(ctx: &Context<'_>, variant_ids: &[pilota::FastStr]) -> GqlResult<i64> {
    let ids = ctx::strings(variant_ids);
    let levels = ctx::loaders(ctx)?.stock.load_many(ids).await.map_err(gql)?;
    Ok(levels
        .values()
        .map(|l| l.available.max(0))
        .fold(0i64, i64::saturating_add))
}

/// A page of objects loaded by id, paged over the id list in memory.
async fn paged_by_ids<T: async_graphql::OutputType + Clone>(
    ids: &[pilota::FastStr],
    args: PageArgs,
    load: impl AsyncFnOnce(Vec<String>) -> GqlResult<Vec<(String, T)>>,
) -> GqlResult<Connection<String, T>> {
    let ids = ctx::strings(ids);
    let page = args
        .to_kernel()?
        .apply(&ids, ctx::DEFAULT_PAGE)
        .map_err(gql)?;
    let found = load(page.items.clone()).await?;
    let mut conn = Connection::new(page.has_previous_page, page.has_next_page);
    for (id, cursor) in page.items.iter().zip(page.cursors) {
        if let Some((_, v)) = found.iter().find(|(k, _)| k == id) {
            conn.edges
                .push(async_graphql::connection::Edge::new(cursor, v.clone()));
        }
    }
    Ok(conn)
}

/// An image.
#[derive(SimpleObject, Debug, Clone)]
pub struct Image {
    /// Location of the image.
    pub url: String,
    /// Text description of the image.
    pub alt_text: Option<String>,
    /// Width in pixels, when known.
    pub width: Option<i32>,
    /// Height in pixels, when known.
    pub height: Option<i32>,
}

impl Image {
    /// From the wire type.
    pub fn from_wire(i: &catalog::Image) -> Self {
        Image {
            url: i.url.to_string(),
            alt_text: i.alt_text.as_ref().map(|s| s.to_string()),
            width: i.width,
            height: i.height,
        }
    }
}

/// A product option value of a variant, e.g. `Size: M`.
#[derive(SimpleObject, Debug, Clone)]
pub struct SelectedOption {
    /// Option name.
    pub name: String,
    /// Option value.
    pub value: String,
}

/// Minimum and maximum variant prices of a product.
#[derive(SimpleObject, Debug, Clone)]
pub struct ProductPriceRange {
    /// The lowest variant price.
    pub min_variant_price: MoneyV2,
    /// The highest variant price.
    pub max_variant_price: MoneyV2,
}

/// Sort keys of `products`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum ProductSortKeys {
    RELEVANCE,
    TITLE,
    PRICE,
    CREATED_AT,
    UPDATED_AT,
    #[default]
    ID,
    BEST_SELLING,
    PRODUCT_TYPE,
    VENDOR,
}

impl ProductSortKeys {
    /// The wire sort key.
    pub fn to_wire(self) -> catalog::ProductSortKey {
        match self {
            ProductSortKeys::RELEVANCE => catalog::ProductSortKey::RELEVANCE,
            ProductSortKeys::TITLE => catalog::ProductSortKey::TITLE,
            ProductSortKeys::PRICE => catalog::ProductSortKey::PRICE,
            ProductSortKeys::CREATED_AT => catalog::ProductSortKey::CREATED_AT,
            ProductSortKeys::UPDATED_AT => catalog::ProductSortKey::UPDATED_AT,
            ProductSortKeys::ID => catalog::ProductSortKey::ID,
            ProductSortKeys::BEST_SELLING => catalog::ProductSortKey::BEST_SELLING,
            ProductSortKeys::PRODUCT_TYPE => catalog::ProductSortKey::PRODUCT_TYPE,
            ProductSortKeys::VENDOR => catalog::ProductSortKey::VENDOR,
        }
    }
}

/// A product for sale, with its variants.
#[derive(Debug, Clone)]
pub struct Product(pub catalog::Product);

#[Object]
impl Product {
    /// Globally unique id.
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::Product, &self.0.id))
    }
    /// Human-friendly unique string, e.g. `blue-t-shirt`.
    async fn handle(&self) -> &str {
        &self.0.handle
    }
    /// Product title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Plain-text description (the HTML description without its tags).
    async fn description(&self) -> String {
        strip_tags(&self.0.description)
    }
    /// Description as entered, HTML allowed.
    async fn description_html(&self) -> &str {
        &self.0.description
    }
    /// Vendor name.
    async fn vendor(&self) -> &str {
        &self.0.vendor
    }
    /// Product type.
    async fn product_type(&self) -> &str {
        &self.0.product_type
    }
    /// Tags.
    async fn tags(&self) -> Vec<String> {
        ctx::strings(&self.0.tags)
    }
    /// When the product was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }
    /// When the product was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at_ms)
    }
    /// The first image.
    async fn featured_image(&self) -> Option<Image> {
        self.0.images.first().map(Image::from_wire)
    }
    /// Every image of the product.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn images(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Image>> {
        ctx::connection_from_list(
            &self.0.images,
            &PageArgs::new(first, after, last, before),
            |i| Image::from_wire(&i),
        )
    }
    /// Lowest and highest variant price.
    async fn price_range(&self) -> ProductPriceRange {
        ProductPriceRange {
            min_variant_price: MoneyV2::from_wire(&self.0.min_price),
            max_variant_price: MoneyV2::from_wire(&self.0.max_price),
        }
    }
    /// Variants of the product.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn variants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, ProductVariant>> {
        paged_by_ids(
            &self.0.variant_ids,
            PageArgs::new(first, after, last, before),
            async |ids: Vec<String>| {
                Ok(load_variants(ctx, &ids)
                    .await?
                    .into_iter()
                    .map(|v| (v.0.id.to_string(), v))
                    .collect())
            },
        )
        .await
    }
    /// Is any variant in stock?
    async fn available_for_sale(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(available_total(ctx, &self.0.variant_ids).await? > 0)
    }
    /// Units available over all variants.
    async fn total_inventory(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        available_total(ctx, &self.0.variant_ids).await
    }
    /// Collections the product belongs to.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn collections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Collection>> {
        paged_by_ids(
            &self.0.collection_ids,
            PageArgs::new(first, after, last, before),
            async |ids: Vec<String>| {
                let found = ctx::loaders(ctx)?
                    .collections
                    .load_many(ids)
                    .await
                    .map_err(gql)?;
                Ok(found.into_iter().map(|(k, c)| (k, Collection(c))).collect())
            },
        )
        .await
    }
}

/// A purchasable variant of a product (size, colour, …).
#[derive(Debug, Clone)]
pub struct ProductVariant(pub catalog::Variant);

#[Object]
impl ProductVariant {
    /// Globally unique id (the `merchandiseId` of cart lines).
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::ProductVariant, &self.0.id))
    }
    /// Stock keeping unit.
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    /// Variant title, e.g. `M / Blue`.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Price of one unit.
    async fn price(&self) -> MoneyV2 {
        MoneyV2::from_wire(&self.0.price)
    }
    /// Price before a markdown, when the variant is on sale.
    async fn compare_at_price(&self) -> Option<MoneyV2> {
        self.0.compare_at_price.as_ref().map(MoneyV2::from_wire)
    }
    /// Is the variant in stock?
    async fn available_for_sale(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(available(ctx, &self.0.id).await? > 0)
    }
    /// Is the variant out of stock?
    async fn currently_not_in_stock(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(available(ctx, &self.0.id).await? <= 0)
    }
    /// Units available to sell.
    async fn quantity_available(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        available(ctx, &self.0.id).await
    }
    /// Option values of the variant.
    async fn selected_options(&self) -> Vec<SelectedOption> {
        self.0
            .options
            .iter()
            .map(|o| SelectedOption {
                name: o.name.to_string(),
                value: o.value.to_string(),
            })
            .collect()
    }
    /// Image of the variant.
    async fn image(&self) -> Option<Image> {
        self.0.image.as_ref().map(Image::from_wire)
    }
    /// Position among the product's variants.
    async fn position(&self) -> i32 {
        self.0.position
    }
    /// The product this variant belongs to.
    async fn product(&self, ctx: &Context<'_>) -> GqlResult<Product> {
        load_product(ctx, &self.0.product_id).await?.ok_or_else(|| {
            gql(shop_kernel::Error::not_found(
                "PRODUCT_NOT_FOUND",
                "the variant's product no longer exists",
            ))
        })
    }
}

/// A group of products (a category).
#[derive(Debug, Clone)]
pub struct Collection(pub catalog::Collection);

#[Object]
impl Collection {
    /// Globally unique id.
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::Collection, &self.0.id))
    }
    /// Human-friendly unique string.
    async fn handle(&self) -> &str {
        &self.0.handle
    }
    /// Collection title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Plain-text description (the HTML description without its tags).
    async fn description(&self) -> String {
        strip_tags(&self.0.description)
    }
    /// Description as entered, HTML allowed.
    async fn description_html(&self) -> &str {
        &self.0.description
    }
    /// Image of the collection.
    async fn image(&self) -> Option<Image> {
        self.0.image.as_ref().map(Image::from_wire)
    }
    /// When the collection was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at_ms)
    }
    /// Products in the collection.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(default)] sort_key: ProductSortKeys,
        #[graphql(default)] reverse: bool,
    ) -> GqlResult<Connection<String, Product>> {
        search_products(
            ctx,
            PageArgs::new(first, after, last, before),
            None,
            Some(self.0.id.to_string()),
            sort_key,
            reverse,
        )
        .await
    }
}

/// Searches products through the catalog service.
pub async fn search_products(
    ctx: &Context<'_>,
    args: PageArgs,
    query: Option<String>,
    collection_id: Option<String>,
    sort_key: ProductSortKeys,
    reverse: bool,
) -> GqlResult<Connection<String, Product>> {
    let page = args.to_wire()?;
    if query.as_ref().is_some_and(|q| q.len() > 1024) {
        return Err(gql(shop_kernel::Error::invalid(
            "QUERY_TOO_LONG",
            "`query` is too long",
        )
        .with_field(["query"])));
    }
    let resp = ctx::catalog_reads(ctx)?
        .search_products(catalog::SearchProductsRequest {
            query: query.map(Into::into),
            collection_id: collection_id.map(Into::into),
            sort_key: sort_key.to_wire(),
            reverse,
            page,
        })
        .await
        .map_err(gql)?;
    let products = resp.products.into_iter().map(Product).collect();
    Ok(ctx::connection_from_wire(
        products,
        resp.cursors,
        &resp.page_info,
    ))
}

#[cfg(test)]
mod strip_tests {
    #[test]
    fn tags_are_stripped() {
        assert_eq!(super::strip_tags("plain text"), "plain text");
        assert_eq!(
            super::strip_tags("<p>Warm <b>wool</b></p>\n<ul><li>soft</li></ul>"),
            "Warm wool soft"
        );
    }
}
