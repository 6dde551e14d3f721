//! Thrift edge of the catalog: wire ↔ domain conversions around [`CatalogApp`].
use std::sync::Arc;

use shop_idl::{
    catalog::{self as wire, *},
    common,
};
use shop_kernel::{Money, Page, PageRequest};
use shop_rpc::{ServerResult, current_actor, reply};

use crate::{
    app::{CatalogApp, CreateProduct, SearchInput, UpdateProduct},
    domain::{
        self, SortKey,
        write::{ProductFields, VariantInput as DomainVariantInput},
    },
    store::CatalogStore,
};

/// The `CatalogService` implementation.
pub struct CatalogRpc<S> {
    app: Arc<CatalogApp<S>>,
}

impl<S> CatalogRpc<S> {
    /// Serves `app`.
    pub fn new(app: Arc<CatalogApp<S>>) -> Self {
        Self { app }
    }
}

fn money(m: &Money) -> common::Money {
    common::Money {
        amount_minor: m.amount_minor,
        currency: m.currency.clone().into(),
    }
}

fn image(i: &domain::Image) -> wire::Image {
    wire::Image {
        url: i.url.clone().into(),
        alt_text: i.alt_text.clone().map(Into::into),
        width: i.width,
        height: i.height,
    }
}

fn strings(v: &[String]) -> Vec<pilota::FastStr> {
    v.iter().map(|s| s.clone().into()).collect()
}

fn product(p: &domain::Product) -> wire::Product {
    wire::Product {
        id: p.id.clone().into(),
        handle: p.handle.clone().into(),
        title: p.title.clone().into(),
        description: p.description.clone().into(),
        vendor: p.vendor.clone().into(),
        product_type: p.product_type.clone().into(),
        tags: strings(&p.tags),
        images: p.images.iter().map(image).collect(),
        variant_ids: strings(&p.variant_ids),
        collection_ids: strings(&p.collection_ids),
        min_price: money(&p.min_price),
        max_price: money(&p.max_price),
        created_at_ms: p.created_at_ms,
        updated_at_ms: p.updated_at_ms,
    }
}

fn variant(v: &domain::Variant) -> wire::Variant {
    wire::Variant {
        id: v.id.clone().into(),
        product_id: v.product_id.clone().into(),
        sku: v.sku.clone().into(),
        title: v.title.clone().into(),
        price: money(&v.price),
        compare_at_price: v.compare_at_price.as_ref().map(money),
        options: v
            .options
            .iter()
            .map(|o| SelectedOption {
                name: o.name.clone().into(),
                value: o.value.clone().into(),
            })
            .collect(),
        image: v.image.as_ref().map(image),
        position: v.position,
    }
}

fn collection(c: &domain::Collection) -> wire::Collection {
    wire::Collection {
        id: c.id.clone().into(),
        handle: c.handle.clone().into(),
        title: c.title.clone().into(),
        description: c.description.clone().into(),
        image: c.image.as_ref().map(image),
        updated_at_ms: c.updated_at_ms,
    }
}

fn page_request(p: &common::PageRequest) -> PageRequest {
    PageRequest {
        first: p.first.map(i64::from),
        after: p.after.as_ref().map(|s| s.to_string()),
        last: p.last.map(i64::from),
        before: p.before.as_ref().map(|s| s.to_string()),
    }
}

fn page_info<T>(p: &Page<T>) -> common::PageInfo {
    common::PageInfo {
        has_next_page: p.has_next_page,
        has_previous_page: p.has_previous_page,
        start_cursor: p.cursors.first().map(|c| c.clone().into()),
        end_cursor: p.cursors.last().map(|c| c.clone().into()),
    }
}

/// Unknown enum values sort by relevance (forward compatibility).
fn sort_key(k: ProductSortKey) -> SortKey {
    match k {
        ProductSortKey::TITLE => SortKey::Title,
        ProductSortKey::PRICE => SortKey::Price,
        ProductSortKey::CREATED_AT => SortKey::CreatedAt,
        ProductSortKey::UPDATED_AT => SortKey::UpdatedAt,
        ProductSortKey::ID => SortKey::Id,
        ProductSortKey::BEST_SELLING => SortKey::BestSelling,
        ProductSortKey::PRODUCT_TYPE => SortKey::ProductType,
        ProductSortKey::VENDOR => SortKey::Vendor,
        _ => SortKey::Relevance,
    }
}

fn variant_inputs(v: &[wire::VariantInput]) -> Vec<DomainVariantInput> {
    v.iter()
        .map(|v| DomainVariantInput {
            id: v.id.as_ref().map(|s| s.to_string()),
            sku: v.sku.as_ref().map(|s| s.to_string()),
            title: v.title.as_ref().map(|s| s.to_string()),
            price: v.price.as_ref().map(|s| s.to_string()),
            compare_at_price: v.compare_at_price.as_ref().map(|s| s.to_string()),
            clear_compare_at_price: v.clear_compare_at_price.unwrap_or(false),
            options: v.options.as_ref().map(|o| {
                o.iter()
                    .map(|o| domain::SelectedOption {
                        name: o.name.to_string(),
                        value: o.value.to_string(),
                    })
                    .collect()
            }),
        })
        .collect()
}

fn opt(s: &Option<pilota::FastStr>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

fn ids(v: &[pilota::FastStr]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl<S: CatalogStore> CatalogService for CatalogRpc<S> {
    async fn get_products(
        &self,
        req: GetProductsRequest,
    ) -> ServerResult<GetProductsResponse, CatalogServiceGetProductsException> {
        reply(
            self.app
                .get_products(&ids(&req.ids))
                .map(|ps| GetProductsResponse {
                    products: ps.iter().map(product).collect(),
                }),
        )
    }

    async fn get_product_by_handle(
        &self,
        req: GetProductByHandleRequest,
    ) -> ServerResult<GetProductByHandleResponse, CatalogServiceGetProductByHandleException> {
        reply(
            self.app
                .get_product_by_handle(&req.handle)
                .map(|p| GetProductByHandleResponse {
                    product: p.as_ref().map(product),
                }),
        )
    }

    async fn search_products(
        &self,
        req: SearchProductsRequest,
    ) -> ServerResult<SearchProductsResponse, CatalogServiceSearchProductsException> {
        let input = SearchInput {
            query: req.query.map(|q| q.to_string()),
            collection_id: req.collection_id.map(|c| c.to_string()),
            sort: sort_key(req.sort_key),
            reverse: req.reverse,
            page: page_request(&req.page),
        };
        reply(self.app.search(&input).map(|out| SearchProductsResponse {
            products: out.page.items.iter().map(product).collect(),
            cursors: strings(&out.page.cursors),
            page_info: page_info(&out.page),
            total_count: out.total_count,
        }))
    }

    async fn get_variants(
        &self,
        req: GetVariantsRequest,
    ) -> ServerResult<GetVariantsResponse, CatalogServiceGetVariantsException> {
        reply(
            self.app
                .get_variants(&ids(&req.ids))
                .map(|vs| GetVariantsResponse {
                    variants: vs.iter().map(variant).collect(),
                }),
        )
    }

    async fn get_collections(
        &self,
        req: GetCollectionsRequest,
    ) -> ServerResult<GetCollectionsResponse, CatalogServiceGetCollectionsException> {
        reply(
            self.app
                .get_collections(&ids(&req.ids))
                .map(|cs| GetCollectionsResponse {
                    collections: cs.iter().map(collection).collect(),
                }),
        )
    }

    async fn get_collection_by_handle(
        &self,
        req: GetCollectionByHandleRequest,
    ) -> ServerResult<GetCollectionByHandleResponse, CatalogServiceGetCollectionByHandleException>
    {
        reply(self.app.get_collection_by_handle(&req.handle).map(|c| {
            GetCollectionByHandleResponse {
                collection: c.as_ref().map(collection),
            }
        }))
    }

    async fn list_collections(
        &self,
        req: ListCollectionsRequest,
    ) -> ServerResult<ListCollectionsResponse, CatalogServiceListCollectionsException> {
        reply(
            self.app
                .list_collections(&page_request(&req.page))
                .map(|p| ListCollectionsResponse {
                    collections: p.items.iter().map(collection).collect(),
                    cursors: strings(&p.cursors),
                    page_info: page_info(&p),
                }),
        )
    }

    async fn create_product(
        &self,
        req: CreateProductRequest,
    ) -> ServerResult<CreateProductResponse, CatalogServiceCreateProductException> {
        let input = CreateProduct {
            fields: ProductFields {
                handle: opt(&req.handle),
                title: Some(req.title.to_string()),
                description: opt(&req.description),
                vendor: opt(&req.vendor),
                product_type: opt(&req.product_type),
                tags: req.tags.as_deref().map(ids),
                collection_ids: req.collection_ids.as_deref().map(ids),
            },
            variants: variant_inputs(&req.variants),
        };
        reply(
            self.app
                .create_product(&current_actor(), &input)
                .await
                .map(|(p, vs)| CreateProductResponse {
                    product: product(&p),
                    variants: vs.iter().map(variant).collect(),
                }),
        )
    }

    async fn update_product(
        &self,
        req: UpdateProductRequest,
    ) -> ServerResult<UpdateProductResponse, CatalogServiceUpdateProductException> {
        let input = UpdateProduct {
            id: req.id.to_string(),
            fields: ProductFields {
                handle: opt(&req.handle),
                title: opt(&req.title),
                description: opt(&req.description),
                vendor: opt(&req.vendor),
                product_type: opt(&req.product_type),
                tags: req.tags.as_deref().map(ids),
                collection_ids: req.collection_ids.as_deref().map(ids),
            },
            variants: req
                .variants
                .as_deref()
                .map(variant_inputs)
                .unwrap_or_default(),
        };
        reply(
            self.app
                .update_product(&current_actor(), &input)
                .await
                .map(|(p, vs)| UpdateProductResponse {
                    product: product(&p),
                    variants: vs.iter().map(variant).collect(),
                }),
        )
    }
}
