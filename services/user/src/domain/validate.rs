//! Input rules for customer data: email, password, free-text fields and addresses.
use shop_kernel::Error;

/// Longest accepted email address, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest first/last name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest phone number, in characters.
pub const MAX_PHONE_CHARS: usize = 32;
/// Longest address line, city, zip, province or company, in characters.
pub const MAX_ADDRESS_FIELD_CHARS: usize = 200;
/// Most addresses a customer may keep.
pub const MAX_ADDRESSES: usize = 20;

fn invalid_email() -> Error {
    Error::invalid("INVALID_EMAIL", "email address is not valid").with_field(["email"])
}

/// Normalises an email (trimmed, lowercased) and checks its shape: one `@`, a non-empty local part, a domain
/// with a dot and no empty label, at most [`MAX_EMAIL_CHARS`], no whitespace or control characters.
pub fn normalize_email(raw: &str) -> Result<String, Error> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid_email());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid_email());
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid_email());
    };
    if local.is_empty() || !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(invalid_email());
    }
    Ok(email)
}

/// Checks a password's length: [`MIN_PASSWORD_CHARS`]..=[`MAX_PASSWORD_CHARS`] characters.
pub fn validate_password(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "PASSWORD_TOO_SHORT",
            format!("password must have at least {MIN_PASSWORD_CHARS} characters"),
        )
        .with_field(["password"]));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Error::invalid(
            "PASSWORD_TOO_LONG",
            format!("password must have at most {MAX_PASSWORD_CHARS} characters"),
        )
        .with_field(["password"]));
    }
    Ok(())
}

/// Checks a trimmed text value: at most `max` characters and no control characters.
fn check_text(value: &str, max: usize, path: &[&str]) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            "FIELD_TOO_LONG",
            format!("{} must have at most {max} characters", path.join(".")),
        )
        .with_field(path.iter().copied()));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "INVALID_CHARACTERS",
            format!("{} contains control characters", path.join(".")),
        )
        .with_field(path.iter().copied()));
    }
    Ok(())
}

/// Normalises an optional free-text field: trimmed, empty becomes `None`; at most `max` characters.
pub fn optional_text(
    value: Option<&str>,
    max: usize,
    path: &[&str],
) -> Result<Option<String>, Error> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => {
            check_text(v, max, path)?;
            Ok(Some(v.to_string()))
        }
    }
}

/// Normalises a required free-text field: trimmed, non-empty, at most `max` characters.
pub fn required_text(value: &str, max: usize, path: &[&str]) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(
            Error::invalid("FIELD_REQUIRED", format!("{} is required", path.join(".")))
                .with_field(path.iter().copied()),
        );
    }
    check_text(v, max, path)?;
    Ok(v.to_string())
}

/// Checks an ISO 3166-1 alpha-2 country code: exactly two uppercase ASCII letters (surrounding blanks ignored).
pub fn country_code(value: &str, path: &[&str]) -> Result<String, Error> {
    let v = value.trim();
    if v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(v.to_string())
    } else {
        Err(Error::invalid(
            "INVALID_COUNTRY_CODE",
            "country code must be two uppercase letters (ISO 3166-1)",
        )
        .with_field(path.iter().copied()))
    }
}

/// Checks the format of an id received from outside.
pub fn id(value: &str, path: &[&str]) -> Result<(), Error> {
    if shop_kernel::ids::is_valid_token(value) {
        Ok(())
    } else {
        Err(Error::invalid("INVALID_ID", "malformed id").with_field(path.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email("  Ann.Lee@Example.COM ").unwrap(),
            "ann.lee@example.com"
        );
        assert_eq!(
            normalize_email("a+tag@sub.example.org").unwrap(),
            "a+tag@sub.example.org"
        );
    }

    #[test]
    fn bad_emails_are_rejected() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "a@b@example.com",
            "ann lee@example.com",
            "ann@exa\tmple.com",
            "ann@example..com",
            "ann@.example.com",
            "ann@example.com.",
            "ann\u{0}@example.com",
        ] {
            let e = normalize_email(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_EMAIL", "{bad:?}");
            assert_eq!(e.field, ["email"]);
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(normalize_email(&long).unwrap_err().code, "INVALID_EMAIL");
        let max = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS - 12));
        assert!(normalize_email(&max).is_ok());
    }

    #[test]
    fn password_bounds() {
        assert_eq!(
            validate_password("1234567").unwrap_err().code,
            "PASSWORD_TOO_SHORT"
        );
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(128)).is_ok());
        let e = validate_password(&"x".repeat(129)).unwrap_err();
        assert_eq!(e.code, "PASSWORD_TOO_LONG");
        assert_eq!(e.field, ["password"]);
        // Characters, not bytes.
        assert!(validate_password("éééééééé").is_ok());
    }

    #[test]
    fn text_fields() {
        assert_eq!(optional_text(Some("  "), 5, &["a"]).unwrap(), None);
        assert_eq!(
            optional_text(Some(" ab "), 5, &["a"]).unwrap().as_deref(),
            Some("ab")
        );
        let e = optional_text(Some("abcdef"), 5, &["address", "city"]).unwrap_err();
        assert_eq!(
            (e.code.as_ref(), e.field.clone()),
            ("FIELD_TOO_LONG", vec!["address".into(), "city".into()])
        );
        assert_eq!(
            optional_text(Some("a\nb"), 5, &["a"]).unwrap_err().code,
            "INVALID_CHARACTERS"
        );
        assert_eq!(
            required_text(" ", 5, &["zip"]).unwrap_err().code,
            "FIELD_REQUIRED"
        );
        assert_eq!(country_code(" US ", &["c"]).unwrap(), "US");
        for bad in ["us", "USA", "U", "1A", ""] {
            assert_eq!(
                country_code(bad, &["c"]).unwrap_err().code,
                "INVALID_COUNTRY_CODE"
            );
        }
        assert!(id("abc_DEF-1", &["id"]).is_ok());
        assert_eq!(id("a/b", &["id"]).unwrap_err().code, "INVALID_ID");
    }

    proptest! {
        #[test]
        fn normalised_emails_are_stable(local in "[a-zA-Z0-9._+-]{1,30}", domain in "[a-zA-Z0-9-]{1,20}", tld in "[a-zA-Z]{2,6}") {
            let raw = format!(" {local}@{domain}.{tld} ");
            let once = normalize_email(&raw).unwrap();
            prop_assert_eq!(normalize_email(&once).unwrap(), once.clone());
            prop_assert_eq!(once.to_lowercase(), once.clone());
            prop_assert_eq!(once.matches('@').count(), 1);
        }

        #[test]
        fn normalize_email_never_panics(s in "\\PC{0,300}") {
            let _ = normalize_email(&s);
        }

        #[test]
        fn password_length_rule(n in 0usize..200) {
            let p = "p".repeat(n);
            prop_assert_eq!(validate_password(&p).is_ok(), (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n));
        }
    }
}
