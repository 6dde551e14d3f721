//! Document admission, before async-graphql validates and executes a request:
//! - persisted operations: automatic persisted queries (Apollo's `persistedQuery` extension, hashes registered on
//!   first use) or, with a trusted-documents manifest, an allowlist that refuses every other document;
//! - size limits on the document: tokens (counted before parsing), aliases and root fields (counted over the
//!   operation with fragments expanded, so spreading one fragment many times counts every time);
//! - a cache of parsed documents keyed by the SHA-256 of their text, so repeated operations skip lexing and parsing.
use std::{collections::HashMap, num::NonZeroUsize, path::Path, sync::Arc};

use async_graphql::{
    ServerError,
    parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet},
};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::extension::{PARSE_FAILED, VALIDATION_FAILED};

/// Limits on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Most lexical tokens (names, punctuators, values).
    pub max_tokens: usize,
    /// Most aliased fields in the executed operation.
    pub max_aliases: usize,
    /// Most fields at the root of an operation.
    pub max_root_fields: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_tokens: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
        }
    }
}

/// Which documents are accepted.
#[derive(Debug, Clone, Default)]
pub enum PersistedMode {
    /// Any document; clients may also send only the hash of one they sent before (APQ).
    #[default]
    Automatic,
    /// Only the documents of a trusted manifest (by hash or by text); nothing can be registered.
    Allowlist(Arc<HashMap<String, Arc<str>>>),
}

/// A problem with a trusted-documents manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read the trusted documents {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("the trusted documents {path} are not a manifest: {reason}")]
    Invalid { path: String, reason: String },
}

impl PersistedMode {
    /// Loads a trusted-documents manifest: either a JSON object `{ "<sha256 hex>": "<document>" }` or Apollo's
    /// persisted query manifest `{ "operations": [{ "id": "<sha256 hex>", "body": "<document>" }] }`. Every id
    /// must be the SHA-256 of its document.
    pub fn allowlist_from_file(path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        let invalid = |reason: String| ManifestError::Invalid {
            path: shown.clone(),
            reason,
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut pairs: Vec<(String, String)> = Vec::new();
        match json.get("operations").and_then(|o| o.as_array()) {
            Some(ops) => {
                for op in ops {
                    let (Some(id), Some(body)) = (
                        op.get("id").and_then(|v| v.as_str()),
                        op.get("body").and_then(|v| v.as_str()),
                    ) else {
                        return Err(invalid("every operation needs an id and a body".into()));
                    };
                    pairs.push((id.to_string(), body.to_string()));
                }
            }
            None => {
                let Some(map) = json.as_object() else {
                    return Err(invalid("expected a JSON object".into()));
                };
                for (id, body) in map {
                    let Some(body) = body.as_str() else {
                        return Err(invalid(format!("document {id} is not a string")));
                    };
                    pairs.push((id.clone(), body.to_string()));
                }
            }
        }
        let mut docs = HashMap::new();
        for (id, body) in pairs {
            let id = id.to_ascii_lowercase();
            if sha256_hex(&body) != id {
                return Err(invalid(format!(
                    "id {id} is not the SHA-256 of its document"
                )));
            }
            docs.insert(id, Arc::from(body));
        }
        Ok(PersistedMode::Allowlist(Arc::new(docs)))
    }
}

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn request_error(code: &str, error_code: &str, message: impl Into<String>) -> ServerError {
    let mut e = ServerError::new(message, None);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", code);
    ext.set("errorCode", error_code);
    e
}

/// Admits documents: persisted-operation handling, limits, and the parsed-document cache.
pub struct Admission {
    limits: DocumentLimits,
    mode: PersistedMode,
    /// APQ registrations: hash → document text.
    registered: Mutex<lru::LruCache<String, Arc<str>>>,
    /// Parsed documents that passed the limits, by the SHA-256 of their text.
    parsed: Mutex<lru::LruCache<[u8; 32], Arc<ExecutableDocument>>>,
}

/// Most APQ registrations and cached parsed documents kept.
const CACHE_CAPACITY: usize = 1_000;
/// Longest document that may be registered through APQ or cached (bytes).
const MAX_CACHED_DOCUMENT: usize = 64 * 1024;

impl Admission {
    /// Admission with `limits` in `mode`.
    pub fn new(limits: DocumentLimits, mode: PersistedMode) -> Self {
        let cap = NonZeroUsize::new(CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self {
            limits,
            mode,
            registered: Mutex::new(lru::LruCache::new(cap)),
            parsed: Mutex::new(lru::LruCache::new(cap)),
        }
    }

    /// Resolves `request`'s document (persisted operations), checks the limits, and attaches the parsed document.
    pub fn admit(
        &self,
        mut request: async_graphql::Request,
    ) -> Result<async_graphql::Request, ServerError> {
        let persisted = match request.extensions.remove("persistedQuery") {
            None => None,
            Some(v) => Some(persisted_hash(v)?),
        };
        match (&self.mode, persisted) {
            (PersistedMode::Allowlist(docs), Some(hash)) => {
                let doc = docs.get(&hash).ok_or_else(not_allowed)?;
                if request.query.is_empty() {
                    request.query = doc.to_string();
                } else if sha256_hex(&request.query) != hash {
                    return Err(hash_mismatch());
                }
            }
            (PersistedMode::Allowlist(docs), None) => {
                if !docs.contains_key(&sha256_hex(&request.query)) {
                    return Err(not_allowed());
                }
            }
            (PersistedMode::Automatic, Some(hash)) => {
                if request.query.is_empty() {
                    let known = self.registered.lock().get(&hash).cloned();
                    request.query = known
                        .ok_or_else(|| {
                            request_error(
                                "PERSISTED_QUERY_NOT_FOUND",
                                "PERSISTED_QUERY_NOT_FOUND",
                                "PersistedQueryNotFound",
                            )
                        })?
                        .to_string();
                } else if sha256_hex(&request.query) != hash {
                    return Err(hash_mismatch());
                } else if request.query.len() <= MAX_CACHED_DOCUMENT {
                    // Registered only once it parses and passes the limits (below).
                    self.check_and_parse(&mut request)?;
                    self.registered
                        .lock()
                        .put(hash, Arc::from(request.query.as_str()));
                    return Ok(request);
                }
            }
            (PersistedMode::Automatic, None) => {}
        }
        self.check_and_parse(&mut request)?;
        Ok(request)
    }

    fn check_and_parse(&self, request: &mut async_graphql::Request) -> Result<(), ServerError> {
        let key: [u8; 32] = Sha256::digest(request.query.as_bytes()).into();
        if let Some(doc) = self.parsed.lock().get(&key).cloned() {
            request.set_parsed_query((*doc).clone());
            return Ok(());
        }
        let tokens = count_tokens(&request.query, self.limits.max_tokens);
        if tokens > self.limits.max_tokens {
            return Err(request_error(
                VALIDATION_FAILED,
                "TOO_MANY_TOKENS",
                format!(
                    "the document has more than {} tokens",
                    self.limits.max_tokens
                ),
            ));
        }
        let doc = async_graphql::parser::parse_query(&request.query).map_err(|e| {
            let mut e = ServerError::from(e);
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", PARSE_FAILED);
            e
        })?;
        self.check_shape(&doc)?;
        if request.query.len() <= MAX_CACHED_DOCUMENT {
            self.parsed.lock().put(key, Arc::new(doc.clone()));
        }
        request.set_parsed_query(doc);
        Ok(())
    }

    fn check_shape(&self, doc: &ExecutableDocument) -> Result<(), ServerError> {
        for (_, op) in doc.operations.iter() {
            let set = &op.node.selection_set.node;
            let mut aliases = Counter::new(doc, Counted::Aliases);
            if aliases.count(set) > self.limits.max_aliases {
                return Err(request_error(
                    VALIDATION_FAILED,
                    "TOO_MANY_ALIASES",
                    format!(
                        "an operation may use at most {} aliases",
                        self.limits.max_aliases
                    ),
                ));
            }
            let mut roots = Counter::new(doc, Counted::RootFields);
            if roots.count(set) > self.limits.max_root_fields {
                return Err(request_error(
                    VALIDATION_FAILED,
                    "TOO_MANY_ROOT_FIELDS",
                    format!(
                        "an operation may select at most {} root fields",
                        self.limits.max_root_fields
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn not_allowed() -> ServerError {
    request_error(
        "PERSISTED_QUERY_NOT_ALLOWED",
        "PERSISTED_QUERY_NOT_ALLOWED",
        "only trusted documents are accepted here",
    )
}

fn hash_mismatch() -> ServerError {
    request_error(
        VALIDATION_FAILED,
        "PERSISTED_QUERY_HASH_MISMATCH",
        "provided sha does not match query",
    )
}

/// The `sha256Hash` of a `persistedQuery` extension (version 1).
fn persisted_hash(v: async_graphql::Value) -> Result<String, ServerError> {
    let bad = || {
        request_error(
            VALIDATION_FAILED,
            "INVALID_PERSISTED_QUERY",
            "the persistedQuery extension needs version 1 and a sha256Hash",
        )
    };
    let async_graphql::Value::Object(obj) = v else {
        return Err(bad());
    };
    let version_ok = matches!(obj.get("version"), Some(async_graphql::Value::Number(n)) if n.as_i64() == Some(1));
    match obj.get("sha256Hash") {
        Some(async_graphql::Value::String(h))
            if version_ok && h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(bad()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// Aliased fields anywhere in the operation.
    Aliases,
    /// Fields at the root (through fragments on the root type).
    RootFields,
}

/// Counts over an operation with fragment spreads expanded (memoised per fragment; cycles count 0 — validation
/// rejects them afterwards). Saturating, so pathological nesting cannot overflow.
struct Counter<'a> {
    doc: &'a ExecutableDocument,
    what: Counted,
    memo: HashMap<&'a str, usize>,
    visiting: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn new(doc: &'a ExecutableDocument, what: Counted) -> Self {
        Self {
            doc,
            what,
            memo: HashMap::new(),
            visiting: Vec::new(),
        }
    }

    fn count(&mut self, set: &'a SelectionSet) -> usize {
        let mut n = 0usize;
        for item in &set.items {
            let add = match &item.node {
                Selection::Field(f) => match self.what {
                    Counted::RootFields => 1,
                    Counted::Aliases => usize::from(f.node.alias.is_some())
                        .saturating_add(self.count(&f.node.selection_set.node)),
                },
                Selection::InlineFragment(i) => self.count(&i.node.selection_set.node),
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    match self.doc.fragments.get(name) {
                        Some(def) => self.fragment(name, &def.node),
                        None => 0,
                    }
                }
            };
            n = n.saturating_add(add);
        }
        n
    }

    fn fragment(&mut self, name: &'a str, def: &'a FragmentDefinition) -> usize {
        if let Some(n) = self.memo.get(name) {
            return *n;
        }
        if self.visiting.contains(&name) {
            return 0;
        }
        self.visiting.push(name);
        let n = self.count(&def.selection_set.node);
        self.visiting.pop();
        self.memo.insert(name, n);
        n
    }
}

/// Lexical tokens of a GraphQL document, counting no further than `limit + 1`. Whitespace, commas and comments
/// are ignored; a string (block strings included) is one token; `...` is one token.
pub fn count_tokens(text: &str, limit: usize) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() && n <= limit {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if b[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3, // BOM
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                n += 1;
                if b[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                        i += if b[i..].starts_with(b"\\\"\"\"") {
                            4
                        } else {
                            1
                        };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'.' if b[i..].starts_with(b"...") => {
                n += 1;
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                n += 1;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
            }
            _ => {
                n += 1;
                i += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(limits: DocumentLimits) -> Admission {
        Admission::new(limits, PersistedMode::Automatic)
    }

    fn code(e: &ServerError) -> String {
        match e.extensions.as_ref().and_then(|x| x.get("errorCode")) {
            Some(async_graphql::Value::String(s)) => s.clone(),
            _ => String::new(),
        }
    }

    #[test]
    fn tokens_are_counted_like_a_lexer() {
        assert_eq!(count_tokens("{ a b }", 100), 4);
        assert_eq!(
            count_tokens("query Q($x: Int = -1.5e3) { a(x: $x) }", 100),
            19
        );
        assert_eq!(
            count_tokens(
                r#"{ a(s: "x y \" z") # c d e
            ...F }"#,
                100
            ),
            10
        );
        assert_eq!(
            count_tokens(r#"{ a(s: """ many words "here" """) }"#, 100),
            8
        );
        assert_eq!(
            count_tokens(&"a ".repeat(1_000_000), 10),
            11,
            "stops past the limit"
        );
    }

    #[test]
    fn aliases_count_through_fragments() {
        let a = admission(DocumentLimits {
            max_aliases: 4,
            ..Default::default()
        });
        let ok = "{ a1: products(first: 1) { edges { cursor } } a2: products(first: 1) { edges { cursor } } }";
        assert!(a.admit(async_graphql::Request::new(ok)).is_ok());
        // Two aliases in a fragment spread three times = six.
        let spread = "query { products(first: 1) { edges { node { ...F } } } collections(first: 1) { edges { node { products(first: 1) { edges { node { ...F ...F } } } } } } } fragment F on Product { x: title y: handle }";
        let e = a.admit(async_graphql::Request::new(spread)).unwrap_err();
        assert_eq!(code(&e), "TOO_MANY_ALIASES");
        // A cycle does not hang the counter (validation rejects it later).
        let cyclic = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(a.admit(async_graphql::Request::new(cyclic)).is_ok());
    }

    #[test]
    fn root_fields_and_tokens_are_capped() {
        let a = admission(DocumentLimits {
            max_root_fields: 3,
            max_tokens: 40,
            ..Default::default()
        });
        let e = a
            .admit(async_graphql::Request::new(
                "{ ...F } fragment F on Query { a b c d }",
            ))
            .unwrap_err();
        assert_eq!(code(&e), "TOO_MANY_ROOT_FIELDS");
        let e = a
            .admit(async_graphql::Request::new(format!(
                "{{ {} }}",
                "a ".repeat(50)
            )))
            .unwrap_err();
        assert_eq!(code(&e), "TOO_MANY_TOKENS");
    }

    #[test]
    fn automatic_persisted_queries_register_then_serve_by_hash() {
        let a = admission(DocumentLimits::default());
        let q = "{ shop { name } }";
        let hash = sha256_hex(q);
        let ext = |h: &str| {
            let mut m = async_graphql::indexmap::IndexMap::new();
            m.insert(
                async_graphql::Name::new("version"),
                async_graphql::Value::from(1),
            );
            m.insert(
                async_graphql::Name::new("sha256Hash"),
                async_graphql::Value::from(h),
            );
            async_graphql::Value::Object(m)
        };
        let by_hash = |h: &str| {
            let mut r = async_graphql::Request::new("");
            r.extensions.insert("persistedQuery".into(), ext(h));
            r
        };
        let e = a.admit(by_hash(&hash)).unwrap_err();
        assert_eq!(e.message, "PersistedQueryNotFound");
        let mut wrong = async_graphql::Request::new(q);
        wrong
            .extensions
            .insert("persistedQuery".into(), ext(&"0".repeat(64)));
        assert_eq!(
            code(&a.admit(wrong).unwrap_err()),
            "PERSISTED_QUERY_HASH_MISMATCH"
        );
        let mut register = async_graphql::Request::new(q);
        register
            .extensions
            .insert("persistedQuery".into(), ext(&hash));
        assert!(a.admit(register).is_ok());
        assert_eq!(a.admit(by_hash(&hash)).unwrap().query, q);
    }

    #[test]
    fn allowlist_refuses_unknown_documents() {
        let q = "{ shop { name } }";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted.json");
        std::fs::write(&path, serde_json::json!({ sha256_hex(q): q }).to_string()).unwrap();
        let mode = PersistedMode::allowlist_from_file(&path).unwrap();
        let a = Admission::new(DocumentLimits::default(), mode);
        assert!(a.admit(async_graphql::Request::new(q)).is_ok());
        let e = a
            .admit(async_graphql::Request::new(
                "{ products(first: 1) { edges { cursor } } }",
            ))
            .unwrap_err();
        assert_eq!(code(&e), "PERSISTED_QUERY_NOT_ALLOWED");
        std::fs::write(&path, serde_json::json!({ "abc": q }).to_string()).unwrap();
        assert!(
            PersistedMode::allowlist_from_file(&path).is_err(),
            "ids must be hashes"
        );
    }
}
