//! Transient faults absorbed: the full cutover runbook through the
//! fault-injecting proxy with throttling (a rate, and a burst), server
//! faults before AWS applies anything, every mutating call's answer lost
//! once after AWS applied it (as a 500, and as a dropped connection), and
//! NotFound on the first reads after a create. Each run must complete with
//! the same end state as a clean run and apply each change exactly once, as
//! counted by the proxy.

mod support;
use std::path::{Path, PathBuf};

use serde_json::json;
use support::*;

/// Run the runbook under `scenario` on a fresh topology; check the outcome
/// against the clean run and report what was injected.
fn under(emu: &Emulator, proxy: &Proxy, rb0: &Path, clean: &(Vec<String>, Vec<String>), name: &str, scenario: serde_json::Value, extra: &[&str]) {
    emu.reset();
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.runbook("incident-cutover.yaml", &std::fs::read_to_string(rb0).unwrap());
    proxy.reset();
    proxy.scenario(scenario);
    let start = std::time::Instant::now();
    let out = run(dualstack_via(proxy).args(["apply", "--yes"]).args(extra).arg(&rb));
    let secs = start.elapsed().as_secs_f64();
    let calls = proxy.calls();
    proxy.scenario(json!({}));
    assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
    assert_eq!(normalize(emu.fingerprint(&vpc)), clean.0, "{name}: end state");
    assert_eq!(action_counts(&proxy.applied_mutations()), action_counts(&clean.1), "{name}: each change applied exactly once");
    let faults = calls.iter().filter(|c| c.outcome != "forwarded").count();
    assert!(faults > 0, "{name}: the scenario injected nothing");
    let mutating_faults = calls.iter().filter(|c| c.mutating && c.outcome != "forwarded").count();
    eprintln!(
        "faults: {name}: completed in {secs:.1}s; {} AWS calls, {faults} faults injected and absorbed ({mutating_faults} on mutating calls)",
        calls.len()
    );
}

/// An emulator, the proxy, the runbook, and a clean run to compare with:
/// its end state and the mutating calls it applied.
struct Bench {
    emu: Emulator,
    proxy: Proxy,
    _app: App,
    _ws: Workspace,
    rb: PathBuf,
    clean: (Vec<String>, Vec<String>),
}

fn bench() -> Bench {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu);
    let ws = Workspace::new();
    let (app, rb) = cutover_runbook(&ws);
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    proxy.clear();
    let out = run(dualstack_via(&proxy).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let clean = (normalize(emu.fingerprint(&vpc)), proxy.applied_mutations());
    eprintln!("faults: clean run: {} AWS calls, {} mutating", proxy.calls().len(), clean.1.len());
    Bench { emu, proxy, _app: app, _ws: ws, rb, clean }
}

impl Bench {
    fn under(&self, name: &str, scenario: serde_json::Value, extra: &[&str]) {
        under(&self.emu, &self.proxy, &self.rb, &self.clean, name, scenario, extra);
    }
}

/// Backoff capped at 200 ms so that long runs of throttles take seconds.
const FAST: &[&str] = &["--max-backoff", "200ms"];

#[test]
fn throttling_is_absorbed() {
    let b = bench();
    b.under("throttling at 10%", json!({"seed": 1, "throttle_rate": 0.10}), &[]);
    b.under("throttling at 30%", json!({"seed": 2, "throttle_rate": 0.30}), FAST);
    b.under("a burst of 20 throttles", json!({"throttle_burst": {"after": 40, "count": 20}}), FAST);
    b.under(
        "a burst of 20 throttles on one write",
        json!({"throttle_burst": {"after": 2, "count": 20}, "only_actions": ["ModifySubnetAttribute"]}),
        FAST,
    );
}

#[test]
fn server_faults_lost_answers_and_not_found_after_create_are_absorbed() {
    let b = bench();
    b.under("server faults (503) at 10% before AWS applies", json!({"seed": 3, "server_error_rate": 0.10}), FAST);
    b.under("every mutating answer lost once (500)", json!({"lose_response": {"mutating": "once", "mode": "500"}}), &[]);
    b.under("every mutating answer lost once (dropped connection)", json!({"lose_response": {"mutating": "once", "mode": "drop"}}), &[]);
    b.under("NotFound on the first 2 reads after a create", json!({"not_found_after_create": {"reads": 2}}), &[]);
}
