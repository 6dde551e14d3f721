//! The demo catalog seeded into an empty store: 250 products in 10 collections plus a "Sale" collection of
//! every discounted product. Pure and deterministic: variety comes from a small hash of indices, timestamps
//! from `base_ms`.
use std::collections::HashSet;

use shop_kernel::Money;

use super::{CatalogData, Collection, Image, Product, SelectedOption, Variant};

struct Spec {
    handle: &'static str,
    title: &'static str,
    blurb: &'static str,
    sku_code: &'static str,
    /// (noun, product type)
    nouns: [(&'static str, &'static str); 5],
    adjectives: [&'static str; 5],
    vendors: [&'static str; 4],
    materials: [&'static str; 4],
    /// The option that varies between variants.
    vary: (&'static str, [&'static str; 4]),
    /// An option fixed per product (picked by hash).
    fixed: Option<(&'static str, [&'static str; 4])>,
    /// Base price range in whole dollars.
    price: (i64, i64),
    /// Extra dollars per variant position.
    step: i64,
}

const SPECS: [Spec; 10] = [
    Spec {
        handle: "apparel",
        title: "Apparel",
        blurb: "Everyday clothing built to last, cut for comfort.",
        sku_code: "APP",
        nouns: [
            ("T-Shirt", "T-Shirts"),
            ("Hoodie", "Hoodies"),
            ("Flannel Shirt", "Shirts"),
            ("Chino Pants", "Pants"),
            ("Denim Jacket", "Jackets"),
        ],
        adjectives: ["Classic", "Heavyweight", "Relaxed", "Organic", "Vintage"],
        vendors: ["Northbound", "Thread & Co", "Loomworks", "Harbor Supply"],
        materials: [
            "organic cotton",
            "recycled polyester",
            "linen blend",
            "merino wool",
        ],
        vary: ("Size", ["S", "M", "L", "XL"]),
        fixed: Some(("Color", ["Black", "Navy", "Heather Grey", "Olive"])),
        price: (18, 120),
        step: 0,
    },
    Spec {
        handle: "shoes",
        title: "Shoes",
        blurb: "Sneakers, boots and slip-ons for every kind of day.",
        sku_code: "SHO",
        nouns: [
            ("Running Shoe", "Sneakers"),
            ("Chelsea Boot", "Boots"),
            ("Canvas Sneaker", "Sneakers"),
            ("Trail Runner", "Sneakers"),
            ("Loafer", "Dress Shoes"),
        ],
        adjectives: [
            "Lightweight",
            "Waterproof",
            "Everyday",
            "Cushioned",
            "Minimalist",
        ],
        vendors: ["Stride Lab", "Cobbler Bros", "Fleetfoot", "Summit Soles"],
        materials: [
            "full-grain leather",
            "recycled mesh",
            "suede",
            "waxed canvas",
        ],
        vary: ("Size", ["8", "9", "10", "11"]),
        fixed: Some(("Color", ["Black", "White", "Tan", "Charcoal"])),
        price: (45, 220),
        step: 0,
    },
    Spec {
        handle: "bags",
        title: "Bags",
        blurb: "Carry more with less: backpacks, totes and travel bags.",
        sku_code: "BAG",
        nouns: [
            ("Backpack", "Backpacks"),
            ("Tote Bag", "Totes"),
            ("Duffel", "Travel Bags"),
            ("Messenger Bag", "Shoulder Bags"),
            ("Sling Pack", "Shoulder Bags"),
        ],
        adjectives: ["Roll-Top", "Weekender", "Commuter", "Packable", "Heritage"],
        vendors: ["Carryall", "Field & Pack", "Urban Nomad", "Harbor Supply"],
        materials: [
            "ripstop nylon",
            "waxed canvas",
            "vegetable-tanned leather",
            "recycled PET",
        ],
        vary: ("Color", ["Black", "Forest", "Sand", "Rust"]),
        fixed: None,
        price: (35, 180),
        step: 0,
    },
    Spec {
        handle: "home",
        title: "Home",
        blurb: "Soft goods and small comforts for a calmer home.",
        sku_code: "HOM",
        nouns: [
            ("Throw Blanket", "Blankets"),
            ("Linen Duvet Cover", "Bedding"),
            ("Scented Candle", "Candles"),
            ("Table Lamp", "Lighting"),
            ("Cushion Cover", "Decor"),
        ],
        adjectives: ["Cozy", "Handwoven", "Stonewashed", "Nordic", "Minimal"],
        vendors: ["Hearth & Home", "Nordhus", "Linen Lane", "Glow Goods"],
        materials: ["stonewashed linen", "wool blend", "soy wax", "ceramic"],
        vary: ("Size", ["Small", "Medium", "Large", "Oversized"]),
        fixed: Some(("Color", ["Oat", "Slate", "Terracotta", "Sage"])),
        price: (15, 140),
        step: 12,
    },
    Spec {
        handle: "kitchen",
        title: "Kitchen",
        blurb: "Tools and cookware that make weeknight cooking easy.",
        sku_code: "KIT",
        nouns: [
            ("Chef's Knife", "Knives"),
            ("Cast Iron Skillet", "Cookware"),
            ("Pour-Over Coffee Set", "Coffee"),
            ("Cutting Board", "Prep"),
            ("Stoneware Mug", "Drinkware"),
        ],
        adjectives: ["Professional", "Everyday", "Artisan", "Compact", "Heritage"],
        vendors: [
            "Copper & Clove",
            "Forge Kitchen",
            "Morning Ritual",
            "Hearth & Home",
        ],
        materials: [
            "carbon steel",
            "cast iron",
            "acacia wood",
            "glazed stoneware",
        ],
        vary: ("Size", ["Small", "Medium", "Large", "Family"]),
        fixed: None,
        price: (12, 160),
        step: 10,
    },
    Spec {
        handle: "outdoor",
        title: "Outdoor",
        blurb: "Gear for trails, campsites and long weekends outside.",
        sku_code: "OUT",
        nouns: [
            ("Camping Tent", "Tents"),
            ("Sleeping Bag", "Sleep Systems"),
            ("Headlamp", "Lighting"),
            ("Trekking Poles", "Hiking"),
            ("Water Bottle", "Hydration"),
        ],
        adjectives: [
            "Ultralight",
            "Four-Season",
            "Rugged",
            "Trail-Ready",
            "Backcountry",
        ],
        vendors: ["Summit Gear", "Wildpath", "Field & Pack", "Northbound"],
        materials: [
            "ripstop nylon",
            "aluminium",
            "recycled down",
            "stainless steel",
        ],
        vary: ("Capacity", ["1 Person", "2 Person", "3 Person", "4 Person"]),
        fixed: Some(("Color", ["Orange", "Forest", "Slate", "Sand"])),
        price: (20, 400),
        step: 25,
    },
    Spec {
        handle: "tech",
        title: "Tech",
        blurb: "Useful gadgets and accessories for work and play.",
        sku_code: "TEC",
        nouns: [
            ("Wireless Earbuds", "Audio"),
            ("Bluetooth Speaker", "Audio"),
            ("Power Bank", "Charging"),
            ("Mechanical Keyboard", "Computer Accessories"),
            ("Smart Watch", "Wearables"),
        ],
        adjectives: ["Pro", "Compact", "Noise-Cancelling", "Rugged", "Slim"],
        vendors: ["Voltcraft", "Pixel & Co", "Soundwave", "Circuit Lab"],
        materials: [
            "anodized aluminium",
            "recycled plastic",
            "tempered glass",
            "silicone",
        ],
        vary: ("Color", ["Black", "White", "Silver", "Midnight Blue"]),
        fixed: None,
        price: (25, 350),
        step: 15,
    },
    Spec {
        handle: "books",
        title: "Books",
        blurb: "Good reads: field guides, cookbooks and page-turners.",
        sku_code: "BOO",
        nouns: [
            ("Cookbook", "Cookbooks"),
            ("Field Guide", "Nature"),
            ("Mystery Novel", "Fiction"),
            ("Travel Journal", "Travel"),
            ("Design Handbook", "Design"),
        ],
        adjectives: [
            "Illustrated",
            "Complete",
            "Pocket",
            "Essential",
            "Collector's",
        ],
        vendors: [
            "Paper Lantern Press",
            "Inkwell Books",
            "Northbound",
            "Margin Notes",
        ],
        materials: [
            "recycled paper",
            "cloth binding",
            "FSC-certified paper",
            "linen cover",
        ],
        vary: ("Format", ["Paperback", "Hardcover", "Ebook", "Audiobook"]),
        fixed: None,
        price: (9, 45),
        step: 6,
    },
    Spec {
        handle: "toys",
        title: "Toys",
        blurb: "Playful, well-made toys and games for all ages.",
        sku_code: "TOY",
        nouns: [
            ("Building Blocks", "Construction"),
            ("Puzzle", "Puzzles"),
            ("Plush Bear", "Plush"),
            ("Board Game", "Games"),
            ("Kite", "Outdoor Play"),
        ],
        adjectives: ["Wooden", "Classic", "Giant", "Family", "Rainbow"],
        vendors: [
            "Playwright Toys",
            "Tiny Tinkers",
            "Meadow Play",
            "Pixel & Co",
        ],
        materials: [
            "beech wood",
            "organic cotton",
            "recycled cardboard",
            "ripstop nylon",
        ],
        vary: ("Age", ["3+", "6+", "8+", "12+"]),
        fixed: None,
        price: (10, 90),
        step: 5,
    },
    Spec {
        handle: "beauty",
        title: "Beauty",
        blurb: "Clean skincare and grooming essentials.",
        sku_code: "BEA",
        nouns: [
            ("Face Serum", "Skincare"),
            ("Hand Cream", "Skincare"),
            ("Lip Balm", "Lip Care"),
            ("Shampoo Bar", "Hair Care"),
            ("Body Oil", "Body Care"),
        ],
        adjectives: [
            "Hydrating",
            "Botanical",
            "Unscented",
            "Nourishing",
            "Calming",
        ],
        vendors: [
            "Bloom Botanics",
            "Pure Ritual",
            "Salt & Stone",
            "Glow Goods",
        ],
        materials: ["shea butter", "jojoba oil", "hyaluronic acid", "aloe vera"],
        vary: ("Size", ["15 ml", "30 ml", "50 ml", "100 ml"]),
        fixed: None,
        price: (8, 70),
        step: 8,
    },
];

/// Handle of the collection holding every discounted product.
pub const SALE_HANDLE: &str = "sale";
const HOUR_MS: i64 = 3_600_000;

/// SplitMix64-style mixing of two indices: deterministic "randomness".
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b)
        .wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Lowercase-hyphenated handle of a title.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') && c != '\'' {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn image(seed: &str, alt: &str, w: i32, h: i32) -> Image {
    Image {
        url: format!("https://picsum.photos/seed/{seed}/{w}/{h}"),
        alt_text: Some(alt.to_string()),
        width: Some(w),
        height: Some(h),
    }
}

/// `dollars - 0.01` in cents (prices end in .99).
fn price_cents(dollars: i64) -> i64 {
    dollars * 100 - 1
}

/// The demo catalog. `base_ms` is the creation time of the newest product.
pub fn demo_catalog(base_ms: i64) -> CatalogData {
    let per_collection = 25usize;
    let total = per_collection * SPECS.len();
    let mut collections: Vec<Collection> = SPECS
        .iter()
        .map(|s| Collection {
            id: format!("coll_{}", s.handle),
            handle: s.handle.to_string(),
            title: s.title.to_string(),
            description: s.blurb.to_string(),
            image: Some(image(
                &format!("collection-{}", s.handle),
                s.title,
                1200,
                600,
            )),
            updated_at_ms: base_ms,
        })
        .collect();
    collections.push(Collection {
        id: format!("coll_{SALE_HANDLE}"),
        handle: SALE_HANDLE.to_string(),
        title: "Sale".to_string(),
        description: "Limited-time markdowns from across the shop.".to_string(),
        image: Some(image("collection-sale", "Sale", 1200, 600)),
        updated_at_ms: base_ms,
    });

    let mut products = Vec::with_capacity(total);
    let mut variants = Vec::new();
    let mut handles = HashSet::new();
    // Interleave collections so that "newest first" mixes departments.
    for round in 0..per_collection {
        for (ci, spec) in SPECS.iter().enumerate() {
            let n = products.len();
            let h = mix(ci as u64, round as u64);
            let adjective = spec.adjectives[round / 5];
            let (noun, product_type) = spec.nouns[round % 5];
            let vendor = spec.vendors[(h % 4) as usize];
            let material = spec.materials[((h >> 8) % 4) as usize];
            let title = format!("{adjective} {noun}");
            let mut handle = slugify(&title);
            if !handles.insert(handle.clone()) {
                handle = format!("{handle}-{}", spec.handle);
                handles.insert(handle.clone());
            }
            let id = format!("prod_{:04}", n + 1);
            let created_at_ms = base_ms - (total - 1 - n) as i64 * 7 * HOUR_MS;
            let updated_at_ms = created_at_ms + ((h >> 16) % 96) as i64 * HOUR_MS;
            let on_sale = (h >> 24).is_multiple_of(4);
            let is_new = n + 30 >= total;

            let (lo, hi) = spec.price;
            let base = lo + ((h >> 32) % (hi - lo + 1) as u64) as i64;
            let variant_count = 1 + ((h >> 40) % 4) as usize;
            let fixed = spec
                .fixed
                .map(|(name, values)| (name, values[((h >> 44) % 4) as usize]));

            let images: Vec<Image> = (0..1 + (h >> 48) % 3)
                .map(|k| {
                    let seed = if k == 0 {
                        handle.clone()
                    } else {
                        format!("{handle}-{}", k + 1)
                    };
                    image(&seed, &title, 800, 800)
                })
                .collect();

            let mut variant_ids = Vec::with_capacity(variant_count);
            let mut prices = Vec::with_capacity(variant_count);
            for (vi, value) in spec.vary.1.iter().take(variant_count).enumerate() {
                let price = price_cents(base + vi as i64 * spec.step);
                let compare = on_sale.then(|| price_cents((price + 1) * 13 / 1000));
                let mut options = vec![SelectedOption {
                    name: spec.vary.0.to_string(),
                    value: value.to_string(),
                }];
                if let Some((name, v)) = fixed {
                    options.push(SelectedOption {
                        name: name.to_string(),
                        value: v.to_string(),
                    });
                }
                let vid = format!("var_{:04}_{}", n + 1, vi + 1);
                variant_ids.push(vid.clone());
                prices.push(price);
                variants.push(Variant {
                    id: vid,
                    product_id: id.clone(),
                    sku: format!("{}-{:04}-{}", spec.sku_code, n + 1, vi + 1),
                    title: options
                        .iter()
                        .map(|o| o.value.as_str())
                        .collect::<Vec<_>>()
                        .join(" / "),
                    price: Money::new(price, "USD"),
                    compare_at_price: compare.map(|c| Money::new(c, "USD")),
                    options,
                    image: images.first().cloned(),
                    position: vi as i32 + 1,
                });
            }

            let mut tags = vec![
                spec.handle.to_string(),
                adjective.to_lowercase(),
                material.to_string(),
            ];
            if let Some((_, v)) = fixed {
                tags.push(v.to_lowercase());
            }
            if on_sale {
                tags.push("sale".to_string());
            }
            if is_new {
                tags.push("new".to_string());
            }
            let mut collection_ids = vec![format!("coll_{}", spec.handle)];
            if on_sale {
                collection_ids.push(format!("coll_{SALE_HANDLE}"));
            }
            let description = format!(
                "The {} {} from {vendor} is made from {material}. {} Designed to be used every day and \
                 built to last for years.",
                adjective.to_lowercase(),
                noun.to_lowercase(),
                spec.blurb
            );
            products.push(Product {
                id,
                handle,
                title,
                description,
                vendor: vendor.to_string(),
                product_type: product_type.to_string(),
                tags,
                images,
                variant_ids,
                collection_ids,
                min_price: Money::new(prices.iter().copied().min().unwrap_or(0), "USD"),
                max_price: Money::new(prices.iter().copied().max().unwrap_or(0), "USD"),
                created_at_ms,
                updated_at_ms,
                version: 1,
            });
        }
    }
    CatalogData {
        collections,
        products,
        variants,
        units_sold: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn demo_catalog_is_rich_unique_and_deterministic() {
        let d = demo_catalog(1_700_000_000_000);
        assert_eq!(d, demo_catalog(1_700_000_000_000));
        assert!(d.products.len() >= 240);
        assert!(d.collections.len() >= 10);
        let handles: HashSet<_> = d.products.iter().map(|p| p.handle.as_str()).collect();
        assert_eq!(handles.len(), d.products.len());
        for h in &handles {
            assert!(
                h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{h}"
            );
        }
        let skus: HashSet<_> = d.variants.iter().map(|v| v.sku.as_str()).collect();
        assert_eq!(skus.len(), d.variants.len());
        let ids: HashSet<_> = d.products.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), d.products.len());
        assert!(d.products.iter().any(|p| p.collection_ids.len() == 2));
        assert!(d.variants.iter().any(|v| v.compare_at_price.is_some()));
        let by_id: HashMap<_, _> = d.variants.iter().map(|v| (v.id.as_str(), v)).collect();
        for p in &d.products {
            assert!((1..=4).contains(&p.variant_ids.len()));
            assert!(shop_kernel::ids::is_valid_token(&p.id));
            assert!(p.images[0].url.starts_with("https://picsum.photos/seed/"));
            let prices: Vec<i64> = p
                .variant_ids
                .iter()
                .map(|v| by_id[v.as_str()].price.amount_minor)
                .collect();
            assert_eq!(p.min_price.amount_minor, *prices.iter().min().unwrap());
            assert_eq!(p.max_price.amount_minor, *prices.iter().max().unwrap());
            for v in &p.variant_ids {
                let v = by_id[v.as_str()];
                assert!(v.price.amount_minor > 0);
                if let Some(c) = &v.compare_at_price {
                    assert!(c.amount_minor > v.price.amount_minor);
                }
            }
            for c in &p.collection_ids {
                assert!(d.collections.iter().any(|x| &x.id == c));
            }
        }
        let collection_ids: HashSet<_> = d.collections.iter().map(|c| c.id.as_str()).collect();
        for c in &collection_ids {
            assert!(
                d.products
                    .iter()
                    .filter(|p| p.collection_ids.iter().any(|x| x == c))
                    .count()
                    >= 10,
                "{c}"
            );
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Chef's Knife"), "chefs-knife");
        assert_eq!(slugify("Roll-Top Backpack"), "roll-top-backpack");
        assert_eq!(
            slugify("Collector's Design Handbook"),
            "collectors-design-handbook"
        );
    }
}
