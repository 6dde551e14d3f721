//! User use cases over the [`CustomerStore`] port, and bounded argon2id password hashing ([`Passwords`]).
use std::{sync::Arc, time::Duration};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use shop_kernel::{Actor, Error, ErrorKind, Permissions};
use shop_store::StoreError;
use tokio::sync::{OnceCell, Semaphore};

use crate::{
    domain::{
        self, AddressInput, Customer, PasswordChangeReason, ProfilePatch, Registration, ResetToken,
        UserEvent,
        reset::{self, RESET_TOKEN_BYTES},
        validate,
    },
    events::{self, PasswordResetMail},
    store::{CreateOutcome, CustomerStore},
};

/// Argon2id memory cost, KiB (OWASP recommendation).
pub const ARGON2_M_KIB: u32 = 19_456;
/// Argon2id iterations.
pub const ARGON2_T: u32 = 2;
/// Argon2id lanes.
pub const ARGON2_P: u32 = 1;
/// Default bound on concurrent hash computations.
pub const DEFAULT_HASH_CONCURRENCY: usize = 2;
/// Most ids accepted by one `get_customers` call.
pub const MAX_IDS_PER_CALL: usize = 100;
/// Attempts of a read-modify-write before a concurrent modification is reported.
const UPDATE_ATTEMPTS: usize = 3;

/// Argon2id hashing and verification on the blocking pool, at most `N` at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).map_err(Error::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Passwords {
    /// Hashing bounded to `max_concurrent` (at least 1) computations at a time.
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Error> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(Error::internal)?
    }

    /// An argon2id PHC string for `password` with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        self.blocking(move || {
            let mut salt_bytes = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
            let salt = SaltString::encode_b64(&salt_bytes).map_err(Error::internal)?;
            Ok(argon2()?
                .hash_password(password.as_bytes(), &salt)
                .map_err(Error::internal)?
                .to_string())
        })
        .await
    }

    /// Does `password` match the PHC string `hash`? (Parameters are read from the hash.)
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Error> {
        self.blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(Error::internal)?;
            Ok(argon2()?
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    /// Spends one verification against a fixed dummy hash, so unknown emails cost as much as known ones.
    pub async fn verify_dummy(&self, password: String) -> Result<(), Error> {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash(shop_kernel::ids::secret_token(16)))
            .await?
            .clone();
        self.verify(password, dummy).await.map(|_| ())
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new(DEFAULT_HASH_CONCURRENCY)
    }
}

fn invalid_credentials() -> Error {
    Error::unauthenticated("INVALID_CREDENTIALS", "Unidentified customer")
}

fn customer_not_found() -> Error {
    Error::not_found("CUSTOMER_NOT_FOUND", "no such customer").with_field(["customer_id"])
}

fn email_taken() -> Error {
    Error::conflict("EMAIL_TAKEN", "an account with this email already exists")
        .with_field(["email"])
}

/// How password resets behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSettings {
    /// How long a reset link works (`user.password_reset_ttl_ms`, 1 h by default).
    pub ttl: Duration,
    /// The page of the storefront that takes a reset link (`user.password_reset_url`); the mail's link is
    /// `<url>/<customer id>/<token>`.
    pub url: String,
    /// `request_password_reset` answers no sooner than this, whether or not the email has an account, so that
    /// its timing does not tell which emails have one.
    pub min_answer: Duration,
}

/// Default `user.password_reset_url`.
pub const DEFAULT_RESET_URL: &str = "http://127.0.0.1:8080/account/reset";

impl Default for ResetSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            url: DEFAULT_RESET_URL.to_string(),
            min_answer: Duration::from_millis(150),
        }
    }
}

fn system_only(actor: &Actor) -> Result<(), Error> {
    if actor.system {
        Ok(())
    } else {
        Err(Error::permission_denied(
            "CALLER_NOT_ALLOWED",
            "only internal callers may do this",
        ))
    }
}

/// The password policy of registration, reported on `field`.
fn password_policy(password: &str, field: &str) -> Result<(), Error> {
    validate::validate_password(password).map_err(|e| e.with_field([field]))
}

/// The user service's use cases.
pub struct UserApp<S> {
    store: S,
    passwords: Passwords,
    reset: ResetSettings,
}

impl<S: CustomerStore> UserApp<S> {
    /// Use cases over `store`, hashing with `passwords`, with the default [`ResetSettings`].
    pub fn new(store: S, passwords: Passwords) -> Self {
        Self {
            store,
            passwords,
            reset: ResetSettings::default(),
        }
    }

    /// The same, with `reset` governing password resets.
    pub fn with_reset(mut self, reset: ResetSettings) -> Self {
        self.reset = reset;
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Registers a customer: validates everything, hashes the password, stores the customer and
    /// `user.registered.v1` together.
    pub async fn register(&self, reg: Registration) -> Result<Customer, Error> {
        let now = shop_kernel::now_ms();
        let (customer, domain_events) = domain::register(shop_kernel::ids::new_id(), &reg, now)?;
        // Cheap early answer; the unique index still decides races below.
        if self.store.credentials(&customer.email).await?.is_some() {
            return Err(email_taken());
        }
        let hash = self.passwords.hash(reg.password).await?;
        let records = domain_events
            .iter()
            .map(|e| events::to_new_event(e, now))
            .collect();
        match self.store.create(customer.clone(), hash, records).await? {
            CreateOutcome::Created => {
                tracing::info!(customer_id = %customer.id, "customer registered");
                Ok(customer)
            }
            CreateOutcome::EmailTaken => Err(email_taken()),
        }
    }

    /// Checks an email and password. Unknown emails and wrong passwords fail alike, after one argon2 verification.
    pub async fn authenticate(&self, email: &str, password: &str) -> Result<Customer, Error> {
        let password_ok = validate::validate_password(password).is_ok();
        // Never hash unbounded input: an over-long password is verified as empty (and fails).
        let candidate = if password_ok {
            password.to_string()
        } else {
            String::new()
        };
        let credentials = match validate::normalize_email(email) {
            Ok(email) => self.store.credentials(&email).await?,
            Err(_) => None,
        };
        let Some(credentials) = credentials else {
            self.passwords.verify_dummy(candidate).await?;
            return Err(invalid_credentials());
        };
        let matches = self
            .passwords
            .verify(candidate, credentials.password_hash)
            .await?;
        if !(matches && password_ok) {
            return Err(invalid_credentials());
        }
        self.store
            .get(&credentials.customer_id)
            .await?
            .ok_or_else(invalid_credentials)
    }

    /// The customers among `ids` that `actor` may see (its own record, or any for the system), in the order asked.
    pub async fn get_customers(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> Result<Vec<Customer>, Error> {
        if ids.len() > MAX_IDS_PER_CALL {
            return Err(Error::invalid(
                "TOO_MANY_IDS",
                format!("at most {MAX_IDS_PER_CALL} ids per call"),
            )
            .with_field(["ids"]));
        }
        let mut wanted: Vec<String> = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            validate::id(id, &["ids", &i.to_string()])?;
            if actor.may_access(Some(id)) && !wanted.contains(id) {
                wanted.push(id.clone());
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store.get_many(&wanted).await?)
    }

    /// Changes the profile of `customer_id` (the caller's own, or any for the system).
    pub async fn update_profile(
        &self,
        actor: &Actor,
        customer_id: &str,
        patch: ProfilePatch,
    ) -> Result<Customer, Error> {
        self.modify(actor, customer_id, |c, now| c.update_profile(&patch, now))
            .await
    }

    /// Adds an address to `customer_id`'s address book.
    pub async fn add_address(
        &self,
        actor: &Actor,
        customer_id: &str,
        input: AddressInput,
        make_default: bool,
    ) -> Result<Customer, Error> {
        let address_id = shop_kernel::ids::new_id();
        self.modify(actor, customer_id, |c, now| {
            c.add_address(address_id.clone(), &input, make_default, now)
        })
        .await
    }

    /// Replaces address `address_id` of `customer_id`.
    pub async fn update_address(
        &self,
        actor: &Actor,
        customer_id: &str,
        address_id: &str,
        input: AddressInput,
    ) -> Result<Customer, Error> {
        validate::id(address_id, &["address_id"])?;
        self.modify(actor, customer_id, |c, now| {
            c.update_address(address_id, &input, now)
        })
        .await
    }

    /// Deletes address `address_id` of `customer_id` (moving the default if needed).
    pub async fn delete_address(
        &self,
        actor: &Actor,
        customer_id: &str,
        address_id: &str,
    ) -> Result<Customer, Error> {
        validate::id(address_id, &["address_id"])?;
        self.modify(actor, customer_id, |c, now| {
            c.delete_address(address_id, now)
        })
        .await
    }

    /// Grants exactly `permissions` (stable names) to the customer with `email`. Internal callers only: staff are
    /// appointed by operators (`thriftshop staff grant`), never through the public API.
    pub async fn set_permissions(
        &self,
        actor: &Actor,
        email: &str,
        permissions: &[String],
    ) -> Result<Customer, Error> {
        if !actor.system {
            return Err(Error::permission_denied(
                "CALLER_NOT_ALLOWED",
                "only internal callers may change permissions",
            ));
        }
        let permissions =
            Permissions::from_names(permissions.iter().map(String::as_str)).map_err(|name| {
                Error::invalid("UNKNOWN_PERMISSION", format!("unknown permission {name:?}"))
                    .with_field(["permissions"])
            })?;
        let email = validate::normalize_email(email)?;
        let credentials = self
            .store
            .credentials(&email)
            .await?
            .ok_or_else(|| customer_not_found().with_field(["email"]))?;
        self.modify(actor, &credentials.customer_id, |c, now| {
            Ok(c.set_permissions(permissions, now))
        })
        .await
    }

    /// Changes the signed-in customer's password: `current` must be right (else UNAUTHENTICATED
    /// `CURRENT_PASSWORD_INVALID`, after one argon2 verification), `new` follows the registration policy. Stores
    /// the new hash and `user.password_changed.v1` together. Sessions are the caller's business (the gateway
    /// revokes the others).
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<Customer, Error> {
        let Some(customer_id) = actor.customer_id.clone() else {
            return Err(Error::unauthenticated(
                "UNIDENTIFIED_CUSTOMER",
                "sign in to change your password",
            ));
        };
        password_policy(new, "new_password")?;
        let customer = self
            .store
            .get(&customer_id)
            .await?
            .ok_or_else(customer_not_found)?;
        let credentials = self.store.credentials(&customer.email).await?;
        // Never hash unbounded input: an over-long password is verified as empty (and fails).
        let candidate = if validate::validate_password(current).is_ok() {
            current.to_string()
        } else {
            String::new()
        };
        let matches = match credentials {
            Some(c) if c.customer_id == customer_id => {
                self.passwords.verify(candidate, c.password_hash).await?
            }
            _ => {
                self.passwords.verify_dummy(candidate).await?;
                false
            }
        };
        if !matches || current.is_empty() {
            return Err(Error::unauthenticated(
                "CURRENT_PASSWORD_INVALID",
                "the current password is not correct",
            )
            .with_field(["current_password"]));
        }
        let hash = self.passwords.hash(new.to_string()).await?;
        let changed = self
            .commit_password(&customer_id, hash, PasswordChangeReason::Changed)
            .await?;
        tracing::info!(customer_id = %customer_id, "password changed");
        Ok(changed)
    }

    /// Starts a password reset (internal callers only). For an email with an account: a fresh 256-bit token
    /// replaces any earlier one (only its SHA-256 is stored, valid for [`ResetSettings::ttl`], single use) and
    /// `email.password_reset_requested.v1` carrying the link is appended with it. The answer is the same, and
    /// comes no sooner than [`ResetSettings::min_answer`], whether or not the email has an account.
    pub async fn request_password_reset(&self, actor: &Actor, email: &str) -> Result<(), Error> {
        system_only(actor)?;
        let email = validate::normalize_email(email)?;
        let answer_at = tokio::time::Instant::now() + self.reset.min_answer;
        let issued = self.issue_reset(&email).await;
        tokio::time::sleep_until(answer_at).await;
        issued
    }

    async fn issue_reset(&self, email: &str) -> Result<(), Error> {
        let Some(credentials) = self.store.credentials(email).await? else {
            return Ok(());
        };
        let customer_id = credentials.customer_id;
        let now = shop_kernel::now_ms();
        let ttl_ms = i64::try_from(self.reset.ttl.as_millis()).unwrap_or(i64::MAX);
        let token = shop_kernel::ids::secret_token(RESET_TOKEN_BYTES);
        let stored = ResetToken::issue(&token, now, ttl_ms);
        let mail = PasswordResetMail {
            to: email.to_string(),
            customer_id: customer_id.clone(),
            reset_url: reset::reset_url(&self.reset.url, &customer_id, &token),
            reset_token: token,
            expires_at_ms: stored.expires_at_ms,
        };
        let record = events::password_reset_mail(&mail, now);
        self.store
            .issue_reset(&customer_id, stored, vec![record])
            .await?;
        tracing::info!(customer_id = %customer_id, "password reset requested");
        Ok(())
    }

    /// Sets a new password with a reset token (internal callers only): the token must be the customer's
    /// current one, unused and unexpired (compared as hashes in constant time), else UNAUTHENTICATED
    /// `TOKEN_INVALID` — one answer for every reason. The new password follows the registration policy (checked
    /// first: a bad password does not spend the token). The token is then spent and the new hash stored with
    /// `user.password_changed.v1`.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        customer_id: &str,
        token: &str,
        new: &str,
    ) -> Result<Customer, Error> {
        system_only(actor)?;
        password_policy(new, "new_password")?;
        if validate::id(customer_id, &["customer_id"]).is_err() || !reset::plausible_token(token) {
            return Err(reset::token_invalid());
        }
        let presented = reset::hash_token(token);
        let now = shop_kernel::now_ms();
        let usable = self
            .store
            .reset_token(customer_id)
            .await?
            .is_some_and(|stored| stored.accepts(&presented, now));
        if !usable || self.store.get(customer_id).await?.is_none() {
            return Err(reset::token_invalid());
        }
        let hash = self.passwords.hash(new.to_string()).await?;
        // The single-use decision: of concurrent resets with one token, one goes on.
        if !self.store.consume_reset(customer_id, &presented).await? {
            return Err(reset::token_invalid());
        }
        let changed = self
            .commit_password(customer_id, hash, PasswordChangeReason::Reset)
            .await?;
        tracing::info!(customer_id = %customer_id, "password reset");
        Ok(changed)
    }

    /// Stores a new password hash for `customer_id` with its event (optimistic concurrency, retried).
    async fn commit_password(
        &self,
        customer_id: &str,
        hash: String,
        reason: PasswordChangeReason,
    ) -> Result<Customer, Error> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .store
                .get(customer_id)
                .await?
                .ok_or_else(customer_not_found)?;
            let now = shop_kernel::now_ms();
            let (next, domain_events) = current.change_password(reason, now);
            let records = domain_events
                .iter()
                .map(|e| events::to_new_event(e, now))
                .collect();
            match self
                .store
                .update_password(next.clone(), current.version, hash.clone(), records)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "CONCURRENT_MODIFICATION",
            "the customer was changed concurrently; retry",
        ))
    }

    /// Read-modify-write of one customer with optimistic concurrency (retried a few times).
    async fn modify<F>(
        &self,
        actor: &Actor,
        customer_id: &str,
        change: F,
    ) -> Result<Customer, Error>
    where
        F: Fn(&Customer, i64) -> Result<(Customer, Vec<UserEvent>), Error>,
    {
        validate::id(customer_id, &["customer_id"])?;
        if !actor.may_access(Some(customer_id)) {
            return Err(customer_not_found());
        }
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .store
                .get(customer_id)
                .await?
                .ok_or_else(customer_not_found)?;
            let now = shop_kernel::now_ms();
            let (next, domain_events) = change(&current, now)?;
            if domain_events.is_empty() {
                return Ok(current);
            }
            let records = domain_events
                .iter()
                .map(|e| events::to_new_event(e, now))
                .collect();
            match self
                .store
                .update(next.clone(), current.version, records)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "CONCURRENT_MODIFICATION",
            "the customer was changed concurrently; retry",
        ))
    }
}
