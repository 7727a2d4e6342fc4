//! Fuzzed runbooks: property-based mutation of real runbooks and generated
//! YAML documents in the runbook's vocabulary, fed to the same loader the
//! binary uses. Properties: loading never panics, and every error it reports
//! has a position inside the text (line and column), printed as
//! `file:line:col: message`.
//!
//! The suite runs a fixed budget (`FUZZ_CASES`, default 10000 per property)
//! from a fixed seed, so that a test run is reproducible; `FUZZ_SEED=N` picks
//! another seed and `FUZZ_SEED=random` a new one each run (printed), e.g.
//! `FUZZ_SEED=random FUZZ_CASES=200000 cargo test --test fuzz_runbook -- --nocapture`.

use std::cell::Cell;
use std::path::Path;

use dualstack::runbook::{self, LoadError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10000)
}

/// The runner's configuration: `cases()` from the seed `FUZZ_SEED` names.
fn config() -> Config {
    let seed = match std::env::var("FUZZ_SEED").as_deref() {
        Ok("random") => RngSeed::Fixed(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64),
        Ok(n) => RngSeed::Fixed(n.parse().expect("FUZZ_SEED is a number or `random`")),
        Err(_) => RngSeed::Fixed(20261130),
    };
    if let RngSeed::Fixed(n) = seed {
        eprintln!("fuzz: FUZZ_SEED={n}");
    }
    Config { cases: cases(), failure_persistence: None, rng_seed: seed, ..Config::default() }
}

/// The number of lines in `text` as YAML counts them (CR LF, LF and a lone CR
/// each end a line), counted here independently of the loader.
fn yaml_lines(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n").replace('\r', "\n").split('\n').map(str::to_string).collect()
}

fn seeds() -> Vec<String> {
    ["runbooks/incident.yaml", "runbooks/incident-cutover.yaml"]
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap())
        .collect()
}

/// Load `text` and check the properties; returns whether it was accepted.
fn check(text: &str) -> Result<bool, TestCaseError> {
    let path = Path::new("fuzz.yaml");
    let source_lines = yaml_lines(text);
    let lines = source_lines.len();
    match runbook::parse(path, text.to_string(), "hash".into()) {
        Ok(_) => Ok(true),
        Err(LoadError::Io { .. }) => Err(TestCaseError::fail("parse never does I/O")),
        Err(LoadError::Invalid(diags)) => {
            prop_assert!(!diags.is_empty(), "an invalid runbook with no diagnostic");
            for d in &diags {
                prop_assert!(d.pos.line >= 1 && d.pos.line <= lines + 1, "line {} outside 1..={} for {:?}", d.pos.line, lines + 1, d.message);
                prop_assert!(d.pos.col >= 1, "column 0 for {:?}", d.message);
                let shown = d.to_string();
                let want = format!("fuzz.yaml:{}:{}: ", d.pos.line, d.pos.col);
                prop_assert!(shown.starts_with(&want), "{shown:?} does not start with {want:?}");
                // The line shown under the message is the line the position names.
                if let Some(line) = source_lines.get(d.pos.line - 1) {
                    let quoted = format!("\n{} | {line}\n", d.pos.line);
                    prop_assert!(shown.contains(&quoted), "{shown:?} does not show line {}: {line:?}", d.pos.line);
                }
                prop_assert!(!d.message.trim().is_empty(), "empty message at {}:{}", d.pos.line, d.pos.col);
            }
            Ok(false)
        }
    }
}

/// Tokens that YAML, serde and the validator each treat specially.
const TOKENS: &[&str] = &[
    ":", ": ", "- ", "-", "{", "}", "[", "]", ",", "\"", "'", "#", "&a ", "*a", "<<: *a", "!!binary ", "!x ", "~", "null",
    "true", "no", "1e999", "-1", "0x10", "4294967296", "18446744073709551616", "::/0", "2001:db8::/56", "0.0.0.0/0",
    "\t", "\r", "\u{feff}", "é", "\u{10ffff}", "|", ">", "---\n", "...\n", "? ", "%YAML 1.2\n", "\\", "index: 300",
    "kind: x", "id: a", "id: A!", "steps: []", "steps:", "checks: {}", "gate: {}", "timeout: 0s", "interval: 1y",
    "subnet: ''", "weight: 101", "shift: [100, 10]", "{ http: { url: 'x' } }",
];

#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Insert(usize, &'static str),
    Replace(usize, usize, &'static str),
    Truncate(usize),
    Indent(usize, i8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let tok = proptest::sample::select(TOKENS);
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), tok.clone()).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), 0usize..12, tok).prop_map(|(a, n, t)| Edit::Replace(a, n, t)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), -3i8..4).prop_map(|(a, d)| Edit::Indent(a, d)),
    ]
}

/// The nearest char boundary at or before `i`.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, e: &Edit) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match *e {
        Edit::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Edit::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Edit::SwapLines(a, b) => lines.swap(a % n, b % n),
        Edit::Indent(i, d) => {
            let l = &mut lines[i % n];
            if d > 0 {
                *l = format!("{}{l}", " ".repeat(d as usize));
            } else {
                let strip = l.len() - l.trim_start_matches(' ').len();
                *l = l[strip.min((-d) as usize)..].to_string();
            }
        }
        Edit::Insert(at, t) => {
            let at = boundary(text, at % (text.len() + 1));
            return format!("{}{t}{}", &text[..at], &text[at..]);
        }
        Edit::Replace(at, len, t) => {
            let a = boundary(text, at % (text.len() + 1));
            let b = boundary(text, a + len);
            return format!("{}{t}{}", &text[..a], &text[b..]);
        }
        Edit::Truncate(at) => return text[..boundary(text, at % (text.len() + 1))].to_string(),
    }
    lines.join("\n")
}

/// Regression: a lone CR (an old Mac line end) inside a runbook is a line
/// break to YAML, so the parser's line numbers ran one ahead of the line the
/// message showed (cut at LF only); the fuzzer found it as a position past
/// the last line of a truncated runbook.
#[test]
fn a_lone_carriage_return_counts_as_a_line_break() {
    let text = "version: 1\rname: x\r\nvpc: redash\nsteps:\n  - id: alb\n    load_balancer_ip_type:\r      load_balancer: redash\n      ip_address_type: bogus\n";
    let Err(LoadError::Invalid(diags)) = runbook::parse(Path::new("cr.yaml"), text.to_string(), "h".into()) else {
        panic!("an unknown IP address type is refused")
    };
    let shown = diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(shown.contains("cr.yaml:8:24: unknown IP address type `bogus`"), "{shown}");
    assert!(shown.contains("\n8 |       ip_address_type: bogus\n"), "{shown}");
    check(text).unwrap();
}

#[test]
fn mutated_runbooks_never_panic_and_every_error_has_a_position() {
    let seeds = seeds();
    for text in &seeds {
        assert!(check(text).unwrap(), "the seed runbooks themselves load");
    }
    let mut runner = TestRunner::new(config());
    let strategy = (0..seeds.len(), proptest::collection::vec(edit(), 1..6));
    let (accepted, total) = (Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&strategy, |(seed, edits)| {
            let text = edits.iter().fold(seeds[seed].clone(), |t, e| apply(&t, e));
            total.set(total.get() + 1);
            accepted.set(accepted.get() + u32::from(check(&text)?));
            Ok(())
        })
        .unwrap();
    let (total, accepted) = (total.get(), accepted.get());
    eprintln!("fuzz: {total} mutated runbooks loaded, {accepted} accepted, {} rejected with positions", total - accepted);
}

const LONG: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// A YAML value built from the runbook's own keys and plausible values.
fn value() -> impl Strategy<Value = serde_yaml::Value> {
    use serde_yaml::Value;
    let keys = proptest::sample::select(vec![
        "version", "name", "vpc", "region", "steps", "id", "checks", "gate", "gate_defaults", "on_health_failure",
        "vpc_ipv6_cidr", "subnet_ipv6", "subnets", "subnet", "index", "ipv6_default_route", "route_tables", "via",
        "security_group_ipv6", "groups", "mirror_open_ipv4", "target_group_ipv6", "listener", "target_groups", "shift",
        "load_balancer_ip_type", "load_balancer", "ip_address_type", "http", "url", "tcp", "target_health", "command",
        "interval", "timeout", "healthy_threshold", "confirm", "dns64", "assign_ipv6_on_creation", "bake", "retire",
        "assign_ipv6_addresses", "targets_of", "health_gate", "family", "name_suffix", "targets", "address", "rules",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        proptest::sample::select(vec![
            "1", "redash", "public-1a", "internet_gateway", "egress_only", "dualstack", "ipv4", "5s", "0s", "-1s",
            "rollback_all", "keep", "delete", "same", "redash:80", "http://[::1]:1/", "ipv6", "", LONG,
        ])
        .prop_map(|s| Value::String(s.to_string())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Sequence),
            proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Mapping(kv.into_iter().map(|(k, v)| (Value::String(k.to_string()), v)).collect())
            }),
        ]
    })
}

#[test]
fn generated_documents_never_panic_and_every_error_has_a_position() {
    let mut runner = TestRunner::new(config());
    let total = Cell::new(0u32);
    runner
        .run(&value(), |v| {
            // Most documents get a plausible head so that validation, not just
            // the top-level shape check, is exercised.
            let mut doc = serde_yaml::Mapping::new();
            doc.insert("version".into(), 1.into());
            doc.insert("name".into(), "fuzz".into());
            doc.insert("vpc".into(), "redash".into());
            if let serde_yaml::Value::Mapping(m) = &v {
                for (k, val) in m {
                    doc.insert(k.clone(), val.clone());
                }
            } else {
                doc.insert("steps".into(), v.clone());
            }
            total.set(total.get() + 2);
            check(&serde_yaml::to_string(&doc).unwrap())?;
            check(&serde_yaml::to_string(&v).unwrap())?;
            Ok(())
        })
        .unwrap();
    eprintln!("fuzz: {} generated documents loaded", total.get());
}
