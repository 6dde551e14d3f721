//! Thrift edge of the inventory service: conversions only.
use std::sync::Arc;

use shop_idl::inventory as t;
use shop_kernel::Error;
use shop_rpc::{ServerResult, current_actor, reply};
use shop_store::EventLog;

use crate::{
    app::{App, Reservation, StockLevel},
    domain::{AdjustKind, ReservationState},
};

/// The `InventoryService` implementation.
pub struct InventoryRpc<S> {
    app: Arc<App<S>>,
}

impl<S> InventoryRpc<S> {
    /// Serves `app`.
    pub fn new(app: Arc<App<S>>) -> Self {
        Self { app }
    }
}

fn level_to_wire(l: StockLevel) -> t::StockLevel {
    t::StockLevel {
        variant_id: l.variant_id.into(),
        on_hand: l.on_hand,
        reserved: l.reserved,
        available: l.available,
    }
}

fn reservation_to_wire(r: Reservation) -> t::Reservation {
    t::Reservation {
        reservation_id: r.reservation_id.into(),
        lines: r
            .lines
            .into_iter()
            .map(|(v, q)| t::StockLine {
                variant_id: v.into(),
                quantity: q,
            })
            .collect(),
        state: match r.state {
            ReservationState::Active => t::ReservationState::ACTIVE,
            ReservationState::Committed => t::ReservationState::COMMITTED,
            ReservationState::Released => t::ReservationState::RELEASED,
            ReservationState::Returned => t::ReservationState::RETURNED,
        },
        expires_at_ms: r.expires_at_ms,
    }
}

fn kind_from_wire(k: t::AdjustmentKind) -> Result<AdjustKind, Error> {
    match k {
        t::AdjustmentKind::RECEIVE => Ok(AdjustKind::Receive),
        t::AdjustmentKind::SET => Ok(AdjustKind::Set),
        t::AdjustmentKind::CORRECT => Ok(AdjustKind::Correct),
        _ => Err(
            Error::invalid("INVALID_ADJUSTMENT_KIND", "unknown adjustment kind")
                .with_field(["kind"]),
        ),
    }
}

impl<S: EventLog> t::InventoryService for InventoryRpc<S> {
    async fn get_stock(
        &self,
        req: t::GetStockRequest,
    ) -> ServerResult<t::GetStockResponse, t::InventoryServiceGetStockException> {
        let ids: Vec<String> = req.variant_ids.iter().map(|s| s.to_string()).collect();
        reply(
            self.app
                .get_stock(&ids)
                .await
                .map(|levels| t::GetStockResponse {
                    levels: levels.into_iter().map(level_to_wire).collect(),
                }),
        )
    }

    async fn reserve(
        &self,
        req: t::ReserveRequest,
    ) -> ServerResult<t::ReserveResponse, t::InventoryServiceReserveException> {
        let actor = current_actor();
        let lines = req
            .lines
            .into_iter()
            .map(|l| (l.variant_id.to_string(), l.quantity))
            .collect();
        reply(
            self.app
                .reserve(&actor, &req.reservation_id, lines, req.ttl_ms)
                .await
                .map(|r| t::ReserveResponse {
                    reservation: reservation_to_wire(r),
                }),
        )
    }

    async fn release(
        &self,
        req: t::ReleaseRequest,
    ) -> ServerResult<t::ReleaseResponse, t::InventoryServiceReleaseException> {
        let actor = current_actor();
        reply(
            self.app
                .release(&actor, &req.reservation_id, &req.reason)
                .await
                .map(|r| t::ReleaseResponse {
                    reservation: reservation_to_wire(r),
                }),
        )
    }

    async fn commit(
        &self,
        req: t::CommitRequest,
    ) -> ServerResult<t::CommitResponse, t::InventoryServiceCommitException> {
        let actor = current_actor();
        reply(
            self.app
                .commit(&actor, &req.reservation_id)
                .await
                .map(|r| t::CommitResponse {
                    reservation: reservation_to_wire(r),
                }),
        )
    }

    async fn return_stock(
        &self,
        req: t::ReturnStockRequest,
    ) -> ServerResult<t::ReturnStockResponse, t::InventoryServiceReturnStockException> {
        let actor = current_actor();
        reply(
            self.app
                .return_stock(&actor, &req.reservation_id, &req.reason)
                .await
                .map(|r| t::ReturnStockResponse {
                    reservation: reservation_to_wire(r),
                }),
        )
    }

    async fn adjust_stock(
        &self,
        req: t::AdjustStockRequest,
    ) -> ServerResult<t::AdjustStockResponse, t::InventoryServiceAdjustStockException> {
        let actor = current_actor();
        let result = async {
            let kind = kind_from_wire(req.kind)?;
            self.app
                .adjust_stock(&actor, &req.variant_id, kind, req.quantity, &req.reason)
                .await
        }
        .await;
        reply(result.map(|l| t::AdjustStockResponse {
            level: level_to_wire(l),
        }))
    }
}
