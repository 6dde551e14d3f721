//! Generates Rust code for every contract in `thrift/`, plus conversions between each generated
//! per-method exception enum and `common::ShopError` (every method throws exactly that).
use std::{env, fs, path::PathBuf};

fn main() {
    let files = [
        "common",
        "catalog",
        "inventory",
        "cart",
        "order",
        "user",
        "session",
        "recommender",
        "events",
    ];
    let mut builder = volo_build::Builder::thrift();
    for f in files {
        let path = format!("thrift/{f}.thrift");
        println!("cargo:rerun-if-changed={path}");
        builder = builder.add_service(path);
    }
    builder.write().expect("thrift codegen failed");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let generated = fs::read_to_string(out.join("volo_gen.rs")).expect("read volo_gen.rs");
    let mut impls = String::new();
    let mut module = String::new();
    for line in generated.lines() {
        let t = line.trim();
        if let Some(m) = t
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            module = m.to_string();
        }
        if let Some(name) = t
            .strip_prefix("pub enum ")
            .and_then(|r| r.strip_suffix(" {"))
            .filter(|n| n.ends_with("Exception"))
        {
            impls.push_str(&format!(
                "impl From<{module}::{name}> for common::ShopError {{\n    fn from(e: {module}::{name}) -> Self {{ match e {{ {module}::{name}::Err(e) => e }} }}\n}}\n\
                 impl From<common::ShopError> for {module}::{name} {{\n    fn from(e: common::ShopError) -> Self {{ {module}::{name}::Err(e) }}\n}}\n"
            ));
        }
    }
    fs::write(out.join("exceptions.rs"), impls).expect("write exceptions.rs");
}
