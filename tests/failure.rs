//! A step that fails in the middle of a run: automatic rollback leaves the VPC
//! exactly as it started (exit 1); with `--on-failure pause` the run stops
//! (exit 4) and both `resume` and `rollback` work from there.

mod support;
use support::*;

/// Fail the 2nd security-group ingress authorization: by then the VPC block,
/// the subnet blocks and flags, the route and one rule are applied.
fn inject(emu: &Emulator) {
    emu.fault("AuthorizeSecurityGroupIngress", 2, "UnauthorizedOperation", 403);
}

#[test]
fn a_failure_mid_run_rolls_everything_back() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let original = emu.fingerprint(&vpc);
    inject(&emu);
    let out = run(dualstack(&emu).args(["apply", "--yes", "--output", "json"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    // --output json: one event per line on stdout, for other tools.
    let events: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for k in ["run_started", "change_started", "change_applied", "step_failed", "rollback_started", "undo_done", "run_finished"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert_eq!(events.last().unwrap()["outcome"], "rolled_back");
    let failed = events.iter().find(|e| e["event"] == "step_failed").unwrap();
    assert_eq!(failed["step"], "security-groups");
    assert!(err.contains("step `security-groups` failed"), "{err}");
    assert!(err.contains("UnauthorizedOperation"), "{err}");
    assert!(err.contains("is back where it was"), "{err}");
    assert_eq!(emu.fingerprint(&vpc), original);
    // Undos really happened: the applied changes were reversed by AWS calls.
    let muts = emu.mutating_calls();
    assert!(muts.contains(&"RevokeSecurityGroupEgress".to_string()), "{muts:?}");
    assert!(muts.contains(&"DisassociateVpcCidrBlock".to_string()), "{muts:?}");

    // The run is over: status says so and a new apply starts afresh.
    let out = run(dualstack(&emu).arg("status").arg(&rb));
    assert!(stdout(&out).contains("failed and rolled back"), "{}", stdout(&out));
    emu.clear_faults();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn pause_then_resume_completes_the_run() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    inject(&emu);
    let out = run(dualstack(&emu).args(["apply", "--yes", "--on-failure", "pause"]).arg(&rb));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let paused = emu.fingerprint(&vpc);
    assert!(paused.iter().any(|l| l == "vpc ipv6 /56 associated"), "nothing was left in place: {paused:#?}");

    // A new apply is refused while the run is paused.
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("resume"), "{}", stderr(&out));

    let out = run(dualstack(&emu).arg("status").arg(&rb));
    assert!(stdout(&out).contains("paused"), "{}", stdout(&out));
    assert!(stdout(&out).contains("failed"), "{}", stdout(&out));

    emu.clear_calls();
    let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Steps done before the pause are not re-run; only the missing rules are added,
    // and the run, now complete, takes its marker off the VPC last (it was set before
    // the first change, so resume must not set it again).
    let muts = emu.mutating_calls();
    let (last, rules) = muts.split_last().expect("resume changed nothing");
    assert_eq!(last, "DeleteTags", "{muts:?}");
    assert!(!rules.is_empty() && rules.iter().all(|m| m.starts_with("AuthorizeSecurityGroup")), "{muts:?}");
    let done = emu.fingerprint(&vpc);

    // Same end state as an uninterrupted run on a fresh topology.
    let emu2 = Emulator::start();
    let vpc2 = emu2.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws2 = Workspace::new();
    let out = run(dualstack(&emu2).args(["apply", "--yes"]).arg(ws2.example("incident.yaml")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(normalize(done), normalize(emu2.fingerprint(&vpc2)));
}

#[test]
fn pause_then_rollback_restores_the_start() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let original = emu.fingerprint(&vpc);
    inject(&emu);
    let out = run(dualstack(&emu).args(["apply", "--yes", "--on-failure", "pause"]).arg(&rb));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original);
    // Nothing left to resume.
    let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing to resume"), "{}", stderr(&out));
}
