//! Global id parsing.
use shop_gateway::gid::{self, Gid, GidType};

#[test]
fn round_trips_every_type() {
    for ty in GidType::ALL {
        let s = gid::encode(ty, "abc_123-XYZ");
        assert_eq!(s, format!("gid://thriftshop/{}/abc_123-XYZ", ty.as_str()));
        assert_eq!(Gid::parse(&s).unwrap(), Gid::new(ty, "abc_123-XYZ"));
        assert_eq!(gid::parse_as(ty, &s).unwrap(), "abc_123-XYZ");
        assert_eq!(Gid::new(ty, "x").to_string(), gid::encode(ty, "x"));
    }
}

#[test]
fn rejects_malformed_ids() {
    for bad in [
        "",
        "123",
        "gid://thriftshop/Product",
        "gid://thriftshop/Product/",
        "gid://thriftshop//123",
        "gid://shopify/Product/123",
        "gid://thriftshop/Unicorn/123",
        "gid://thriftshop/product/123",
        "gid://thriftshop/Product/12 3",
        "gid://thriftshop/Product/a/b",
        "gid://thriftshop/Product/a?b=c",
        "gid://thriftshop/Product/ünïcode",
    ] {
        let err = Gid::parse(bad).unwrap_err();
        assert_eq!(err.kind, shop_kernel::ErrorKind::InvalidArgument, "{bad}");
        assert_eq!(err.code, "INVALID_ID");
    }
    let long = format!("gid://thriftshop/Product/{}", "a".repeat(129));
    assert!(Gid::parse(&long).is_err());
    let max = format!("gid://thriftshop/Product/{}", "a".repeat(128));
    assert!(Gid::parse(&max).is_ok());
}

#[test]
fn type_must_match() {
    let s = gid::encode(GidType::Cart, "c1");
    let err = gid::parse_as(GidType::Product, &s).unwrap_err();
    assert_eq!(err.code, "INVALID_ID");
    assert!(gid::parse_as(GidType::Cart, &s).is_ok());
}
