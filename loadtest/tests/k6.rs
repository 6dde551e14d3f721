//! The k6 scripts (`loadtest/k6/`) send the same GraphQL documents with the same weights as the Rust generator,
//! and (where node is installed) parse and build arrival-rate options with p99 thresholds.
use std::{path::Path, process::Command};

use clap::ValueEnum;
use shop_loadtest::{scenario::Scenario, world::DOCUMENTS};

const K6: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/k6");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(K6).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn k6_documents_are_the_generators() {
    let js = read("lib/documents.js");
    for (name, doc) in DOCUMENTS {
        let decl = format!("export const {name} = `{doc}`;");
        assert!(
            js.contains(&decl),
            "lib/documents.js: {name} differs from world.rs:\n{doc}"
        );
    }
    assert_eq!(
        js.matches("export const ").count(),
        DOCUMENTS.len(),
        "no extra documents"
    );
}

/// `'name': [ ['op', w], … ]` blocks of lib/mix.js.
fn k6_mix(js: &str, scenario: &str) -> Vec<(String, u32)> {
    let key = if scenario.contains('-') {
        format!("'{scenario}': [")
    } else {
        format!("{scenario}: [")
    };
    let start = js
        .find(&key)
        .unwrap_or_else(|| panic!("{scenario} missing from lib/mix.js"))
        + key.len();
    let mut depth = 1;
    let mut end = start;
    for (i, c) in js[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            end = start + i;
            break;
        }
    }
    js[start..end]
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<String>()
        .split('[')
        .skip(1)
        .map(|entry| {
            let entry = entry.split(']').next().unwrap();
            let (op, w) = entry.split_once(',').expect("['op', weight]");
            (
                op.trim().trim_matches('\'').to_string(),
                w.trim().parse().expect("a weight"),
            )
        })
        .collect()
}

#[test]
fn k6_weights_are_the_scenarios() {
    let js = read("lib/mix.js");
    for s in Scenario::value_variants() {
        let want: Vec<(String, u32)> = s
            .mix()
            .iter()
            .map(|(op, w)| (op.name().to_string(), *w))
            .collect();
        assert_eq!(k6_mix(&js, s.name()), want, "{}", s.name());
        let script = read(&format!("{}.js", s.name()));
        assert!(
            script.contains(&format!("const SCENARIO = '{}';", s.name())),
            "{}.js runs its scenario",
            s.name()
        );
        assert!(script.contains("constantRateOptions("));
    }
    let shop = read("lib/shop.js");
    for (op, _) in Scenario::value_variants().iter().flat_map(|s| s.mix()) {
        assert!(
            shop.contains(&format!("case '{}':", op.name())),
            "lib/shop.js has no request for {}",
            op.name()
        );
    }
}

/// `node --check` and an options check of every script (skipped when node is not installed).
#[test]
fn k6_scripts_parse_under_node() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("node is not installed: skipping");
        return;
    }
    let out = Command::new("sh")
        .arg(Path::new(K6).join("check/check.sh"))
        .env_remove("SMOKE_TARGET")
        .output()
        .expect("sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("k6 scripts ok"), "{text}");
}
