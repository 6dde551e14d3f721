// Catalog: products, variants, collections; search and paging.
namespace rs shop.catalog
include "common.thrift"

struct Image {
    1: required string url,
    2: optional string alt_text,
    3: optional i32 width,
    4: optional i32 height,
}

struct SelectedOption {
    1: required string name,
    2: required string value,
}

struct Variant {
    1: required string id,
    2: required string product_id,
    3: required string sku,
    4: required string title,
    5: required common.Money price,
    6: optional common.Money compare_at_price,
    7: required list<SelectedOption> options,
    8: optional Image image,
    9: required i32 position,
}

struct Product {
    1: required string id,
    2: required string handle,
    3: required string title,
    4: required string description,
    5: required string vendor,
    6: required string product_type,
    7: required list<string> tags,
    8: required list<Image> images,
    9: required list<string> variant_ids,
    10: required list<string> collection_ids,
    11: required common.Money min_price,
    12: required common.Money max_price,
    13: required i64 created_at_ms,
    14: required i64 updated_at_ms,
}

struct Collection {
    1: required string id,
    2: required string handle,
    3: required string title,
    4: required string description,
    5: optional Image image,
    6: required i64 updated_at_ms,
}

enum ProductSortKey {
    RELEVANCE = 1,
    TITLE = 2,
    PRICE = 3,
    CREATED_AT = 4,
    UPDATED_AT = 5,
    ID = 6,
    BEST_SELLING = 7,
    PRODUCT_TYPE = 8,
    VENDOR = 9,
}

struct GetProductsRequest { 1: required list<string> ids }
struct GetProductsResponse { 1: required list<Product> products }

struct GetProductByHandleRequest { 1: required string handle }
struct GetProductByHandleResponse { 1: optional Product product }

/// `query` uses a small Shopify-like syntax: free words match title/description/vendor/tags/type;
/// `field:value` filters on title, vendor, product_type, tag, sku; `price:<N`/`price:>N` in major units.
struct SearchProductsRequest {
    1: optional string query,
    2: optional string collection_id,
    3: required ProductSortKey sort_key,
    4: required bool reverse,
    5: required common.PageRequest page,
}
struct SearchProductsResponse {
    1: required list<Product> products,
    2: required list<string> cursors,
    3: required common.PageInfo page_info,
    4: required i64 total_count,
}

struct GetVariantsRequest { 1: required list<string> ids }
struct GetVariantsResponse { 1: required list<Variant> variants }

struct GetCollectionsRequest { 1: required list<string> ids }
struct GetCollectionsResponse { 1: required list<Collection> collections }

struct GetCollectionByHandleRequest { 1: required string handle }
struct GetCollectionByHandleResponse { 1: optional Collection collection }

struct ListCollectionsRequest { 1: required common.PageRequest page }
struct ListCollectionsResponse {
    1: required list<Collection> collections,
    2: required list<string> cursors,
    3: required common.PageInfo page_info,
}

/// A variant in a product write. In `create_product` every variant is new (`id` absent; `sku`, `price` required).
/// In `update_product` a variant with `id` changes that existing variant of the product (only the given fields);
/// one without `id` is added. Prices are decimals in major units of the shop currency ("19.99").
struct VariantInput {
    1: optional string id,
    2: optional string sku,
    3: optional string title,
    4: optional string price,
    5: optional string compare_at_price,
    6: optional list<SelectedOption> options,
    /// Update only: removes the compare-at price.
    7: optional bool clear_compare_at_price,
}

/// Creates a product (staff with MANAGE_PRODUCTS). `handle` defaults to one derived from the title.
struct CreateProductRequest {
    1: optional string handle,
    2: required string title,
    3: optional string description,
    4: optional string vendor,
    5: optional string product_type,
    6: optional list<string> tags,
    7: optional list<string> collection_ids,
    8: required list<VariantInput> variants,
}
struct CreateProductResponse { 1: required Product product, 2: required list<Variant> variants }

/// Changes the given fields of a product (staff with MANAGE_PRODUCTS); absent fields stay as they are. Lists
/// (`tags`, `collection_ids`) replace the stored ones. Variants are changed by id or added; none is removed.
struct UpdateProductRequest {
    1: required string id,
    2: optional string handle,
    3: optional string title,
    4: optional string description,
    5: optional string vendor,
    6: optional string product_type,
    7: optional list<string> tags,
    8: optional list<string> collection_ids,
    9: optional list<VariantInput> variants,
}
struct UpdateProductResponse { 1: required Product product, 2: required list<Variant> variants }

service CatalogService {
    GetProductsResponse get_products(1: GetProductsRequest req) throws (1: common.ShopError err),
    GetProductByHandleResponse get_product_by_handle(1: GetProductByHandleRequest req) throws (1: common.ShopError err),
    SearchProductsResponse search_products(1: SearchProductsRequest req) throws (1: common.ShopError err),
    GetVariantsResponse get_variants(1: GetVariantsRequest req) throws (1: common.ShopError err),
    GetCollectionsResponse get_collections(1: GetCollectionsRequest req) throws (1: common.ShopError err),
    GetCollectionByHandleResponse get_collection_by_handle(1: GetCollectionByHandleRequest req) throws (1: common.ShopError err),
    ListCollectionsResponse list_collections(1: ListCollectionsRequest req) throws (1: common.ShopError err),
    CreateProductResponse create_product(1: CreateProductRequest req) throws (1: common.ShopError err),
    UpdateProductResponse update_product(1: UpdateProductRequest req) throws (1: common.ShopError err),
}
