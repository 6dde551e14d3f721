//! Thrift edge of the recommender, and the catalog client behind [`CatalogPort`].
use std::sync::Arc;

use shop_idl::{
    catalog::{CatalogServiceClient, ProductSortKey, SearchProductsRequest},
    common,
    recommender::*,
};
use shop_rpc::{ServerResult, reply};

use crate::{
    app::{CatalogPort, RecommenderApp},
    store::RecommenderStore,
};

/// The `RecommenderService` implementation.
pub struct RecommenderRpc<S, C> {
    app: Arc<RecommenderApp<S, C>>,
}

impl<S, C> RecommenderRpc<S, C> {
    /// Serves `app`.
    pub fn new(app: Arc<RecommenderApp<S, C>>) -> Self {
        Self { app }
    }
}

fn response(ids: Vec<String>) -> RecommendationsResponse {
    RecommendationsResponse {
        product_ids: ids.into_iter().map(Into::into).collect(),
    }
}

impl<S: RecommenderStore, C: CatalogPort> RecommenderService for RecommenderRpc<S, C> {
    async fn related(
        &self,
        req: RelatedRequest,
    ) -> ServerResult<RecommendationsResponse, RecommenderServiceRelatedException> {
        reply(
            self.app
                .related(&req.product_id, req.limit)
                .await
                .map(response),
        )
    }

    async fn for_customer(
        &self,
        req: ForCustomerRequest,
    ) -> ServerResult<RecommendationsResponse, RecommenderServiceForCustomerException> {
        let actor = shop_rpc::current_actor();
        reply(
            self.app
                .for_customer(&actor, &req.customer_id, req.limit)
                .await
                .map(response),
        )
    }

    async fn popular(
        &self,
        req: PopularRequest,
    ) -> ServerResult<RecommendationsResponse, RecommenderServicePopularException> {
        reply(self.app.popular(req.limit).await.map(response))
    }
}

/// [`CatalogPort`] over the catalog service's Thrift client.
#[derive(Clone)]
pub struct CatalogClient {
    client: CatalogServiceClient,
}

impl CatalogClient {
    /// Wraps a built catalog client.
    pub fn new(client: CatalogServiceClient) -> Self {
        Self { client }
    }
}

impl CatalogPort for CatalogClient {
    async fn newest_products(&self, limit: usize) -> shop_kernel::Result<Vec<String>> {
        let req = SearchProductsRequest {
            query: None,
            collection_id: None,
            sort_key: ProductSortKey::CREATED_AT,
            reverse: true,
            page: common::PageRequest {
                first: Some(limit.min(250) as i32),
                ..Default::default()
            },
        };
        let resp = shop_rpc::call("catalog", self.client.search_products(req).await)?;
        Ok(resp
            .products
            .into_iter()
            .map(|p| p.id.to_string())
            .collect())
    }
}
