// Inventory: stock per variant. available = on_hand - reserved, never below zero.
namespace rs shop.inventory
include "common.thrift"

struct StockLevel {
    1: required string variant_id,
    2: required i64 on_hand,
    3: required i64 reserved,
    4: required i64 available,
}

struct StockLine {
    1: required string variant_id,
    2: required i64 quantity,
}

enum ReservationState {
    ACTIVE = 1,
    COMMITTED = 2,
    RELEASED = 3,
    /// Committed, then put back on hand (e.g. the order was cancelled).
    RETURNED = 4,
}

struct Reservation {
    1: required string reservation_id,
    2: required list<StockLine> lines,
    3: required ReservationState state,
    /// When an ACTIVE reservation is released by itself (ms since the epoch).
    4: optional i64 expires_at_ms,
}

struct GetStockRequest { 1: required list<string> variant_ids }
/// Unknown variants have no entry.
struct GetStockResponse { 1: required list<StockLevel> levels }

/// Reserves every line or none. Re-sending the same reservation_id returns the existing reservation.
struct ReserveRequest {
    1: required string reservation_id,
    2: required list<StockLine> lines,
    /// How long the stock is held unless committed or released (default 10 minutes; 100 ms .. 24 h).
    3: optional i64 ttl_ms,
}
struct ReserveResponse { 1: required Reservation reservation }

struct ReleaseRequest { 1: required string reservation_id, 2: required string reason }
struct ReleaseResponse { 1: required Reservation reservation }

struct CommitRequest { 1: required string reservation_id }
struct CommitResponse { 1: required Reservation reservation }

/// Puts a committed reservation's stock back on hand (idempotent).
struct ReturnStockRequest { 1: required string reservation_id, 2: required string reason }
struct ReturnStockResponse { 1: required Reservation reservation }

enum AdjustmentKind {
    RECEIVE = 1,
    SET = 2,
    CORRECT = 3,
}

struct AdjustStockRequest {
    1: required string variant_id,
    2: required AdjustmentKind kind,
    /// RECEIVE/CORRECT: delta; SET: the new on-hand count.
    3: required i64 quantity,
    4: required string reason,
}
struct AdjustStockResponse { 1: required StockLevel level }

service InventoryService {
    GetStockResponse get_stock(1: GetStockRequest req) throws (1: common.ShopError err),
    ReserveResponse reserve(1: ReserveRequest req) throws (1: common.ShopError err),
    ReleaseResponse release(1: ReleaseRequest req) throws (1: common.ShopError err),
    CommitResponse commit(1: CommitRequest req) throws (1: common.ShopError err),
    ReturnStockResponse return_stock(1: ReturnStockRequest req) throws (1: common.ShopError err),
    AdjustStockResponse adjust_stock(1: AdjustStockRequest req) throws (1: common.ShopError err),
}
