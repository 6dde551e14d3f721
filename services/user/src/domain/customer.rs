//! The customer record and the pure rules that change it.
use shop_kernel::{Error, Permissions};

use super::validate::{
    self, MAX_ADDRESS_FIELD_CHARS, MAX_ADDRESSES, MAX_NAME_CHARS, MAX_PHONE_CHARS, optional_text,
    required_text,
};

/// A postal address of a customer (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    pub province: Option<String>,
    pub country_code: String,
    pub zip: String,
    pub phone: Option<String>,
}

/// An address as received from a client (not yet validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    pub province: Option<String>,
    pub country_code: String,
    pub zip: String,
    pub phone: Option<String>,
}

impl AddressInput {
    /// Validates and normalises the input into an [`Address`] with id `id`. Field paths are `["address", <field>]`.
    pub fn validate(&self, id: String) -> Result<Address, Error> {
        let p = |f: &'static str| ["address", f];
        Ok(Address {
            id,
            first_name: optional_text(
                self.first_name.as_deref(),
                MAX_NAME_CHARS,
                &p("first_name"),
            )?,
            last_name: optional_text(self.last_name.as_deref(), MAX_NAME_CHARS, &p("last_name"))?,
            company: optional_text(
                self.company.as_deref(),
                MAX_ADDRESS_FIELD_CHARS,
                &p("company"),
            )?,
            address1: required_text(&self.address1, MAX_ADDRESS_FIELD_CHARS, &p("address1"))?,
            address2: optional_text(
                self.address2.as_deref(),
                MAX_ADDRESS_FIELD_CHARS,
                &p("address2"),
            )?,
            city: required_text(&self.city, MAX_ADDRESS_FIELD_CHARS, &p("city"))?,
            province: optional_text(
                self.province.as_deref(),
                MAX_ADDRESS_FIELD_CHARS,
                &p("province"),
            )?,
            country_code: validate::country_code(&self.country_code, &p("country_code"))?,
            zip: required_text(&self.zip, MAX_ADDRESS_FIELD_CHARS, &p("zip"))?,
            phone: optional_text(self.phone.as_deref(), MAX_PHONE_CHARS, &p("phone"))?,
        })
    }
}

/// A registered customer. `version` increases by one with every change (optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    /// Normalised (trimmed, lowercase) and unique.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub accepts_marketing: bool,
    /// In insertion order.
    pub addresses: Vec<Address>,
    /// Always the id of one of `addresses`, or `None`.
    pub default_address_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: u64,
    /// Staff permissions (empty for customers who are not staff).
    pub permissions: Permissions,
}

/// What happened to a customer (published on `shop.user.v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// `user.registered.v1`
    Registered {
        customer_id: String,
        email: String,
        accepts_marketing: bool,
    },
    /// `user.profile_updated.v1`
    ProfileUpdated { customer_id: String },
    /// `user.addresses_changed.v1`
    AddressesChanged {
        customer_id: String,
        address_count: i32,
    },
    /// `user.permissions_changed.v1`
    PermissionsChanged {
        customer_id: String,
        permissions: Permissions,
    },
    /// `user.password_changed.v1`
    PasswordChanged {
        customer_id: String,
        reason: PasswordChangeReason,
    },
}

/// Why a password changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChangeReason {
    /// The signed-in customer changed it (knowing the current one).
    Changed,
    /// Set with a password-reset token.
    Reset,
}

impl PasswordChangeReason {
    /// The stable name (`changed`, `reset`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Reset => "reset",
        }
    }

    /// The reason named `name` (`None` for names this build does not know).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "changed" => Some(Self::Changed),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// A registration request (not yet validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub accepts_marketing: bool,
}

/// A partial profile change: `None` keeps a field; an empty (blank) string clears an optional text field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub accepts_marketing: Option<bool>,
}

/// Validates a registration (email, password, names, phone) and creates the customer `customer_id`.
/// The password itself is not kept: the caller hashes it.
pub fn register(
    customer_id: String,
    reg: &Registration,
    now_ms: i64,
) -> Result<(Customer, Vec<UserEvent>), Error> {
    let email = validate::normalize_email(&reg.email)?;
    validate::validate_password(&reg.password)?;
    let customer = Customer {
        id: customer_id,
        email,
        first_name: optional_text(reg.first_name.as_deref(), MAX_NAME_CHARS, &["first_name"])?,
        last_name: optional_text(reg.last_name.as_deref(), MAX_NAME_CHARS, &["last_name"])?,
        phone: optional_text(reg.phone.as_deref(), MAX_PHONE_CHARS, &["phone"])?,
        accepts_marketing: reg.accepts_marketing,
        addresses: Vec::new(),
        default_address_id: None,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        version: 1,
        permissions: Permissions::NONE,
    };
    let event = UserEvent::Registered {
        customer_id: customer.id.clone(),
        email: customer.email.clone(),
        accepts_marketing: customer.accepts_marketing,
    };
    Ok((customer, vec![event]))
}

impl Customer {
    fn touched(&self, now_ms: i64) -> Customer {
        let mut next = self.clone();
        next.updated_at_ms = now_ms.max(self.updated_at_ms);
        next.version = self.version + 1;
        next
    }

    fn addresses_changed(&self) -> UserEvent {
        UserEvent::AddressesChanged {
            customer_id: self.id.clone(),
            address_count: i32::try_from(self.addresses.len()).unwrap_or(i32::MAX),
        }
    }

    /// Records a new password (the caller validated it against [`validate::validate_password`] and hashes it;
    /// the hash is stored beside the record, never in it or in an event).
    pub fn change_password(
        &self,
        reason: PasswordChangeReason,
        now_ms: i64,
    ) -> (Customer, Vec<UserEvent>) {
        let next = self.touched(now_ms);
        let event = UserEvent::PasswordChanged {
            customer_id: self.id.clone(),
            reason,
        };
        (next, vec![event])
    }

    /// Grants exactly `permissions` (none and the same state if they already are).
    pub fn set_permissions(
        &self,
        permissions: Permissions,
        now_ms: i64,
    ) -> (Customer, Vec<UserEvent>) {
        if permissions == self.permissions {
            return (self.clone(), Vec::new());
        }
        let mut next = self.touched(now_ms);
        next.permissions = permissions;
        let event = UserEvent::PermissionsChanged {
            customer_id: self.id.clone(),
            permissions,
        };
        (next, vec![event])
    }

    /// Applies a profile patch. Returns the new state and its events (none, and the same state, if nothing changed).
    pub fn update_profile(
        &self,
        patch: &ProfilePatch,
        now_ms: i64,
    ) -> Result<(Customer, Vec<UserEvent>), Error> {
        let first_name = match &patch.first_name {
            None => self.first_name.clone(),
            Some(v) => optional_text(Some(v), MAX_NAME_CHARS, &["first_name"])?,
        };
        let last_name = match &patch.last_name {
            None => self.last_name.clone(),
            Some(v) => optional_text(Some(v), MAX_NAME_CHARS, &["last_name"])?,
        };
        let phone = match &patch.phone {
            None => self.phone.clone(),
            Some(v) => optional_text(Some(v), MAX_PHONE_CHARS, &["phone"])?,
        };
        let accepts_marketing = patch.accepts_marketing.unwrap_or(self.accepts_marketing);
        if first_name == self.first_name
            && last_name == self.last_name
            && phone == self.phone
            && accepts_marketing == self.accepts_marketing
        {
            return Ok((self.clone(), Vec::new()));
        }
        let mut next = self.touched(now_ms);
        next.first_name = first_name;
        next.last_name = last_name;
        next.phone = phone;
        next.accepts_marketing = accepts_marketing;
        Ok((
            next,
            vec![UserEvent::ProfileUpdated {
                customer_id: self.id.clone(),
            }],
        ))
    }

    /// Adds an address with id `address_id`. The first address, or one added with `make_default`, becomes the
    /// default. At most [`MAX_ADDRESSES`].
    pub fn add_address(
        &self,
        address_id: String,
        input: &AddressInput,
        make_default: bool,
        now_ms: i64,
    ) -> Result<(Customer, Vec<UserEvent>), Error> {
        let address = input.validate(address_id)?;
        if self.addresses.len() >= MAX_ADDRESSES {
            return Err(Error::precondition(
                "TOO_MANY_ADDRESSES",
                format!("a customer may keep at most {MAX_ADDRESSES} addresses"),
            )
            .with_field(["address"]));
        }
        let mut next = self.touched(now_ms);
        if make_default || next.default_address_id.is_none() {
            next.default_address_id = Some(address.id.clone());
        }
        next.addresses.push(address);
        let event = next.addresses_changed();
        Ok((next, vec![event]))
    }

    fn address_index(&self, address_id: &str) -> Result<usize, Error> {
        self.addresses
            .iter()
            .position(|a| a.id == address_id)
            .ok_or_else(|| {
                Error::not_found("ADDRESS_NOT_FOUND", "no such address").with_field(["address_id"])
            })
    }

    /// Replaces the fields of address `address_id` (its id and default status are kept).
    pub fn update_address(
        &self,
        address_id: &str,
        input: &AddressInput,
        now_ms: i64,
    ) -> Result<(Customer, Vec<UserEvent>), Error> {
        let i = self.address_index(address_id)?;
        let address = input.validate(address_id.to_string())?;
        if self.addresses[i] == address {
            return Ok((self.clone(), Vec::new()));
        }
        let mut next = self.touched(now_ms);
        next.addresses[i] = address;
        let event = next.addresses_changed();
        Ok((next, vec![event]))
    }

    /// Deletes address `address_id`; if it was the default, the first remaining address (if any) becomes default.
    pub fn delete_address(
        &self,
        address_id: &str,
        now_ms: i64,
    ) -> Result<(Customer, Vec<UserEvent>), Error> {
        let i = self.address_index(address_id)?;
        let mut next = self.touched(now_ms);
        next.addresses.remove(i);
        if next.default_address_id.as_deref() == Some(address_id) {
            next.default_address_id = next.addresses.first().map(|a| a.id.clone());
        }
        let event = next.addresses_changed();
        Ok((next, vec![event]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reg() -> Registration {
        Registration {
            email: " Ann@Example.com".into(),
            password: "correct horse".into(),
            first_name: Some(" Ann ".into()),
            last_name: Some("".into()),
            phone: None,
            accepts_marketing: true,
        }
    }

    fn addr(zip: &str) -> AddressInput {
        AddressInput {
            address1: "1 Main St".into(),
            city: "Springfield".into(),
            country_code: "US".into(),
            zip: zip.into(),
            ..Default::default()
        }
    }

    fn customer() -> Customer {
        register("c1".into(), &reg(), 1_000).unwrap().0
    }

    #[test]
    fn register_normalises_and_emits() {
        let (c, events) = register("c1".into(), &reg(), 1_000).unwrap();
        assert_eq!(c.email, "ann@example.com");
        assert_eq!(c.first_name.as_deref(), Some("Ann"));
        assert_eq!(c.last_name, None);
        assert_eq!(
            (c.created_at_ms, c.updated_at_ms, c.version),
            (1_000, 1_000, 1)
        );
        assert_eq!(
            events,
            vec![UserEvent::Registered {
                customer_id: "c1".into(),
                email: "ann@example.com".into(),
                accepts_marketing: true
            }]
        );
    }

    #[test]
    fn register_validates_every_field() {
        let cases: Vec<(Registration, &str, Vec<&str>)> = vec![
            (
                Registration {
                    email: "nope".into(),
                    ..reg()
                },
                "INVALID_EMAIL",
                vec!["email"],
            ),
            (
                Registration {
                    password: "short".into(),
                    ..reg()
                },
                "PASSWORD_TOO_SHORT",
                vec!["password"],
            ),
            (
                Registration {
                    password: "x".repeat(129),
                    ..reg()
                },
                "PASSWORD_TOO_LONG",
                vec!["password"],
            ),
            (
                Registration {
                    first_name: Some("n".repeat(101)),
                    ..reg()
                },
                "FIELD_TOO_LONG",
                vec!["first_name"],
            ),
            (
                Registration {
                    last_name: Some("n".repeat(101)),
                    ..reg()
                },
                "FIELD_TOO_LONG",
                vec!["last_name"],
            ),
            (
                Registration {
                    phone: Some("1".repeat(33)),
                    ..reg()
                },
                "FIELD_TOO_LONG",
                vec!["phone"],
            ),
        ];
        for (r, code, field) in cases {
            let e = register("c1".into(), &r, 0).unwrap_err();
            assert_eq!(e.code, code);
            assert_eq!(e.field, field);
        }
    }

    #[test]
    fn password_change_bumps_the_version_and_emits() {
        let c = customer();
        let (next, events) = c.change_password(PasswordChangeReason::Reset, 5_000);
        assert_eq!((next.version, next.updated_at_ms), (2, 5_000));
        assert_eq!(next.email, c.email);
        assert_eq!(
            events,
            vec![UserEvent::PasswordChanged {
                customer_id: "c1".into(),
                reason: PasswordChangeReason::Reset
            }]
        );
        for r in [PasswordChangeReason::Changed, PasswordChangeReason::Reset] {
            assert_eq!(PasswordChangeReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(PasswordChangeReason::parse("other"), None);
    }

    #[test]
    fn profile_patch() {
        let c = customer();
        let patch = ProfilePatch {
            last_name: Some("Lee".into()),
            phone: Some(" ".into()),
            ..Default::default()
        };
        let (next, events) = c.update_profile(&patch, 2_000).unwrap();
        assert_eq!(next.last_name.as_deref(), Some("Lee"));
        assert_eq!(next.first_name.as_deref(), Some("Ann"));
        assert_eq!((next.version, next.updated_at_ms), (2, 2_000));
        assert_eq!(
            events,
            vec![UserEvent::ProfileUpdated {
                customer_id: "c1".into()
            }]
        );
        // Clearing and no-op.
        let (cleared, _) = next
            .update_profile(
                &ProfilePatch {
                    first_name: Some("".into()),
                    ..Default::default()
                },
                3_000,
            )
            .unwrap();
        assert_eq!(cleared.first_name, None);
        let (same, events) = cleared
            .update_profile(&ProfilePatch::default(), 4_000)
            .unwrap();
        assert_eq!(same, cleared);
        assert!(events.is_empty());
        let e = c
            .update_profile(
                &ProfilePatch {
                    phone: Some("9".repeat(40)),
                    ..Default::default()
                },
                0,
            )
            .unwrap_err();
        assert_eq!(e.field, ["phone"]);
    }

    #[test]
    fn addresses_and_default() {
        let c = customer();
        let (c, ev) = c.add_address("a1".into(), &addr("111"), false, 10).unwrap();
        assert_eq!(
            c.default_address_id.as_deref(),
            Some("a1"),
            "first address becomes default"
        );
        assert_eq!(
            ev,
            vec![UserEvent::AddressesChanged {
                customer_id: "c1".into(),
                address_count: 1
            }]
        );
        let (c, _) = c.add_address("a2".into(), &addr("222"), false, 11).unwrap();
        assert_eq!(c.default_address_id.as_deref(), Some("a1"));
        let (c, _) = c.add_address("a3".into(), &addr("333"), true, 12).unwrap();
        assert_eq!(c.default_address_id.as_deref(), Some("a3"));
        let (c, _) = c.update_address("a2", &addr("999"), 13).unwrap();
        assert_eq!(c.addresses[1].zip, "999");
        assert_eq!(c.addresses[1].id, "a2");
        let (c, ev) = c.delete_address("a3", 14).unwrap();
        assert_eq!(
            c.default_address_id.as_deref(),
            Some("a1"),
            "default moves to the first remaining"
        );
        assert_eq!(
            ev,
            vec![UserEvent::AddressesChanged {
                customer_id: "c1".into(),
                address_count: 2
            }]
        );
        let (c, _) = c.delete_address("a1", 15).unwrap();
        let (c, _) = c.delete_address("a2", 16).unwrap();
        assert_eq!(c.default_address_id, None);
        assert!(c.addresses.is_empty());
        assert_eq!(
            c.delete_address("a2", 17).unwrap_err().code,
            "ADDRESS_NOT_FOUND"
        );
        assert_eq!(
            c.update_address("zz", &addr("1"), 17).unwrap_err().code,
            "ADDRESS_NOT_FOUND"
        );
    }

    #[test]
    fn address_validation_paths() {
        let c = customer();
        let cases = [
            (
                AddressInput {
                    zip: " ".into(),
                    ..addr("1")
                },
                "FIELD_REQUIRED",
                "zip",
            ),
            (
                AddressInput {
                    address1: "".into(),
                    ..addr("1")
                },
                "FIELD_REQUIRED",
                "address1",
            ),
            (
                AddressInput {
                    city: "c".repeat(201),
                    ..addr("1")
                },
                "FIELD_TOO_LONG",
                "city",
            ),
            (
                AddressInput {
                    country_code: "usa".into(),
                    ..addr("1")
                },
                "INVALID_COUNTRY_CODE",
                "country_code",
            ),
            (
                AddressInput {
                    phone: Some("1".repeat(33)),
                    ..addr("1")
                },
                "FIELD_TOO_LONG",
                "phone",
            ),
            (
                AddressInput {
                    first_name: Some("n".repeat(101)),
                    ..addr("1")
                },
                "FIELD_TOO_LONG",
                "first_name",
            ),
        ];
        for (input, code, field) in cases {
            let e = c.add_address("a".into(), &input, false, 0).unwrap_err();
            assert_eq!(e.code, code);
            assert_eq!(e.field, ["address", field]);
        }
    }

    #[test]
    fn address_limit() {
        let mut c = customer();
        for i in 0..MAX_ADDRESSES {
            c = c
                .add_address(format!("a{i}"), &addr("1"), false, 0)
                .unwrap()
                .0;
        }
        let e = c.add_address("x".into(), &addr("1"), false, 0).unwrap_err();
        assert_eq!(e.code, "TOO_MANY_ADDRESSES");
        assert_eq!(e.kind, shop_kernel::ErrorKind::FailedPrecondition);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(bool),
        Update(usize),
        Delete(usize),
    }

    proptest! {
        /// Whatever the sequence of address operations, the default is one of the addresses (or none when empty),
        /// ids stay unique, the count stays within the limit and versions only grow.
        #[test]
        fn address_invariants(ops in proptest::collection::vec(
            prop_oneof![any::<bool>().prop_map(Op::Add), (0usize..25).prop_map(Op::Update), (0usize..25).prop_map(Op::Delete)],
            0..60,
        )) {
            let mut c = customer();
            let mut next_id = 0;
            for op in ops {
                let before = c.version;
                let result = match op {
                    Op::Add(d) => { next_id += 1; c.add_address(format!("a{next_id}"), &addr("1"), d, 0) }
                    Op::Update(i) => {
                        let id = c.addresses.get(i).map(|a| a.id.clone()).unwrap_or_else(|| "missing".into());
                        c.update_address(&id, &addr(&format!("z{i}")), 0)
                    }
                    Op::Delete(i) => {
                        let id = c.addresses.get(i).map(|a| a.id.clone()).unwrap_or_else(|| "missing".into());
                        c.delete_address(&id, 0)
                    }
                };
                if let Ok((next, _)) = result { c = next; }
                prop_assert!(c.version >= before);
                prop_assert!(c.addresses.len() <= MAX_ADDRESSES);
                match &c.default_address_id {
                    None => prop_assert!(c.addresses.is_empty()),
                    Some(d) => prop_assert!(c.addresses.iter().any(|a| &a.id == d)),
                }
                let mut ids: Vec<_> = c.addresses.iter().map(|a| a.id.clone()).collect();
                ids.sort();
                ids.dedup();
                prop_assert_eq!(ids.len(), c.addresses.len());
            }
        }
    }
}
