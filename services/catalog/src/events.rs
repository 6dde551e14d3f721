//! Event contracts at the edge: the catalog's `catalog.product_published.v1`, `catalog.product_created.v1` and
//! `catalog.product_updated.v1` (out; the last two are also read back by every catalog process to keep its
//! index current) and the order service's `order.placed.v1` (in, for the best-selling projection).
use shop_idl::{
    common,
    events::{
        CatalogEvent, CatalogImage, CatalogOption, CatalogProductSnapshot, CatalogVariantSnapshot,
        OrderEvent, ProductCreated, ProductPublished, ProductUpdated,
    },
};
use shop_kernel::Money;
use shop_store::NewEvent;

use crate::{
    domain::{Image, Product, SelectedOption, SoldLine, Variant},
    store::StreamEvent,
};

/// Topic of catalog events.
pub const CATALOG_TOPIC: &str = "shop.catalog.v1";
/// Type of the event announcing a product.
pub const PRODUCT_PUBLISHED: &str = "catalog.product_published.v1";
/// Type of the event of a product created by staff.
pub const PRODUCT_CREATED: &str = "catalog.product_created.v1";
/// Type of the event of a product changed by staff.
pub const PRODUCT_UPDATED: &str = "catalog.product_updated.v1";
/// Topic of order events.
pub const ORDER_TOPIC: &str = "shop.order.v1";
/// Type of the event of a placed (paid) order.
pub const ORDER_PLACED: &str = "order.placed.v1";

/// The `product_published` event of `product`, on the product's stream.
pub fn product_published(product: &Product, occurred_at_ms: i64) -> StreamEvent {
    let union = CatalogEvent::ProductPublished(ProductPublished {
        product_id: product.id.clone().into(),
        handle: product.handle.clone().into(),
        variant_ids: product
            .variant_ids
            .iter()
            .map(|v| v.clone().into())
            .collect(),
    });
    StreamEvent {
        stream: product.id.clone(),
        event: NewEvent {
            event_id: shop_kernel::ids::new_id(),
            event_type: PRODUCT_PUBLISHED.to_string(),
            topic: CATALOG_TOPIC.to_string(),
            occurred_at_ms,
            traceparent: shop_rpc::shop_telemetry::traceparent(),
            payload: shop_idl::encode_event(&union),
        },
    }
}

fn new_event(event_type: &str, union: &CatalogEvent, occurred_at_ms: i64) -> NewEvent {
    NewEvent {
        event_id: shop_kernel::ids::new_id(),
        event_type: event_type.to_string(),
        topic: CATALOG_TOPIC.to_string(),
        occurred_at_ms,
        traceparent: shop_rpc::shop_telemetry::traceparent(),
        payload: shop_idl::encode_event(union),
    }
}

fn money_out(m: &Money) -> common::Money {
    common::Money {
        amount_minor: m.amount_minor,
        currency: m.currency.clone().into(),
    }
}

fn money_in(m: &common::Money) -> Money {
    Money::new(m.amount_minor, m.currency.to_string())
}

fn image_out(i: &Image) -> CatalogImage {
    CatalogImage {
        url: i.url.clone().into(),
        alt_text: i.alt_text.clone().map(Into::into),
        width: i.width,
        height: i.height,
    }
}

fn image_in(i: &CatalogImage) -> Image {
    Image {
        url: i.url.to_string(),
        alt_text: i.alt_text.as_ref().map(|s| s.to_string()),
        width: i.width,
        height: i.height,
    }
}

/// The wire snapshot of a product and all its variants.
fn snapshot(p: &Product, variants: &[Variant]) -> CatalogProductSnapshot {
    CatalogProductSnapshot {
        id: p.id.clone().into(),
        handle: p.handle.clone().into(),
        title: p.title.clone().into(),
        description: p.description.clone().into(),
        vendor: p.vendor.clone().into(),
        product_type: p.product_type.clone().into(),
        tags: p.tags.iter().map(|t| t.clone().into()).collect(),
        images: p.images.iter().map(image_out).collect(),
        collection_ids: p.collection_ids.iter().map(|c| c.clone().into()).collect(),
        variants: variants
            .iter()
            .map(|v| CatalogVariantSnapshot {
                id: v.id.clone().into(),
                sku: v.sku.clone().into(),
                title: v.title.clone().into(),
                price: money_out(&v.price),
                compare_at_price: v.compare_at_price.as_ref().map(money_out),
                options: v
                    .options
                    .iter()
                    .map(|o| CatalogOption {
                        name: o.name.clone().into(),
                        value: o.value.clone().into(),
                    })
                    .collect(),
                image: v.image.as_ref().map(image_out),
                position: v.position,
            })
            .collect(),
        created_at_ms: p.created_at_ms,
        updated_at_ms: p.updated_at_ms,
        version: p.version,
    }
}

/// A product and its variants from a wire snapshot.
fn from_snapshot(s: &CatalogProductSnapshot) -> (Product, Vec<Variant>) {
    let variants: Vec<Variant> = s
        .variants
        .iter()
        .map(|v| Variant {
            id: v.id.to_string(),
            product_id: s.id.to_string(),
            sku: v.sku.to_string(),
            title: v.title.to_string(),
            price: money_in(&v.price),
            compare_at_price: v.compare_at_price.as_ref().map(money_in),
            options: v
                .options
                .iter()
                .map(|o| SelectedOption {
                    name: o.name.to_string(),
                    value: o.value.to_string(),
                })
                .collect(),
            image: v.image.as_ref().map(image_in),
            position: v.position,
        })
        .collect();
    let min = variants
        .iter()
        .map(|v| v.price.amount_minor)
        .min()
        .unwrap_or(0);
    let max = variants
        .iter()
        .map(|v| v.price.amount_minor)
        .max()
        .unwrap_or(0);
    let currency = variants
        .first()
        .map(|v| v.price.currency.clone())
        .unwrap_or_else(|| crate::domain::write::SHOP_CURRENCY.to_string());
    let product = Product {
        id: s.id.to_string(),
        handle: s.handle.to_string(),
        title: s.title.to_string(),
        description: s.description.to_string(),
        vendor: s.vendor.to_string(),
        product_type: s.product_type.to_string(),
        tags: s.tags.iter().map(|t| t.to_string()).collect(),
        images: s.images.iter().map(image_in).collect(),
        variant_ids: variants.iter().map(|v| v.id.clone()).collect(),
        collection_ids: s.collection_ids.iter().map(|c| c.to_string()).collect(),
        min_price: Money::new(min, currency.clone()),
        max_price: Money::new(max, currency),
        created_at_ms: s.created_at_ms,
        updated_at_ms: s.updated_at_ms,
        version: s.version,
    };
    (product, variants)
}

/// The `product_created` event of a new product.
pub fn product_created(p: &Product, variants: &[Variant], occurred_at_ms: i64) -> NewEvent {
    let union = CatalogEvent::ProductCreated(ProductCreated {
        product: snapshot(p, variants),
    });
    new_event(PRODUCT_CREATED, &union, occurred_at_ms)
}

/// The `product_updated` event of a changed product; `changed` names the changed fields.
pub fn product_updated(
    p: &Product,
    variants: &[Variant],
    changed: &[String],
    occurred_at_ms: i64,
) -> NewEvent {
    let union = CatalogEvent::ProductUpdated(ProductUpdated {
        product: snapshot(p, variants),
        changed: changed.iter().map(|c| c.clone().into()).collect(),
    });
    new_event(PRODUCT_UPDATED, &union, occurred_at_ms)
}

/// The product (with its variants) written by a `product_created` / `product_updated` event; `None` for other
/// catalog events. An undecodable payload of those types is an error (the caller logs and skips it).
pub fn decode_product_written(
    event_type: &str,
    payload: bytes::Bytes,
) -> Result<Option<(Product, Vec<Variant>)>, String> {
    if event_type != PRODUCT_CREATED && event_type != PRODUCT_UPDATED {
        return Ok(None);
    }
    match shop_idl::decode_event::<CatalogEvent>(payload) {
        Ok(CatalogEvent::ProductCreated(e)) => Ok(Some(from_snapshot(&e.product))),
        Ok(CatalogEvent::ProductUpdated(e)) => Ok(Some(from_snapshot(&e.product))),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The lines of a placed order, if `event_type`/`payload` is one; `None` for other order events.
/// An undecodable `order.placed.v1` payload is an error (the caller logs and skips it).
pub fn decode_order_placed(
    event_type: &str,
    payload: bytes::Bytes,
) -> Result<Option<Vec<SoldLine>>, String> {
    if event_type != ORDER_PLACED {
        return Ok(None);
    }
    match shop_idl::decode_event::<OrderEvent>(payload) {
        Ok(OrderEvent::Placed(p)) => Ok(Some(
            p.lines
                .into_iter()
                .map(|l| SoldLine {
                    product_id: l.product_id.to_string(),
                    quantity: l.quantity,
                })
                .collect(),
        )),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use shop_idl::{
        common::Money,
        events::{OrderLineSnapshot, OrderPlaced},
    };

    use super::*;

    #[test]
    fn product_written_round_trip() {
        let w = crate::domain::write::create(
            &crate::domain::write::ProductFields {
                title: Some("Mug".into()),
                tags: Some(vec!["kitchen".into()]),
                ..Default::default()
            },
            &[crate::domain::write::VariantInput {
                sku: Some("MUG-1".into()),
                price: Some("9.50".into()),
                compare_at_price: Some("12".into()),
                options: Some(vec![SelectedOption {
                    name: "Color".into(),
                    value: "Blue".into(),
                }]),
                ..Default::default()
            }],
            42,
            shop_kernel::ids::new_id,
        )
        .unwrap();
        let e = product_created(&w.product, &w.variants, 42);
        assert_eq!(
            (e.event_type.as_str(), e.topic.as_str()),
            (PRODUCT_CREATED, CATALOG_TOPIC)
        );
        let got = decode_product_written(&e.event_type, e.payload.clone())
            .unwrap()
            .unwrap();
        assert_eq!(got, (w.product.clone(), w.variants.clone()));
        let u = product_updated(&w.product, &w.variants, &["title".into()], 43);
        assert_eq!(
            decode_product_written(&u.event_type, u.payload)
                .unwrap()
                .unwrap()
                .0,
            w.product
        );
        assert_eq!(
            decode_product_written(PRODUCT_PUBLISHED, e.payload.clone()).unwrap(),
            None
        );
        assert!(
            decode_product_written(PRODUCT_UPDATED, e.payload.slice(..e.payload.len() / 2))
                .is_err()
        );
    }

    #[test]
    fn order_placed_round_trip() {
        let ev = OrderEvent::Placed(OrderPlaced {
            order_id: "o1".into(),
            customer_id: None,
            lines: vec![OrderLineSnapshot {
                line_id: "l1".into(),
                variant_id: "v1".into(),
                product_id: "p1".into(),
                title: "T".into(),
                sku: "S".into(),
                quantity: 3,
                unit_price: Money {
                    amount_minor: 100,
                    currency: "USD".into(),
                },
            }],
            total: Money {
                amount_minor: 300,
                currency: "USD".into(),
            },
        });
        let bytes = shop_idl::encode_event(&ev);
        let lines = decode_order_placed(ORDER_PLACED, bytes.clone())
            .unwrap()
            .unwrap();
        assert_eq!(
            lines,
            vec![SoldLine {
                product_id: "p1".into(),
                quantity: 3
            }]
        );
        assert_eq!(
            decode_order_placed("order.created.v1", bytes::Bytes::new()).unwrap(),
            None
        );
        assert!(decode_order_placed(ORDER_PLACED, bytes.slice(..bytes.len() / 2)).is_err());
    }
}
