//! Staff writes to the catalog (pure): validation of product input, handle derivation, building a new product
//! and applying a partial update. Checks that need the whole catalog (handle and SKU uniqueness, collections)
//! are made by the application against the index and again by the store.
//!
//! Field paths in errors are the service's input names (`["variants", "0", "price"]`).
use std::collections::HashSet;

use shop_kernel::{Error, Money, Result};

use super::{Product, SelectedOption, Variant};

/// The currency every price of the shop is in.
pub const SHOP_CURRENCY: &str = "USD";
/// Longest handle, in bytes (handles are ASCII).
pub const MAX_HANDLE_CHARS: usize = 255;
/// Longest title (product or variant), in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 65_536;
/// Longest vendor or product type, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Most tags of a product.
pub const MAX_TAGS: usize = 250;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 255;
/// Most collections a product is in.
pub const MAX_COLLECTIONS: usize = 100;
/// Most variants of a product.
pub const MAX_VARIANTS: usize = 100;
/// Longest SKU, in characters.
pub const MAX_SKU_CHARS: usize = 100;
/// Most options of a variant.
pub const MAX_OPTIONS: usize = 3;
/// Longest option name or value, in characters.
pub const MAX_OPTION_CHARS: usize = 255;
/// Highest price, in minor units (1,000,000.00).
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

/// A variant in a product write (see `VariantInput` in catalog.thrift).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantInput {
    /// Update only: the existing variant to change; `None` adds a variant.
    pub id: Option<String>,
    pub sku: Option<String>,
    pub title: Option<String>,
    /// Decimal in major units of [`SHOP_CURRENCY`].
    pub price: Option<String>,
    pub compare_at_price: Option<String>,
    pub clear_compare_at_price: bool,
    pub options: Option<Vec<SelectedOption>>,
}

/// The product-level fields of a write; `None` leaves a field as it is (update) or takes its default (create).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFields {
    pub handle: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Option<Vec<String>>,
    pub collection_ids: Option<Vec<String>>,
}

/// A product after a write, with all its variants and the names of the fields that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub product: Product,
    pub variants: Vec<Variant>,
    /// Changed fields (snake_case); empty when an update changed nothing.
    pub changed: Vec<String>,
}

fn at<S: ToString>(path: &[S]) -> Vec<String> {
    path.iter().map(|s| s.to_string()).collect()
}

fn invalid(code: &'static str, msg: impl Into<String>, field: Vec<String>) -> Error {
    Error::invalid(code, msg).with_field(field)
}

/// A single-line text: trimmed, `1..=max` characters (or empty when allowed), no control characters.
fn line(value: &str, max: usize, allow_empty: bool, field: Vec<String>) -> Result<String> {
    let v = value.trim();
    if v.is_empty() && !allow_empty {
        return Err(invalid("BLANK", "must not be blank", field));
    }
    if v.chars().count() > max {
        return Err(invalid(
            "TOO_LONG",
            format!("must be at most {max} characters"),
            field,
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(
            "INVALID_CHARACTERS",
            "must not contain control characters",
            field,
        ));
    }
    Ok(v.to_string())
}

/// A description: at most [`MAX_DESCRIPTION_CHARS`]; line breaks and tabs allowed, other control characters not.
fn description(value: &str) -> Result<String> {
    let field = at(&["description"]);
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            "TOO_LONG",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            field,
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(
            "INVALID_CHARACTERS",
            "must not contain control characters",
            field,
        ));
    }
    Ok(value.trim().to_string())
}

/// Validates a handle given for a write: 1 to [`MAX_HANDLE_CHARS`] of `a-z`, `0-9` and `-`, not starting or
/// ending with `-`.
pub fn validate_write_handle(handle: &str) -> Result<()> {
    let ok = !handle.is_empty()
        && handle.len() <= MAX_HANDLE_CHARS
        && handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !handle.starts_with('-')
        && !handle.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "INVALID_HANDLE",
            format!(
                "a handle is 1 to {MAX_HANDLE_CHARS} lower-case letters, digits and dashes, not starting or ending with a dash"
            ),
            at(&["handle"]),
        ))
    }
}

/// The handle derived from a title: lower-case ASCII letters and digits, every other run of characters one
/// dash (accents are dropped, not transliterated); `product` when nothing is left.
pub fn derive_handle(title: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
        if out.len() >= MAX_HANDLE_CHARS {
            break;
        }
    }
    out.truncate(MAX_HANDLE_CHARS);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "product".to_string()
    } else {
        out
    }
}

/// Parses a price: a decimal in major units of [`SHOP_CURRENCY`] (`19.99`, `5`, at most as many decimals as the
/// currency has), greater than zero and at most [`MAX_PRICE_MINOR`]. Failures are `code` at `field`.
pub fn parse_price(value: &str, code: &'static str, field: Vec<String>) -> Result<Money> {
    let exp = shop_kernel::money::currency_exponent(SHOP_CURRENCY) as usize;
    let bad = || {
        invalid(
            code,
            format!(
                "a price is a decimal greater than 0 and at most {} with at most {exp} decimals",
                Money::new(MAX_PRICE_MINOR, SHOP_CURRENCY).decimal()
            ),
            field.clone(),
        )
    };
    let v = value.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > exp
        || (v.contains('.') && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let int: i64 = int.parse().map_err(|_| bad())?;
    let mut frac_minor: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    for _ in frac.len()..exp {
        frac_minor *= 10;
    }
    let minor = int
        .checked_mul(10i64.pow(exp as u32))
        .and_then(|m| m.checked_add(frac_minor))
        .ok_or_else(bad)?;
    if minor <= 0 || minor > MAX_PRICE_MINOR {
        return Err(bad());
    }
    Ok(Money::new(minor, SHOP_CURRENCY))
}

fn tags(v: &[String]) -> Result<Vec<String>> {
    if v.len() > MAX_TAGS {
        return Err(invalid(
            "TOO_MANY_TAGS",
            format!("at most {MAX_TAGS} tags"),
            at(&["tags"]),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in v.iter().enumerate() {
        let t = line(
            t,
            MAX_TAG_CHARS,
            false,
            at(&["tags".to_string(), i.to_string()]),
        )
        .map_err(|e| Error {
            code: "INVALID_TAG".into(),
            ..e
        })?;
        if seen.insert(t.to_lowercase()) {
            out.push(t);
        }
    }
    Ok(out)
}

fn collection_ids(v: &[String]) -> Result<Vec<String>> {
    if v.len() > MAX_COLLECTIONS {
        return Err(invalid(
            "TOO_MANY_COLLECTIONS",
            format!("at most {MAX_COLLECTIONS} collections"),
            at(&["collection_ids"]),
        ));
    }
    let mut seen = HashSet::new();
    Ok(v.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect())
}

fn options(v: &[SelectedOption], i: usize) -> Result<Vec<SelectedOption>> {
    let field = |rest: &[String]| {
        let mut f = at(&["variants".to_string(), i.to_string(), "options".to_string()]);
        f.extend_from_slice(rest);
        f
    };
    if v.len() > MAX_OPTIONS {
        return Err(invalid(
            "INVALID_OPTIONS",
            format!("a variant has at most {MAX_OPTIONS} options"),
            field(&[]),
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (j, o) in v.iter().enumerate() {
        let j = j.to_string();
        let name = line(
            &o.name,
            MAX_OPTION_CHARS,
            false,
            field(&[j.clone(), "name".into()]),
        )
        .map_err(|e| Error {
            code: "INVALID_OPTIONS".into(),
            ..e
        })?;
        let value = line(
            &o.value,
            MAX_OPTION_CHARS,
            false,
            field(&[j, "value".into()]),
        )
        .map_err(|e| Error {
            code: "INVALID_OPTIONS".into(),
            ..e
        })?;
        if !names.insert(name.to_lowercase()) {
            return Err(invalid(
                "INVALID_OPTIONS",
                format!("option {name:?} is given twice"),
                field(&[]),
            ));
        }
        out.push(SelectedOption { name, value });
    }
    Ok(out)
}

fn sku(v: &str, i: usize) -> Result<String> {
    line(
        v,
        MAX_SKU_CHARS,
        false,
        at(&["variants".to_string(), i.to_string(), "sku".to_string()]),
    )
    .map_err(|e| Error {
        code: "INVALID_SKU".into(),
        ..e
    })
}

fn vfield(i: usize, name: &str) -> Vec<String> {
    at(&["variants".to_string(), i.to_string(), name.to_string()])
}

/// The title of a variant without one: its option values (`M / Red`), else `Default Title`.
fn default_variant_title(options: &[SelectedOption]) -> String {
    if options.is_empty() {
        "Default Title".to_string()
    } else {
        options
            .iter()
            .map(|o| o.value.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// Applies one variant input to `v` (a copy of an existing variant, or a blank new one), validating each given
/// field. Returns the names of the fields that changed.
fn apply_variant(
    v: &mut Variant,
    input: &VariantInput,
    i: usize,
    new: bool,
) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    if let Some(s) = &input.sku {
        let s = sku(s, i)?;
        if s != v.sku {
            v.sku = s;
            changed.push("sku".to_string());
        }
    } else if new {
        return Err(invalid(
            "BLANK",
            "a new variant needs a SKU",
            vfield(i, "sku"),
        ));
    }
    if let Some(p) = &input.price {
        let p = parse_price(p, "INVALID_PRICE", vfield(i, "price"))?;
        if p != v.price {
            v.price = p;
            changed.push("price".to_string());
        }
    } else if new {
        return Err(invalid(
            "INVALID_PRICE",
            "a new variant needs a price",
            vfield(i, "price"),
        ));
    }
    if input.clear_compare_at_price && input.compare_at_price.is_some() {
        return Err(invalid(
            "INVALID_COMPARE_AT_PRICE",
            "give a compare-at price or clear it, not both",
            vfield(i, "compare_at_price"),
        ));
    }
    if let Some(c) = &input.compare_at_price {
        let c = parse_price(c, "INVALID_COMPARE_AT_PRICE", vfield(i, "compare_at_price"))?;
        if v.compare_at_price.as_ref() != Some(&c) {
            v.compare_at_price = Some(c);
            changed.push("compare_at_price".to_string());
        }
    } else if input.clear_compare_at_price && v.compare_at_price.is_some() {
        v.compare_at_price = None;
        changed.push("compare_at_price".to_string());
    }
    if let Some(o) = &input.options {
        let o = options(o, i)?;
        if o != v.options {
            v.options = o;
            changed.push("options".to_string());
        }
    }
    if let Some(t) = &input.title {
        let t = line(t, MAX_TITLE_CHARS, false, vfield(i, "title"))?;
        if t != v.title {
            v.title = t;
            changed.push("title".to_string());
        }
    } else if new {
        v.title = default_variant_title(&v.options);
    }
    if let Some(c) = &v.compare_at_price
        && c.amount_minor < v.price.amount_minor
    {
        return Err(invalid(
            "INVALID_COMPARE_AT_PRICE",
            "the compare-at price must not be below the price",
            vfield(i, "compare_at_price"),
        ));
    }
    Ok(changed)
}

/// Checks what holds for every product's variant list: 1 to [`MAX_VARIANTS`] variants, SKUs unique within the
/// product, no two variants with the same options.
fn check_variants(variants: &[Variant], positions: &[Option<usize>]) -> Result<()> {
    if variants.len() > MAX_VARIANTS {
        return Err(invalid(
            "TOO_MANY_VARIANTS",
            format!("a product has at most {MAX_VARIANTS} variants"),
            at(&["variants"]),
        ));
    }
    let input_field = |k: usize, name: &str| match positions.get(k).copied().flatten() {
        Some(i) => vfield(i, name),
        None => at(&["variants"]),
    };
    // Where a duplicate is reported: the variant the input touched (of the two that clash).
    let blame = |k: usize, other: usize, name: &str| {
        let k = if positions.get(k).copied().flatten().is_some() {
            k
        } else {
            other
        };
        input_field(k, name)
    };
    let mut skus: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut option_sets: std::collections::HashMap<Vec<(String, String)>, usize> =
        std::collections::HashMap::new();
    for (k, v) in variants.iter().enumerate() {
        if let Some(&other) = skus.get(v.sku.as_str()) {
            return Err(Error::conflict(
                "SKU_TAKEN",
                format!("SKU {:?} is used by another variant", v.sku),
            )
            .with_field(blame(k, other, "sku")));
        }
        skus.insert(v.sku.as_str(), k);
        let mut key: Vec<(String, String)> = v
            .options
            .iter()
            .map(|o| (o.name.to_lowercase(), o.value.to_lowercase()))
            .collect();
        key.sort();
        if let Some(&other) = option_sets.get(&key) {
            return Err(invalid(
                "DUPLICATE_VARIANT",
                "two variants have the same options",
                blame(k, other, "options"),
            ));
        }
        option_sets.insert(key, k);
    }
    Ok(())
}

fn price_range(variants: &[Variant]) -> (Money, Money) {
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
    (
        Money::new(min, SHOP_CURRENCY),
        Money::new(max, SHOP_CURRENCY),
    )
}

/// Builds a new product from `fields` and `variants` (every variant new), with ids from `new_id`.
pub fn create(
    fields: &ProductFields,
    variants: &[VariantInput],
    now_ms: i64,
    mut new_id: impl FnMut() -> String,
) -> Result<Written> {
    let title = line(
        fields.title.as_deref().unwrap_or(""),
        MAX_TITLE_CHARS,
        false,
        at(&["title"]),
    )?;
    let handle = match &fields.handle {
        Some(h) => {
            validate_write_handle(h)?;
            h.clone()
        }
        None => derive_handle(&title),
    };
    let description = description(fields.description.as_deref().unwrap_or(""))?;
    let vendor = line(
        fields.vendor.as_deref().unwrap_or(""),
        MAX_NAME_CHARS,
        true,
        at(&["vendor"]),
    )?;
    let product_type = line(
        fields.product_type.as_deref().unwrap_or(""),
        MAX_NAME_CHARS,
        true,
        at(&["product_type"]),
    )?;
    let tags = tags(fields.tags.as_deref().unwrap_or(&[]))?;
    let collection_ids = collection_ids(fields.collection_ids.as_deref().unwrap_or(&[]))?;
    if variants.is_empty() {
        return Err(invalid(
            "VARIANTS_REQUIRED",
            "a product needs at least one variant",
            at(&["variants"]),
        ));
    }
    if variants.len() > MAX_VARIANTS {
        return Err(invalid(
            "TOO_MANY_VARIANTS",
            format!("a product has at most {MAX_VARIANTS} variants"),
            at(&["variants"]),
        ));
    }
    let id = new_id();
    let mut out = Vec::with_capacity(variants.len());
    for (i, input) in variants.iter().enumerate() {
        if input.id.is_some() {
            return Err(invalid(
                "VARIANT_NOT_FOUND",
                "a new product has no variants to change: leave the id out",
                vfield(i, "id"),
            ));
        }
        let mut v = blank_variant(&id, i as i32 + 1, new_id());
        apply_variant(&mut v, input, i, true)?;
        out.push(v);
    }
    let positions: Vec<Option<usize>> = (0..out.len()).map(Some).collect();
    check_variants(&out, &positions)?;
    let (min_price, max_price) = price_range(&out);
    Ok(Written {
        product: Product {
            id,
            handle,
            title,
            description,
            vendor,
            product_type,
            tags,
            images: Vec::new(),
            variant_ids: out.iter().map(|v| v.id.clone()).collect(),
            collection_ids,
            min_price,
            max_price,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            version: 1,
        },
        variants: out,
        changed: [
            "handle",
            "title",
            "description",
            "vendor",
            "product_type",
            "tags",
            "collection_ids",
            "variants",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    })
}

fn blank_variant(product_id: &str, position: i32, id: String) -> Variant {
    Variant {
        id,
        product_id: product_id.to_string(),
        sku: String::new(),
        title: String::new(),
        price: Money::zero(SHOP_CURRENCY),
        compare_at_price: None,
        options: Vec::new(),
        image: None,
        position,
    }
}

/// Applies a partial update to `current` (with its `variants`): only the given fields change; variants with an
/// id are changed (they must be the product's), variants without one are added. The version goes up by one when
/// anything changed; when nothing did, `changed` is empty and the product is returned as it was.
pub fn update(
    current: &Product,
    current_variants: &[Variant],
    fields: &ProductFields,
    variants: &[VariantInput],
    now_ms: i64,
    mut new_id: impl FnMut() -> String,
) -> Result<Written> {
    let mut p = current.clone();
    let mut changed: Vec<String> = Vec::new();
    let mut set = |name: &str, differs: bool| {
        if differs {
            changed.push(name.to_string());
        }
        differs
    };
    if let Some(t) = &fields.title {
        let t = line(t, MAX_TITLE_CHARS, false, at(&["title"]))?;
        if set("title", t != p.title) {
            p.title = t;
        }
    }
    if let Some(h) = &fields.handle {
        validate_write_handle(h)?;
        if set("handle", *h != p.handle) {
            p.handle = h.clone();
        }
    }
    if let Some(d) = &fields.description {
        let d = description(d)?;
        if set("description", d != p.description) {
            p.description = d;
        }
    }
    if let Some(v) = &fields.vendor {
        let v = line(v, MAX_NAME_CHARS, true, at(&["vendor"]))?;
        if set("vendor", v != p.vendor) {
            p.vendor = v;
        }
    }
    if let Some(t) = &fields.product_type {
        let t = line(t, MAX_NAME_CHARS, true, at(&["product_type"]))?;
        if set("product_type", t != p.product_type) {
            p.product_type = t;
        }
    }
    if let Some(t) = &fields.tags {
        let t = tags(t)?;
        if set("tags", t != p.tags) {
            p.tags = t;
        }
    }
    if let Some(c) = &fields.collection_ids {
        let c = collection_ids(c)?;
        if set("collection_ids", c != p.collection_ids) {
            p.collection_ids = c;
        }
    }
    let mut out: Vec<Variant> = current_variants.to_vec();
    // Which input (if any) each variant of `out` came from, for error paths.
    let mut positions: Vec<Option<usize>> = vec![None; out.len()];
    let mut touched = HashSet::new();
    let mut variants_changed = false;
    for (i, input) in variants.iter().enumerate() {
        match &input.id {
            Some(id) => {
                let Some(k) = out.iter().position(|v| v.id == *id) else {
                    return Err(Error::not_found(
                        "VARIANT_NOT_FOUND",
                        "no such variant of this product",
                    )
                    .with_field(vfield(i, "id")));
                };
                if !touched.insert(id.clone()) {
                    return Err(invalid(
                        "INVALID_VARIANT",
                        "a variant is changed at most once per update",
                        vfield(i, "id"),
                    ));
                }
                let c = apply_variant(&mut out[k], input, i, false)?;
                positions[k] = Some(i);
                variants_changed |= !c.is_empty();
            }
            None => {
                if out.len() >= MAX_VARIANTS {
                    return Err(invalid(
                        "TOO_MANY_VARIANTS",
                        format!("a product has at most {MAX_VARIANTS} variants"),
                        at(&["variants"]),
                    ));
                }
                let position = out.iter().map(|v| v.position).max().unwrap_or(0) + 1;
                let mut v = blank_variant(&p.id, position, new_id());
                apply_variant(&mut v, input, i, true)?;
                out.push(v);
                positions.push(Some(i));
                variants_changed = true;
            }
        }
    }
    check_variants(&out, &positions)?;
    if variants_changed {
        changed.push("variants".to_string());
        p.variant_ids = out.iter().map(|v| v.id.clone()).collect();
        let (min, max) = price_range(&out);
        p.min_price = min;
        p.max_price = max;
    }
    if !changed.is_empty() {
        p.updated_at_ms = now_ms.max(current.updated_at_ms);
        p.version = current.version + 1;
    }
    Ok(Written {
        product: p,
        variants: out,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id{n}")
        }
    }

    fn vin(sku: &str, price: &str) -> VariantInput {
        VariantInput {
            sku: Some(sku.into()),
            price: Some(price.into()),
            ..Default::default()
        }
    }

    fn fields(title: &str) -> ProductFields {
        ProductFields {
            title: Some(title.into()),
            ..Default::default()
        }
    }

    fn code(r: Result<Written>) -> (String, Vec<String>) {
        let e = r.unwrap_err();
        (e.code.to_string(), e.field)
    }

    #[test]
    fn prices_parse_strictly() {
        let f = || vec!["price".to_string()];
        assert_eq!(parse_price("19.99", "P", f()).unwrap().amount_minor, 1999);
        assert_eq!(parse_price("5", "P", f()).unwrap().amount_minor, 500);
        assert_eq!(parse_price("0.5", "P", f()).unwrap().amount_minor, 50);
        assert_eq!(
            parse_price("1000000.00", "P", f()).unwrap().amount_minor,
            MAX_PRICE_MINOR
        );
        for bad in [
            "",
            "0",
            "0.00",
            "-1",
            "1.999",
            "1.",
            ".5",
            "1e3",
            "abc",
            "1,00",
            "1000000.01",
            "99999999999999999999",
            " ",
            "+1",
        ] {
            let e = parse_price(bad, "INVALID_PRICE", f()).unwrap_err();
            assert_eq!(e.code, "INVALID_PRICE", "{bad:?}");
            assert_eq!(e.field, f());
        }
    }

    #[test]
    fn handles_are_derived_and_checked() {
        assert_eq!(derive_handle("Red Wool Sweater!"), "red-wool-sweater");
        assert_eq!(derive_handle("  --Ünïcode Mug 2  "), "n-code-mug-2");
        assert_eq!(derive_handle("!!!"), "product");
        assert_eq!(derive_handle(&"ab ".repeat(200)).len(), 254);
        assert!(validate_write_handle("red-mug-2").is_ok());
        for bad in ["", "Red", "-a", "a-", "a b", "a_b", &"a".repeat(256)] {
            assert_eq!(
                validate_write_handle(bad).unwrap_err().code,
                "INVALID_HANDLE",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn create_builds_a_valid_product() {
        let w = create(
            &ProductFields {
                title: Some("  Trail Shoe ".into()),
                tags: Some(vec!["run".into(), "Run".into(), "trail".into()]),
                ..Default::default()
            },
            &[
                VariantInput {
                    options: Some(vec![SelectedOption {
                        name: "Size".into(),
                        value: "42".into(),
                    }]),
                    compare_at_price: Some("99".into()),
                    ..vin("TS-42", "89.50")
                },
                VariantInput {
                    options: Some(vec![SelectedOption {
                        name: "Size".into(),
                        value: "43".into(),
                    }]),
                    ..vin("TS-43", "91")
                },
            ],
            7,
            ids(),
        )
        .unwrap();
        let p = &w.product;
        assert_eq!((p.id.as_str(), p.handle.as_str()), ("id1", "trail-shoe"));
        assert_eq!(p.title, "Trail Shoe");
        assert_eq!(p.tags, ["run", "trail"]);
        assert_eq!(p.variant_ids, ["id2", "id3"]);
        assert_eq!(
            (p.min_price.amount_minor, p.max_price.amount_minor),
            (8950, 9100)
        );
        assert_eq!(p.version, 1);
        assert_eq!(w.variants[0].title, "42");
        assert_eq!(w.variants[1].position, 2);
        assert_eq!(
            w.variants[0]
                .compare_at_price
                .as_ref()
                .unwrap()
                .amount_minor,
            9900
        );
    }

    #[test]
    fn create_rejects_bad_input_with_field_paths() {
        let v = || vec![vin("A", "1")];
        let cases: Vec<(ProductFields, Vec<VariantInput>, &str, Vec<&str>)> = vec![
            (fields(""), v(), "BLANK", vec!["title"]),
            (fields(&"t".repeat(256)), v(), "TOO_LONG", vec!["title"]),
            (fields("a\u{7}b"), v(), "INVALID_CHARACTERS", vec!["title"]),
            (
                ProductFields {
                    handle: Some("Bad Handle".into()),
                    ..fields("x")
                },
                v(),
                "INVALID_HANDLE",
                vec!["handle"],
            ),
            (
                ProductFields {
                    description: Some("d".repeat(MAX_DESCRIPTION_CHARS + 1)),
                    ..fields("x")
                },
                v(),
                "TOO_LONG",
                vec!["description"],
            ),
            (
                ProductFields {
                    tags: Some(vec!["t".into(); MAX_TAGS + 1]),
                    ..fields("x")
                },
                v(),
                "TOO_MANY_TAGS",
                vec!["tags"],
            ),
            (
                ProductFields {
                    tags: Some(vec!["ok".into(), "".into()]),
                    ..fields("x")
                },
                v(),
                "INVALID_TAG",
                vec!["tags", "1"],
            ),
            (fields("x"), vec![], "VARIANTS_REQUIRED", vec!["variants"]),
            (
                fields("x"),
                (0..101).map(|i| vin(&format!("S{i}"), "1")).collect(),
                "TOO_MANY_VARIANTS",
                vec!["variants"],
            ),
            (
                fields("x"),
                vec![vin("A", "0")],
                "INVALID_PRICE",
                vec!["variants", "0", "price"],
            ),
            (
                fields("x"),
                vec![vin("A", "1"), vin("B", "2.345")],
                "INVALID_PRICE",
                vec!["variants", "1", "price"],
            ),
            (
                fields("x"),
                vec![VariantInput {
                    compare_at_price: Some("0.99".into()),
                    ..vin("A", "1")
                }],
                "INVALID_COMPARE_AT_PRICE",
                vec!["variants", "0", "compare_at_price"],
            ),
            (
                fields("x"),
                vec![VariantInput {
                    sku: None,
                    ..vin("A", "1")
                }],
                "BLANK",
                vec!["variants", "0", "sku"],
            ),
            (
                fields("x"),
                vec![vin("A", "1"), vin("A", "2")],
                "SKU_TAKEN",
                vec!["variants", "1", "sku"],
            ),
            (
                fields("x"),
                vec![vin("A", "1"), vin("B", "2")],
                "DUPLICATE_VARIANT",
                vec!["variants", "1", "options"],
            ),
            (
                fields("x"),
                vec![VariantInput {
                    options: Some(vec![
                        SelectedOption {
                            name: "Size".into(),
                            value: "M".into(),
                        },
                        SelectedOption {
                            name: "size".into(),
                            value: "L".into(),
                        },
                    ]),
                    ..vin("A", "1")
                }],
                "INVALID_OPTIONS",
                vec!["variants", "0", "options"],
            ),
            (
                fields("x"),
                vec![VariantInput {
                    id: Some("v1".into()),
                    ..vin("A", "1")
                }],
                "VARIANT_NOT_FOUND",
                vec!["variants", "0", "id"],
            ),
        ];
        for (f, vs, want, path) in cases {
            let (got, field) = code(create(&f, &vs, 1, ids()));
            assert_eq!(got, want, "{f:?}");
            assert_eq!(field, path, "{want}");
        }
    }

    #[test]
    fn update_changes_only_given_fields() {
        let w = create(
            &ProductFields {
                vendor: Some("Acme".into()),
                ..fields("Mug")
            },
            &[vin("M-1", "10")],
            5,
            ids(),
        )
        .unwrap();
        let (p, vs) = (w.product, w.variants);
        // Nothing given, or the same values: nothing changes, the version stays.
        let same = update(&p, &vs, &fields("Mug"), &[], 9, ids()).unwrap();
        assert!(same.changed.is_empty());
        assert_eq!(same.product, p);
        let u = update(
            &p,
            &vs,
            &ProductFields {
                title: Some("Big Mug".into()),
                ..Default::default()
            },
            &[
                VariantInput {
                    id: Some(vs[0].id.clone()),
                    price: Some("12.50".into()),
                    ..Default::default()
                },
                VariantInput {
                    options: Some(vec![SelectedOption {
                        name: "Size".into(),
                        value: "XL".into(),
                    }]),
                    ..vin("M-2", "15")
                },
            ],
            9,
            || "new".to_string(),
        )
        .unwrap();
        assert_eq!(u.changed, ["title", "variants"]);
        assert_eq!(u.product.title, "Big Mug");
        assert_eq!(u.product.handle, "mug", "the handle is not re-derived");
        assert_eq!(u.product.vendor, "Acme");
        assert_eq!(u.product.version, 2);
        assert_eq!(u.product.updated_at_ms, 9);
        assert_eq!(u.product.variant_ids, [vs[0].id.clone(), "new".into()]);
        assert_eq!(
            (
                u.product.min_price.amount_minor,
                u.product.max_price.amount_minor
            ),
            (1250, 1500)
        );
        assert_eq!(u.variants[0].sku, "M-1");
        assert_eq!(u.variants[1].position, 2);
        assert_eq!(u.variants[1].title, "XL");
    }

    #[test]
    fn update_rejects_bad_variants() {
        let w = create(
            &fields("Mug"),
            &[VariantInput {
                compare_at_price: Some("20".into()),
                ..vin("M-1", "10")
            }],
            5,
            ids(),
        )
        .unwrap();
        let (p, vs) = (w.product, w.variants);
        let id = Some(vs[0].id.clone());
        let cases: Vec<(Vec<VariantInput>, &str, Vec<&str>)> = vec![
            (
                vec![VariantInput {
                    id: Some("other".into()),
                    ..Default::default()
                }],
                "VARIANT_NOT_FOUND",
                vec!["variants", "0", "id"],
            ),
            (
                vec![VariantInput {
                    id: id.clone(),
                    price: Some("25".into()),
                    ..Default::default()
                }],
                "INVALID_COMPARE_AT_PRICE",
                vec!["variants", "0", "compare_at_price"],
            ),
            (
                vec![vin("M-1", "3")],
                "SKU_TAKEN",
                vec!["variants", "0", "sku"],
            ),
            (
                vec![
                    VariantInput {
                        id: id.clone(),
                        title: Some("a".into()),
                        ..Default::default()
                    },
                    VariantInput {
                        id: id.clone(),
                        title: Some("b".into()),
                        ..Default::default()
                    },
                ],
                "INVALID_VARIANT",
                vec!["variants", "1", "id"],
            ),
        ];
        for (vars, want, path) in cases {
            let (got, field) = code(update(&p, &vs, &ProductFields::default(), &vars, 9, ids()));
            assert_eq!((got.as_str(), field), (want, at(&path)));
        }
        // A clash with a variant the input did not touch is reported at the input that caused it.
        let two = update(
            &p,
            &vs,
            &ProductFields::default(),
            &[VariantInput {
                options: Some(vec![SelectedOption {
                    name: "Size".into(),
                    value: "L".into(),
                }]),
                ..vin("M-2", "10")
            }],
            9,
            ids(),
        )
        .unwrap();
        let (got, field) = code(update(
            &two.product,
            &two.variants,
            &ProductFields::default(),
            &[VariantInput {
                id: Some(two.variants[0].id.clone()),
                sku: Some("M-2".into()),
                ..Default::default()
            }],
            10,
            ids(),
        ));
        assert_eq!(
            (got.as_str(), field),
            ("SKU_TAKEN", at(&["variants", "0", "sku"]))
        );
        // Clearing the compare-at price lets the price rise above it.
        let u = update(
            &p,
            &vs,
            &ProductFields::default(),
            &[VariantInput {
                id,
                price: Some("25".into()),
                clear_compare_at_price: true,
                ..Default::default()
            }],
            9,
            ids(),
        )
        .unwrap();
        assert_eq!(u.variants[0].compare_at_price, None);
        assert_eq!(u.variants[0].price.amount_minor, 2500);
    }
}
