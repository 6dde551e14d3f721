// Recommender: "customers who bought this also bought", from placed orders, with a popular-products fallback.
namespace rs shop.recommender
include "common.thrift"

struct RelatedRequest { 1: required string product_id, 2: required i32 limit }
struct ForCustomerRequest { 1: required string customer_id, 2: required i32 limit }
struct PopularRequest { 1: required i32 limit }
/// Product ids, best first.
struct RecommendationsResponse { 1: required list<string> product_ids }

service RecommenderService {
    RecommendationsResponse related(1: RelatedRequest req) throws (1: common.ShopError err),
    RecommendationsResponse for_customer(1: ForCustomerRequest req) throws (1: common.ShopError err),
    RecommendationsResponse popular(1: PopularRequest req) throws (1: common.ShopError err),
}
