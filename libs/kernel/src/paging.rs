//! Relay-style paging over an ordered list with opaque offset cursors.
use base64::Engine;

use crate::{Error, Result};

/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i64 = 250;

/// A Relay page request: `first`/`after` forwards or `last`/`before` backwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub first: Option<i64>,
    pub after: Option<String>,
    pub last: Option<i64>,
    pub before: Option<String>,
}

/// One page of items with their cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursors: Vec<String>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(field: &'static str, cursor: &str) -> Result<usize> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
        .ok_or_else(|| {
            Error::invalid("INVALID_CURSOR", format!("`{field}` is not a valid cursor"))
                .with_field([field])
        })
}

impl PageRequest {
    /// Forward page of `first` items.
    pub fn first(n: i64) -> Self {
        Self {
            first: Some(n),
            ..Self::default()
        }
    }

    /// Validates sizes and cursors. `default_size` applies when neither `first` nor `last` is given.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("first", self.first), ("last", self.last)] {
            if let Some(n) = v {
                if n < 0 {
                    return Err(Error::invalid(
                        "INVALID_PAGE_SIZE",
                        format!("`{name}` must not be negative"),
                    )
                    .with_field([name]));
                }
                if n > MAX_PAGE_SIZE {
                    return Err(Error::invalid(
                        "PAGE_SIZE_TOO_LARGE",
                        format!("`{name}` must be at most {MAX_PAGE_SIZE}"),
                    )
                    .with_field([name]));
                }
            }
        }
        if let Some(a) = &self.after {
            decode_cursor("after", a)?;
        }
        if let Some(b) = &self.before {
            decode_cursor("before", b)?;
        }
        Ok(())
    }

    /// Cuts a page out of `items` (already filtered and ordered).
    pub fn apply<T: Clone>(&self, items: &[T], default_size: i64) -> Result<Page<T>> {
        self.validate()?;
        let len = items.len();
        let mut start = match &self.after {
            Some(a) => (decode_cursor("after", a)? + 1).min(len),
            None => 0,
        };
        let mut end = match &self.before {
            Some(b) => decode_cursor("before", b)?.min(len),
            None => len,
        };
        if end < start {
            end = start;
        }
        if let Some(first) = self.first {
            end = end.min(start + first as usize);
        }
        if let Some(last) = self.last {
            start = start.max(end.saturating_sub(last as usize));
        }
        if self.first.is_none() && self.last.is_none() {
            end = end.min(start + default_size.clamp(0, MAX_PAGE_SIZE) as usize);
        }
        Ok(Page {
            items: items[start..end].to_vec(),
            cursors: (start..end).map(encode_cursor).collect(),
            has_next_page: end < len,
            has_previous_page: start > 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forward_paging_walks_everything_once() {
        let items: Vec<u32> = (0..10).collect();
        let mut seen = vec![];
        let mut after = None;
        loop {
            let p = PageRequest {
                first: Some(3),
                after: after.clone(),
                ..Default::default()
            }
            .apply(&items, 20)
            .unwrap();
            seen.extend(p.items.iter().copied());
            if !p.has_next_page {
                break;
            }
            after = p.cursors.last().cloned();
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn backward_paging() {
        let items: Vec<u32> = (0..10).collect();
        let p = PageRequest {
            last: Some(3),
            ..Default::default()
        }
        .apply(&items, 20)
        .unwrap();
        assert_eq!(p.items, vec![7, 8, 9]);
        assert!(p.has_previous_page && !p.has_next_page);
        let p2 = PageRequest {
            last: Some(3),
            before: Some(p.cursors[0].clone()),
            ..Default::default()
        }
        .apply(&items, 20)
        .unwrap();
        assert_eq!(p2.items, vec![4, 5, 6]);
    }

    #[test]
    fn bad_input_is_rejected() {
        let items = [1, 2, 3];
        assert_eq!(
            PageRequest::first(251).apply(&items, 5).unwrap_err().code,
            "PAGE_SIZE_TOO_LARGE"
        );
        assert_eq!(
            PageRequest::first(-1).apply(&items, 5).unwrap_err().code,
            "INVALID_PAGE_SIZE"
        );
        let bad = PageRequest {
            after: Some("!!".into()),
            ..Default::default()
        };
        assert_eq!(bad.apply(&items, 5).unwrap_err().code, "INVALID_CURSOR");
    }

    proptest! {
        #[test]
        fn pages_are_within_bounds(len in 0usize..50, first in 0i64..60, after in proptest::option::of(0usize..60)) {
            let items: Vec<usize> = (0..len).collect();
            let req = PageRequest { first: Some(first.min(MAX_PAGE_SIZE)), after: after.map(encode_cursor), ..Default::default() };
            let p = req.apply(&items, 10).unwrap();
            prop_assert!(p.items.len() as i64 <= first);
            prop_assert_eq!(p.items.len(), p.cursors.len());
            if let (Some(a), Some(f)) = (after, p.items.first()) { prop_assert_eq!(*f, a + 1); }
        }
    }
}
