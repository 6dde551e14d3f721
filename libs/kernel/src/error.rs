//! One error vocabulary from domain to Thrift exception to GraphQL `extensions.code`.
use std::borrow::Cow;

/// The broad class of an error; maps 1:1 to the Thrift `ErrorKind` and GraphQL `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    Conflict,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
    Internal,
}

impl ErrorKind {
    /// SCREAMING_SNAKE name, as used in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::FailedPrecondition => "FAILED_PRECONDITION",
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::Internal => "INTERNAL",
        }
    }
}

/// A typed error with a stable machine `code` (e.g. `CART_NOT_FOUND`) and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} {code}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Path of the offending input field, when the error is about one.
    pub field: Vec<String>,
}

/// Result with the kernel [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a stable `code`.
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
            field: Vec::new(),
        }
    }
    pub fn invalid(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, code, message)
    }
    pub fn not_found(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }
    pub fn conflict(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }
    pub fn precondition(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::FailedPrecondition, code, message)
    }
    pub fn unauthenticated(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, message)
    }
    pub fn permission_denied(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ErrorKind::PermissionDenied, code, message)
    }
    pub fn unavailable(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, code, message)
    }
    /// An internal failure. The detail is for logs; clients only see a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::Internal,
            "INTERNAL",
            format!("internal error: {detail}"),
        )
    }
    /// Attaches the input field path this error is about.
    pub fn with_field<I, S>(mut self, path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.field = path.into_iter().map(Into::into).collect();
        self
    }
    /// The message safe to show a client: internals are replaced by a generic text.
    pub fn public_message(&self) -> &str {
        if self.kind == ErrorKind::Internal {
            "internal error"
        } else {
            &self.message
        }
    }
}
