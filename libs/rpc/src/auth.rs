//! Service-to-service authentication and authorization.
//!
//! Every Thrift call carries a short-lived credential of its *direct* caller in TTHeader metadata (a transient
//! key, so it is never forwarded along the call chain): `v1.<caller>.<callee>.<issued>.<expires>.<signature>`,
//! an Ed25519 signature by the caller's own key over the rest. The callee ([`ServerAuth`]) verifies the
//! signature with the caller's public key from its [`KeyRing`], checks that the credential names it as the
//! audience and is within its lifetime (allowing [`CLOCK_SKEW`]), then checks its per-method [`Acl`]. A call
//! without a valid credential is refused as `UNAUTHENTICATED`, a caller the ACL does not list for the method
//! as `PERMISSION_DENIED`.
//!
//! Private keys never leave the process that signs with them: a split deployment gives each process its own
//! signing key and everyone's public keys. Credentials are reused until half their lifetime is left, and
//! verified credentials are remembered until they expire, so the signature cost is paid about once a minute
//! per caller and callee, not per call.
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    num::NonZeroUsize,
    sync::Arc,
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use metainfo::{Forward as _, METAINFO};
use parking_lot::Mutex;
use pilota::thrift::{ApplicationException, ApplicationExceptionKind};
use shop_kernel::ErrorKind;
use volo::{Layer, Service};
use volo_thrift::{ClientError, ServerError, context::ClientContext, context::ServerContext};

/// Transient metadata key of the direct caller's credential.
pub const META_CREDENTIAL: &str = "thriftshop-credential";
/// How far a credential's times may be off the callee's clock.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);
/// The longest lifetime a callee accepts.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Message prefixes of the Thrift application exceptions a refused call gets (mapped back to typed errors by
/// [`crate::call`]).
pub const UNAUTHENTICATED_PREFIX: &str = "UNAUTHENTICATED: ";
pub const PERMISSION_DENIED_PREFIX: &str = "PERMISSION_DENIED: ";

/// A component that calls services: the gateway, each service, and operators' tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    Gateway,
    Catalog,
    Inventory,
    Cart,
    Order,
    User,
    Session,
    Recommender,
    /// Operators' tools (`thriftshop staff`, stock set-up, seeding).
    Admin,
}

impl Identity {
    /// Every identity.
    pub const ALL: [Identity; 9] = [
        Identity::Gateway,
        Identity::Catalog,
        Identity::Inventory,
        Identity::Cart,
        Identity::Order,
        Identity::User,
        Identity::Session,
        Identity::Recommender,
        Identity::Admin,
    ];

    /// Stable lower-case name (`gateway`, `cart`, …), used in credentials and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Gateway => "gateway",
            Identity::Catalog => "catalog",
            Identity::Inventory => "inventory",
            Identity::Cart => "cart",
            Identity::Order => "order",
            Identity::User => "user",
            Identity::Session => "session",
            Identity::Recommender => "recommender",
            Identity::Admin => "admin",
        }
    }

    /// The identity named `name`.
    pub fn parse(name: &str) -> Option<Identity> {
        Identity::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem with keys or their configuration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown service identity `{0}`")]
    UnknownIdentity(String),
    #[error("the {kind} key of `{identity}` is not valid base64 of 32 bytes")]
    Malformed {
        identity: String,
        kind: &'static str,
    },
    #[error(
        "no signing key for `{0}`: configure service_auth.signing.{0} (THRIFTSHOP__SERVICE_AUTH__SIGNING__{upper}) \
         or service_auth.keys_file",
        upper = .0.to_uppercase()
    )]
    MissingSigningKey(String),
    #[error("reading or writing the keys file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("the keys file {path} is not valid: {reason}")]
    FileFormat { path: String, reason: String },
}

/// Signing keys of the identities this process acts as, and public keys of every caller it accepts.
#[derive(Clone, Default)]
pub struct KeyRing {
    signing: HashMap<Identity, SigningKey>,
    verifying: HashMap<Identity, VerifyingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut signing: Vec<_> = self.signing.keys().collect();
        signing.sort();
        let mut verifying: Vec<_> = self.verifying.keys().collect();
        verifying.sort();
        f.debug_struct("KeyRing")
            .field("signing", &signing)
            .field("verifying", &verifying)
            .finish()
    }
}

fn decode_key(identity: &str, kind: &'static str, b64: &str) -> Result<[u8; 32], KeyError> {
    let malformed = || KeyError::Malformed {
        identity: identity.to_string(),
        kind,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .or_else(|_| B64.decode(b64.trim()))
        .map_err(|_| malformed())?;
    bytes.try_into().map_err(|_| malformed())
}

impl KeyRing {
    /// Fresh random keys for every identity (the all-in-one shop, tests).
    pub fn generate() -> Self {
        let mut ring = KeyRing::default();
        for id in Identity::ALL {
            ring.add_signing(id, SigningKey::from_bytes(&rand::random::<[u8; 32]>()));
        }
        ring
    }

    fn add_signing(&mut self, id: Identity, key: SigningKey) {
        self.verifying.insert(id, key.verifying_key());
        self.signing.insert(id, key);
    }

    /// Keys from configuration maps of identity name → base64: 32-byte Ed25519 seeds (`signing`) and public
    /// keys (`verifying`). A signing key implies its public key.
    pub fn from_config(
        signing: &BTreeMap<String, String>,
        verifying: &BTreeMap<String, String>,
    ) -> Result<Self, KeyError> {
        let mut ring = KeyRing::default();
        ring.merge_config(signing, verifying)?;
        Ok(ring)
    }

    fn merge_config(
        &mut self,
        signing: &BTreeMap<String, String>,
        verifying: &BTreeMap<String, String>,
    ) -> Result<(), KeyError> {
        let identity = |name: &str| {
            Identity::parse(name).ok_or_else(|| KeyError::UnknownIdentity(name.into()))
        };
        for (name, b64) in verifying {
            let id = identity(name)?;
            let key =
                VerifyingKey::from_bytes(&decode_key(name, "verifying", b64)?).map_err(|_| {
                    KeyError::Malformed {
                        identity: name.clone(),
                        kind: "verifying",
                    }
                })?;
            self.verifying.insert(id, key);
        }
        for (name, b64) in signing {
            let id = identity(name)?;
            self.add_signing(
                id,
                SigningKey::from_bytes(&decode_key(name, "signing", b64)?),
            );
        }
        Ok(())
    }

    /// Adds the keys of a keys file (the TOML written by [`KeyRing::to_toml`]).
    pub fn merge_file(&mut self, path: &std::path::Path) -> Result<(), KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::File {
            path: path.display().to_string(),
            source,
        })?;
        let (signing, verifying) =
            parse_keys_toml(&text).map_err(|reason| KeyError::FileFormat {
                path: path.display().to_string(),
                reason,
            })?;
        self.merge_config(&signing, &verifying)
    }

    /// Loads the keys file at `path`, or creates it (mode 0600) with fresh keys for every identity.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self, KeyError> {
        let file_error = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let ring = KeyRing::generate();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(file_error)?;
            }
            // Written aside, then linked into place: when several processes start at once, the first link
            // wins and everyone reads that one.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            write_private(&tmp, ring.to_toml().as_bytes()).map_err(file_error)?;
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => tracing::info!(path = %path.display(), "created the service keys file"),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(file_error(e)),
            }
        }
        let mut ring = KeyRing::default();
        ring.merge_file(path)?;
        Ok(ring)
    }

    /// The ring as a keys file: every signing key (secret) and every public key.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# thriftshop service keys (Ed25519, base64). The [signing] keys are secrets: give each process only\n\
             # its own (service_auth.signing.<identity>) and everyone the [verifying] keys.\n[signing]\n",
        );
        let mut signing: Vec<_> = self.signing.iter().collect();
        signing.sort_by_key(|(id, _)| **id);
        for (id, key) in signing {
            out.push_str(&format!(
                "{id} = \"{}\"\n",
                base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
            ));
        }
        out.push_str("\n[verifying]\n");
        let mut verifying: Vec<_> = self.verifying.iter().collect();
        verifying.sort_by_key(|(id, _)| **id);
        for (id, key) in verifying {
            out.push_str(&format!(
                "{id} = \"{}\"\n",
                base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
            ));
        }
        out
    }

    /// Whether this ring can sign as `id`.
    pub fn can_sign(&self, id: Identity) -> bool {
        self.signing.contains_key(&id)
    }

    /// Whether this ring has any key at all.
    pub fn is_empty(&self) -> bool {
        self.signing.is_empty() && self.verifying.is_empty()
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

type KeyMaps = (BTreeMap<String, String>, BTreeMap<String, String>);

/// Parses the two-table TOML subset [`KeyRing::to_toml`] writes (`[signing]`, `[verifying]`, `name = "b64"`).
fn parse_keys_toml(text: &str) -> Result<KeyMaps, String> {
    let (mut signing, mut verifying) = (BTreeMap::new(), BTreeMap::new());
    let mut table: Option<&mut BTreeMap<String, String>> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line {
            "[signing]" => table = Some(&mut signing),
            "[verifying]" => table = Some(&mut verifying),
            _ => {
                let (name, value) = line
                    .split_once('=')
                    .ok_or_else(|| format!("line {}: expected `name = \"key\"`", n + 1))?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or_else(|| format!("line {}: the key must be a quoted string", n + 1))?;
                table
                    .as_deref_mut()
                    .ok_or_else(|| format!("line {}: outside [signing] or [verifying]", n + 1))?
                    .insert(name.trim().to_string(), value.to_string());
            }
        }
    }
    Ok((signing, verifying))
}

/// Why a credential was refused (logged by the callee; the caller only learns `UNAUTHENTICATED`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no credential")]
    Missing,
    #[error("malformed credential")]
    Malformed,
    #[error("unknown caller `{0}`")]
    UnknownCaller(String),
    #[error("credential for `{0}`, not for this service")]
    WrongAudience(String),
    #[error("expired or not yet valid credential")]
    OutsideLifetime,
    #[error("bad signature")]
    BadSignature,
}

/// Lifetimes of issued credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Lifetime of the credentials this process issues (at most [`MAX_TOKEN_TTL`]).
    pub token_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(60),
        }
    }
}

/// A credential issued for (caller, audience), and the unix ms after which a fresh one is issued.
type IssuedToken = (Arc<str>, u64);

/// Issues and verifies credentials with one [`KeyRing`]; cheap to clone.
#[derive(Clone)]
pub struct ServiceAuth(Arc<Inner>);

struct Inner {
    ring: KeyRing,
    ttl: Duration,
    issued: Mutex<HashMap<(Identity, String), IssuedToken>>,
    /// token → (caller, audience, expires unix s).
    verified: Mutex<lru::LruCache<Arc<str>, (Identity, String, u64)>>,
}

impl fmt::Debug for ServiceAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAuth")
            .field("ring", &self.0.ring)
            .field("ttl", &self.0.ttl)
            .finish()
    }
}

fn unix_ms() -> u64 {
    shop_kernel::now_ms().max(0) as u64
}

impl ServiceAuth {
    /// Credentials from `ring`.
    pub fn new(ring: KeyRing, settings: AuthSettings) -> Self {
        Self(Arc::new(Inner {
            ring,
            ttl: settings
                .token_ttl
                .clamp(Duration::from_secs(1), MAX_TOKEN_TTL),
            issued: Mutex::new(HashMap::new()),
            verified: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(4096).expect("non-zero"),
            )),
        }))
    }

    /// Fresh keys for every identity, in memory (tests, one-process shops).
    pub fn ephemeral() -> Self {
        Self::new(KeyRing::generate(), AuthSettings::default())
    }

    /// The keys.
    pub fn ring(&self) -> &KeyRing {
        &self.0.ring
    }

    /// The client layer that signs calls as `identity`; fails without that identity's signing key.
    pub fn credentials(&self, identity: Identity) -> Result<Credentials, KeyError> {
        if !self.0.ring.can_sign(identity) {
            return Err(KeyError::MissingSigningKey(identity.as_str().into()));
        }
        Ok(Credentials(CredentialSource::Sign {
            auth: self.clone(),
            identity,
        }))
    }

    /// The server layer that admits calls to `acl`'s service.
    pub fn server(&self, acl: Acl) -> ServerAuth {
        ServerAuth {
            auth: self.clone(),
            acl: Arc::new(acl),
        }
    }

    /// A credential of `caller` for `audience`, valid from `issued_at_s` for the configured lifetime (tools and
    /// tests; calls get theirs from [`Credentials`]).
    pub fn token_at(
        &self,
        caller: Identity,
        audience: &str,
        issued_at_s: u64,
    ) -> Result<String, KeyError> {
        let key = self
            .0
            .ring
            .signing
            .get(&caller)
            .ok_or_else(|| KeyError::MissingSigningKey(caller.as_str().into()))?;
        Ok(sign(
            key,
            caller,
            audience,
            issued_at_s,
            issued_at_s + self.0.ttl.as_secs(),
        ))
    }

    /// A current credential of `caller` for `audience`, reused until half its lifetime is left.
    fn token(&self, caller: Identity, audience: &str) -> Result<Arc<str>, KeyError> {
        let now = unix_ms();
        let key = (caller, audience.to_string());
        if let Some((token, refresh_at)) = self.0.issued.lock().get(&key)
            && now < *refresh_at
        {
            return Ok(token.clone());
        }
        let token: Arc<str> = self.token_at(caller, audience, now / 1000)?.into();
        let refresh_at = now + self.0.ttl.as_millis() as u64 / 2;
        self.0
            .issued
            .lock()
            .insert(key, (token.clone(), refresh_at));
        Ok(token)
    }

    /// The caller of a credential presented to `audience`, if it is valid now.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Identity, CredentialError> {
        let now_s = unix_ms() / 1000;
        if let Some((caller, aud, expires)) = self.0.verified.lock().get(token)
            && aud == audience
            && now_s <= expires + CLOCK_SKEW.as_secs()
        {
            return Ok(*caller);
        }
        let parsed = parse_token(token)?;
        let caller = Identity::parse(parsed.caller)
            .ok_or(CredentialError::UnknownCaller(parsed.caller.into()))?;
        let key = self
            .0
            .ring
            .verifying
            .get(&caller)
            .ok_or(CredentialError::UnknownCaller(parsed.caller.into()))?;
        key.verify(parsed.signed.as_bytes(), &parsed.signature)
            .map_err(|_| CredentialError::BadSignature)?;
        if parsed.audience != audience {
            return Err(CredentialError::WrongAudience(parsed.audience.into()));
        }
        let skew = CLOCK_SKEW.as_secs();
        if parsed.expires < parsed.issued
            || parsed.expires - parsed.issued > MAX_TOKEN_TTL.as_secs()
            || parsed.issued > now_s + skew
            || now_s > parsed.expires + skew
        {
            return Err(CredentialError::OutsideLifetime);
        }
        self.0.verified.lock().put(
            Arc::from(token),
            (caller, audience.to_string(), parsed.expires),
        );
        Ok(caller)
    }
}

fn sign(key: &SigningKey, caller: Identity, audience: &str, issued: u64, expires: u64) -> String {
    let signed = format!("v1.{caller}.{audience}.{issued}.{expires}");
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", B64.encode(signature.to_bytes()))
}

struct ParsedToken<'a> {
    signed: &'a str,
    caller: &'a str,
    audience: &'a str,
    issued: u64,
    expires: u64,
    signature: Signature,
}

fn parse_token(token: &str) -> Result<ParsedToken<'_>, CredentialError> {
    if token.len() > 512 {
        return Err(CredentialError::Malformed);
    }
    let (signed, sig) = token.rsplit_once('.').ok_or(CredentialError::Malformed)?;
    let mut parts = signed.split('.');
    let (Some("v1"), Some(caller), Some(audience), Some(issued), Some(expires), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(CredentialError::Malformed);
    };
    let sig: [u8; 64] = B64
        .decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(CredentialError::Malformed)?;
    Ok(ParsedToken {
        signed,
        caller,
        audience,
        issued: issued.parse().map_err(|_| CredentialError::Malformed)?,
        expires: expires.parse().map_err(|_| CredentialError::Malformed)?,
        signature: Signature::from_bytes(&sig),
    })
}

/// Which callers may call which methods of one service. Methods not listed admit nobody.
#[derive(Debug, Clone)]
pub struct Acl {
    service: &'static str,
    rules: BTreeMap<&'static str, Vec<Identity>>,
}

impl Acl {
    /// An empty ACL of service `service` (its short name: `cart`, `inventory`, …).
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            rules: BTreeMap::new(),
        }
    }

    /// Lets `callers` call `methods`.
    pub fn allow(mut self, callers: &[Identity], methods: &[&'static str]) -> Self {
        for m in methods {
            let entry = self.rules.entry(m).or_default();
            for c in callers {
                if !entry.contains(c) {
                    entry.push(*c);
                }
            }
            entry.sort();
        }
        self
    }

    /// The service's short name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Whether `caller` may call `method`.
    pub fn permits(&self, caller: Identity, method: &str) -> bool {
        self.rules
            .get(method)
            .is_some_and(|callers| callers.contains(&caller))
    }

    /// Every listed method with the callers it admits (sorted).
    pub fn rules(&self) -> impl Iterator<Item = (&'static str, &[Identity])> {
        self.rules.iter().map(|(m, c)| (*m, c.as_slice()))
    }
}

/// The client layer that attaches the caller's credential to every call ([`crate::build_client!`]).
#[derive(Clone)]
pub struct Credentials(CredentialSource);

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CredentialSource::Sign { identity, .. } => write!(f, "Credentials({identity})"),
            CredentialSource::Fixed(_) => f.write_str("Credentials(fixed)"),
            CredentialSource::None => f.write_str("Credentials(none)"),
        }
    }
}

#[derive(Clone)]
enum CredentialSource {
    Sign {
        auth: ServiceAuth,
        identity: Identity,
    },
    Fixed(Arc<str>),
    None,
}

impl Credentials {
    /// Presents `token` on every call (tests and tools that exercise the callee's checks).
    pub fn fixed(token: impl Into<Arc<str>>) -> Self {
        Self(CredentialSource::Fixed(token.into()))
    }

    /// Presents no credential (every call is refused; for tests of exactly that).
    pub fn none() -> Self {
        Self(CredentialSource::None)
    }
}

impl<S> Layer<S> for Credentials {
    type Service = CredentialsService<S>;

    fn layer(self, inner: S) -> Self::Service {
        CredentialsService {
            inner,
            source: self.0,
        }
    }
}

/// The service [`Credentials`] wraps around a client.
#[derive(Clone)]
pub struct CredentialsService<S> {
    inner: S,
    source: CredentialSource,
}

impl<S, Req> Service<ClientContext, Req> for CredentialsService<S>
where
    S: Service<ClientContext, Req, Error = ClientError> + Send + Sync + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = ClientError;

    async fn call(&self, cx: &mut ClientContext, req: Req) -> Result<S::Response, ClientError> {
        let token = match &self.source {
            CredentialSource::Sign { auth, identity } => {
                let audience = cx.rpc_info.callee().service_name_ref();
                Some(auth.token(*identity, audience).map_err(|e| {
                    ClientError::Application(ApplicationException::new(
                        ApplicationExceptionKind::UNKNOWN,
                        e.to_string(),
                    ))
                })?)
            }
            CredentialSource::Fixed(t) => Some(t.clone()),
            CredentialSource::None => None,
        };
        // A metainfo of its own for this call: the caller's forwarded keys plus this hop's credential.
        let mut mi = crate::call_metainfo();
        if let Some(token) = token {
            mi.set_transient(META_CREDENTIAL, token.to_string());
        }
        METAINFO
            .scope(std::cell::RefCell::new(mi), self.inner.call(cx, req))
            .await
    }
}

/// The server layer that admits only authenticated callers the service's [`Acl`] lists for the method.
#[derive(Clone)]
pub struct ServerAuth {
    auth: ServiceAuth,
    acl: Arc<Acl>,
}

impl<S> Layer<S> for ServerAuth {
    type Service = ServerAuthService<S>;

    fn layer(self, inner: S) -> Self::Service {
        ServerAuthService {
            inner,
            auth: self.auth,
            acl: self.acl,
        }
    }
}

/// The service [`ServerAuth`] wraps around a server's handler.
#[derive(Clone)]
pub struct ServerAuthService<S> {
    inner: S,
    auth: ServiceAuth,
    acl: Arc<Acl>,
}

fn refuse(kind: ErrorKind, message: String) -> ServerError {
    crate::observe::note_error(kind);
    let prefix = if kind == ErrorKind::Unauthenticated {
        UNAUTHENTICATED_PREFIX
    } else {
        PERMISSION_DENIED_PREFIX
    };
    ServerError::Application(ApplicationException::new(
        ApplicationExceptionKind::UNKNOWN,
        format!("{prefix}{message}"),
    ))
}

impl<S> ServerAuthService<S> {
    /// The authenticated caller of the request being served, or why it is refused.
    fn admit(&self, method: &str) -> Result<Identity, ServerError> {
        let service = self.acl.service;
        let token = METAINFO
            .try_with(|mi| {
                mi.borrow()
                    .get_upstream(META_CREDENTIAL)
                    .map(|t| t.to_string())
            })
            .ok()
            .flatten();
        let caller = token
            .ok_or(CredentialError::Missing)
            .and_then(|t| self.auth.verify(&t, service))
            .map_err(|e| {
                tracing::warn!(service, method, reason = %e, "refused a call without a valid credential");
                refuse(
                    ErrorKind::Unauthenticated,
                    format!("a valid service credential is required to call {service}"),
                )
            })?;
        if !self.acl.permits(caller, method) {
            tracing::warn!(service, method, %caller, "refused a call the ACL does not allow");
            return Err(refuse(
                ErrorKind::PermissionDenied,
                format!("{caller} may not call {service}.{method}"),
            ));
        }
        Ok(caller)
    }
}

impl<S, Req> Service<ServerContext, Req> for ServerAuthService<S>
where
    S: Service<ServerContext, Req, Error = ServerError> + Send + Sync + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = ServerError;

    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, ServerError> {
        let method = cx.rpc_info.method().clone();
        self.admit(&method)?;
        self.inner.call(cx, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_verifies_only_for_its_audience_and_lifetime() {
        let auth = ServiceAuth::ephemeral();
        let now = unix_ms() / 1000;
        let t = auth.token_at(Identity::Order, "inventory", now).unwrap();
        assert_eq!(auth.verify(&t, "inventory"), Ok(Identity::Order));
        assert_eq!(
            auth.verify(&t, "cart"),
            Err(CredentialError::WrongAudience("inventory".into()))
        );
        let old = auth
            .token_at(Identity::Order, "inventory", now - 3_600)
            .unwrap();
        assert_eq!(
            auth.verify(&old, "inventory"),
            Err(CredentialError::OutsideLifetime)
        );
        let future = auth
            .token_at(Identity::Order, "inventory", now + 3_600)
            .unwrap();
        assert_eq!(
            auth.verify(&future, "inventory"),
            Err(CredentialError::OutsideLifetime)
        );
    }

    #[test]
    fn forged_and_tampered_credentials_are_refused() {
        let auth = ServiceAuth::ephemeral();
        let other = ServiceAuth::ephemeral();
        let now = unix_ms() / 1000;
        let forged = other.token_at(Identity::Order, "inventory", now).unwrap();
        assert_eq!(
            auth.verify(&forged, "inventory"),
            Err(CredentialError::BadSignature)
        );
        let genuine = auth.token_at(Identity::Gateway, "inventory", now).unwrap();
        let tampered = genuine.replacen("v1.gateway.", "v1.order.", 1);
        assert_eq!(
            auth.verify(&tampered, "inventory"),
            Err(CredentialError::BadSignature)
        );
        for junk in [
            "",
            "v1",
            "v1.order.inventory.1.2.!!",
            "x.order.inventory.1.2.AAAA",
        ] {
            assert_eq!(
                auth.verify(junk, "inventory"),
                Err(CredentialError::Malformed),
                "{junk}"
            );
        }
        let unknown = format!("v1.mallory.inventory.{now}.{}.AAAA", now + 60);
        assert!(auth.verify(&unknown, "inventory").is_err());
    }

    #[test]
    fn a_ring_without_a_callers_key_refuses_it() {
        let full = ServiceAuth::ephemeral();
        let mut verifying = BTreeMap::new();
        let b64 = |k: &VerifyingKey| base64::engine::general_purpose::STANDARD.encode(k.to_bytes());
        verifying.insert(
            "order".to_string(),
            b64(&full.ring().verifying[&Identity::Order]),
        );
        let callee = ServiceAuth::new(
            KeyRing::from_config(&BTreeMap::new(), &verifying).unwrap(),
            AuthSettings::default(),
        );
        let now = unix_ms() / 1000;
        let from_order = full.token_at(Identity::Order, "inventory", now).unwrap();
        let from_cart = full.token_at(Identity::Cart, "inventory", now).unwrap();
        assert_eq!(callee.verify(&from_order, "inventory"), Ok(Identity::Order));
        assert_eq!(
            callee.verify(&from_cart, "inventory"),
            Err(CredentialError::UnknownCaller("cart".into()))
        );
        assert!(callee.credentials(Identity::Inventory).is_err());
    }

    #[test]
    fn keys_round_trip_through_the_keys_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let created = KeyRing::load_or_create(&path).unwrap();
        let again = KeyRing::load_or_create(&path).unwrap();
        assert_eq!(created.to_toml(), again.to_toml());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the keys file is private");
        }
        let a = ServiceAuth::new(created, AuthSettings::default());
        let b = ServiceAuth::new(again, AuthSettings::default());
        let t = a
            .token_at(Identity::Admin, "user", unix_ms() / 1000)
            .unwrap();
        assert_eq!(b.verify(&t, "user"), Ok(Identity::Admin));
        assert!(parse_keys_toml("[signing]\ngateway = nope\n").is_err());
        assert!(matches!(
            KeyRing::from_config(
                &BTreeMap::from([("mallory".to_string(), "AAAA".to_string())]),
                &BTreeMap::new()
            ),
            Err(KeyError::UnknownIdentity(_))
        ));
    }

    #[test]
    fn acl_admits_only_listed_callers() {
        let acl = Acl::new("inventory")
            .allow(&[Identity::Order], &["commit", "reserve"])
            .allow(&[Identity::Gateway, Identity::Cart], &["get_stock"]);
        assert!(acl.permits(Identity::Order, "commit"));
        assert!(!acl.permits(Identity::Gateway, "commit"));
        assert!(acl.permits(Identity::Cart, "get_stock"));
        assert!(!acl.permits(Identity::Order, "adjust_stock"));
        assert_eq!(acl.rules().count(), 3);
    }
}
