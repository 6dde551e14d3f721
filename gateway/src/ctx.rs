//! Request context helpers: clients, loaders, the caller, paging.
use std::sync::Arc;

use async_graphql::{
    Context, OutputType,
    connection::{Connection, Edge},
};
use shop_idl::common;
use shop_kernel::{Actor, Error, Permission, paging::MAX_PAGE_SIZE};

use crate::{
    clients::Clients,
    error::{GqlResult, gql},
    loaders::{CatalogReads, Loaders},
};

/// The clients of the schema.
pub fn clients<'a>(ctx: &Context<'a>) -> GqlResult<&'a Arc<Clients>> {
    ctx.data::<Arc<Clients>>()
        .map_err(|_| gql(Error::internal("clients missing from schema data")))
}

/// The loaders of the schema.
pub fn loaders<'a>(ctx: &Context<'a>) -> GqlResult<&'a Arc<Loaders>> {
    ctx.data::<Arc<Loaders>>()
        .map_err(|_| gql(Error::internal("loaders missing from schema data")))
}

/// The schema's coalesced catalog reads.
pub fn catalog_reads<'a>(ctx: &Context<'a>) -> GqlResult<&'a Arc<CatalogReads>> {
    ctx.data::<Arc<CatalogReads>>()
        .map_err(|_| gql(Error::internal("catalog reads missing from schema data")))
}

/// The caller (a guest when the request carries no identity).
pub fn actor(ctx: &Context<'_>) -> Actor {
    ctx.data_opt::<Actor>().cloned().unwrap_or_default()
}

/// Fails with a top-level `PERMISSION_DENIED` (`ACCESS_DENIED`) unless the caller is staff holding `p`.
pub fn require(ctx: &Context<'_>, p: Permission) -> GqlResult<()> {
    if actor(ctx).may(p) {
        Ok(())
    } else {
        Err(gql(Error::permission_denied(
            "ACCESS_DENIED",
            format!("this operation needs the {} staff permission", p.as_str()),
        )))
    }
}

/// Relay paging arguments.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    /// Paging arguments from a resolver's arguments.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }

    /// Validates sizes (0..=250) and cursor lengths.
    pub fn validate(&self) -> Result<(), Error> {
        for (name, v) in [("first", self.first), ("last", self.last)] {
            if let Some(n) = v {
                if n < 0 {
                    return Err(Error::invalid(
                        "INVALID_PAGE_SIZE",
                        format!("`{name}` must not be negative"),
                    )
                    .with_field([name]));
                }
                if i64::from(n) > MAX_PAGE_SIZE {
                    return Err(Error::invalid(
                        "PAGE_SIZE_TOO_LARGE",
                        format!("`{name}` must be at most {MAX_PAGE_SIZE}"),
                    )
                    .with_field([name]));
                }
            }
        }
        for (name, v) in [("after", &self.after), ("before", &self.before)] {
            if v.as_ref().is_some_and(|c| c.is_empty() || c.len() > 512) {
                return Err(Error::invalid(
                    "INVALID_CURSOR",
                    format!("`{name}` is not a valid cursor"),
                )
                .with_field([name]));
            }
        }
        Ok(())
    }

    /// The wire page request (validated).
    pub fn to_wire(&self) -> GqlResult<common::PageRequest> {
        self.validate().map_err(gql)?;
        Ok(common::PageRequest {
            first: self.first,
            after: self.after.clone().map(Into::into),
            last: self.last,
            before: self.before.clone().map(Into::into),
        })
    }

    /// The kernel page request (validated), to page a list held in memory.
    pub fn to_kernel(&self) -> GqlResult<shop_kernel::PageRequest> {
        self.validate().map_err(gql)?;
        let req = shop_kernel::PageRequest {
            first: self.first.map(i64::from),
            after: self.after.clone(),
            last: self.last.map(i64::from),
            before: self.before.clone(),
        };
        req.validate().map_err(gql)?;
        Ok(req)
    }

    /// Complexity multiplier of a connection field with these arguments.
    pub fn weight(first: Option<i32>, last: Option<i32>) -> usize {
        first.or(last).unwrap_or(20).clamp(1, MAX_PAGE_SIZE as i32) as usize
    }
}

/// Default size of an in-memory page when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i64 = 20;

/// A connection from a service page.
pub fn connection_from_wire<T: OutputType>(
    items: Vec<T>,
    cursors: Vec<pilota::FastStr>,
    page: &common::PageInfo,
) -> Connection<String, T> {
    let mut conn = Connection::new(page.has_previous_page, page.has_next_page);
    for (i, item) in items.into_iter().enumerate() {
        let cursor = cursors.get(i).map(|c| c.to_string()).unwrap_or_default();
        conn.edges.push(Edge::new(cursor, item));
    }
    conn
}

/// A connection cut out of a list held in memory.
pub fn connection_from_list<S: Clone, T: OutputType>(
    list: &[S],
    args: &PageArgs,
    f: impl FnMut(S) -> T,
) -> GqlResult<Connection<String, T>> {
    let page = args.to_kernel()?.apply(list, DEFAULT_PAGE).map_err(gql)?;
    let mut conn = Connection::new(page.has_previous_page, page.has_next_page);
    conn.edges.extend(
        page.cursors
            .into_iter()
            .zip(page.items.into_iter().map(f))
            .map(|(c, n)| Edge::new(c, n)),
    );
    Ok(conn)
}

/// Strings of a wire list.
pub fn strings(v: &[pilota::FastStr]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
