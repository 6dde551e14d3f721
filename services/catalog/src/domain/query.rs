//! The product search syntax (a small Shopify-like language) and matching.
//!
//! - Free words (or `"quoted phrases"`) must each occur, case-insensitively, in the title, description, vendor,
//!   product type or a tag. They also score the match for `RELEVANCE` (title 5, tag 3, vendor 2, type 2,
//!   description 1 per word).
//! - `title:x` — the title contains `x`; `vendor:x`, `product_type:x`, `tag:x`, `sku:x` — equal to `x`
//!   (a tag / a variant sku), case-insensitively. Values may be quoted: `vendor:"Acme Co"`.
//! - `price:<N`, `price:<=N`, `price:>N`, `price:>=N`, `price:N` (or `price:=N`) compare the lowest variant
//!   price with `N` in major units (`19.99`, at most two decimals).
//! - Field names are case-insensitive; an unknown field, an empty value, a bad price or an unterminated quote is
//!   an `INVALID_QUERY` error. Queries are at most [`MAX_QUERY_CHARS`] characters.
//! - A `:` inside a word that does not start with letters (e.g. `10:30`) is part of a free word.
use shop_kernel::{Error, Result};

use super::SearchDoc;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 512;

/// A price comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceCmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// A `field:value` filter. Text values are lowercased; prices are in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Title(String),
    Vendor(String),
    ProductType(String),
    Tag(String),
    Sku(String),
    Price(PriceCmp, i64),
}

/// A parsed query: every term and every filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Lowercased free words / phrases.
    pub terms: Vec<String>,
    pub filters: Vec<Filter>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid("INVALID_QUERY", msg).with_field(["query"])
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
}

/// Splits into `(field, value)` tokens, honouring double quotes.
fn tokenize(input: &str) -> Result<Vec<(Option<String>, String)>> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut field = None;
        let mut buf = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match c {
                '"' => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some(ch) => buf.push(ch),
                            None => return Err(invalid("unterminated quote in query")),
                        }
                    }
                }
                ':' if field.is_none() && !quoted && is_field_name(&buf) => {
                    field = Some(buf.to_ascii_lowercase());
                    buf.clear();
                }
                _ => buf.push(c),
            }
        }
        out.push((field, buf));
    }
}

/// Parses a major-unit decimal (`19`, `19.9`, `19.99`) into minor units (2 decimals).
fn parse_major(s: &str) -> Option<i64> {
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() || whole.len() > 15 || frac.len() > 2 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.contains('.') && frac.is_empty() {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    w.checked_mul(100)?.checked_add(f)
}

fn parse_price(value: &str) -> Result<Filter> {
    let (op, rest) = if let Some(r) = value.strip_prefix("<=") {
        (PriceCmp::Le, r)
    } else if let Some(r) = value.strip_prefix(">=") {
        (PriceCmp::Ge, r)
    } else if let Some(r) = value.strip_prefix('<') {
        (PriceCmp::Lt, r)
    } else if let Some(r) = value.strip_prefix('>') {
        (PriceCmp::Gt, r)
    } else if let Some(r) = value.strip_prefix('=') {
        (PriceCmp::Eq, r)
    } else {
        (PriceCmp::Eq, value)
    };
    let amount = parse_major(rest)
        .ok_or_else(|| invalid(format!("`price:{value}` is not a valid price filter")))?;
    Ok(Filter::Price(op, amount))
}

/// Parses a search query.
pub fn parse(input: &str) -> Result<Query> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(format!(
            "the query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut q = Query::default();
    for (field, value) in tokenize(input)? {
        let Some(field) = field else {
            let term = value.trim().to_lowercase();
            if !term.is_empty() {
                q.terms.push(term);
            }
            continue;
        };
        if value.trim().is_empty() {
            return Err(invalid(format!("`{field}:` needs a value")));
        }
        let v = value.trim().to_lowercase();
        q.filters.push(match field.as_str() {
            "title" => Filter::Title(v),
            "vendor" => Filter::Vendor(v),
            "product_type" => Filter::ProductType(v),
            "tag" => Filter::Tag(v),
            "sku" => Filter::Sku(v),
            "price" => parse_price(value.trim())?,
            other => return Err(invalid(format!("unknown search field `{other}`"))),
        });
    }
    Ok(q)
}

impl Query {
    /// `Some(score)` if the product matches (score 0 when there are no free words), else `None`.
    pub(crate) fn score(&self, doc: &SearchDoc, min_price_minor: i64) -> Option<u32> {
        let filters_ok = self.filters.iter().all(|f| match f {
            Filter::Title(v) => doc.title.contains(v.as_str()),
            Filter::Vendor(v) => doc.vendor == *v,
            Filter::ProductType(v) => doc.product_type == *v,
            Filter::Tag(v) => doc.tags.iter().any(|t| t == v),
            Filter::Sku(v) => doc.skus.iter().any(|s| s == v),
            Filter::Price(op, n) => match op {
                PriceCmp::Lt => min_price_minor < *n,
                PriceCmp::Le => min_price_minor <= *n,
                PriceCmp::Gt => min_price_minor > *n,
                PriceCmp::Ge => min_price_minor >= *n,
                PriceCmp::Eq => min_price_minor == *n,
            },
        });
        if !filters_ok {
            return None;
        }
        let mut total = 0u32;
        for t in &self.terms {
            let t = t.as_str();
            let mut s = 0u32;
            if doc.title.contains(t) {
                s += 5;
            }
            if doc.tags.iter().any(|x| x.contains(t)) {
                s += 3;
            }
            if doc.vendor.contains(t) {
                s += 2;
            }
            if doc.product_type.contains(t) {
                s += 2;
            }
            if doc.description.contains(t) {
                s += 1;
            }
            if s == 0 {
                return None;
            }
            total += s;
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_words_filters_and_quotes() {
        let q = parse(
            r#"Red  shirt vendor:"Acme Co" TAG:sale price:<=19.9 sku:APP-1 "soft cotton" 10:30"#,
        )
        .unwrap();
        assert_eq!(q.terms, vec!["red", "shirt", "soft cotton", "10:30"]);
        assert_eq!(
            q.filters,
            vec![
                Filter::Vendor("acme co".into()),
                Filter::Tag("sale".into()),
                Filter::Price(PriceCmp::Le, 1990),
                Filter::Sku("app-1".into()),
            ]
        );
        assert_eq!(parse("").unwrap(), Query::default());
        assert_eq!(parse("   ").unwrap(), Query::default());
    }

    #[test]
    fn price_operators() {
        let p = |s: &str| parse(s).unwrap().filters[0].clone();
        assert_eq!(p("price:<5"), Filter::Price(PriceCmp::Lt, 500));
        assert_eq!(p("price:>5.5"), Filter::Price(PriceCmp::Gt, 550));
        assert_eq!(p("price:>=0.05"), Filter::Price(PriceCmp::Ge, 5));
        assert_eq!(p("price:12"), Filter::Price(PriceCmp::Eq, 1200));
        assert_eq!(p("title:Mug"), Filter::Title("mug".into()));
        assert_eq!(
            p("product_type:\"T-Shirts\""),
            Filter::ProductType("t-shirts".into())
        );
    }

    #[test]
    fn rejects_bad_queries() {
        for bad in [
            "colour:red",
            "vendor:",
            "price:<",
            "price:cheap",
            "price:<1.234",
            "price:<-3",
            "price:1.",
            "vendor:\"Acme",
            "http://example.com",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_QUERY", "{bad}");
            assert_eq!(e.field, vec!["query"]);
        }
        assert!(parse(&"a".repeat(512)).is_ok());
        assert_eq!(parse(&"a".repeat(513)).unwrap_err().code, "INVALID_QUERY");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn major_units_round_trip(cents in 0i64..10_000_000) {
            let s = format!("{}.{:02}", cents / 100, cents % 100);
            prop_assert_eq!(parse_major(&s), Some(cents));
        }
    }
}
