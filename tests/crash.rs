//! Crash safety: SIGKILL the tool right after its k-th mutating call was
//! applied by AWS but before it read the answer, for every k of the incident
//! runbook. `resume` must then reach the same end state as an uninterrupted
//! run (no duplicate blocks, routes or rules), and `rollback` from the same
//! point must restore the original state.

mod support;
use std::process::Stdio;

use support::*;

/// The end state of an uninterrupted run, and its number of mutating calls.
fn reference(emu: &Emulator) -> (Vec<String>, usize) {
    emu.reset();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    emu.clear_calls();
    let out = run(dualstack(emu).args(["apply", "--yes"]).arg(ws.example("incident.yaml")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let n = emu.mutating_calls().len();
    (normalize(emu.fingerprint(&vpc)), n)
}

/// Seed a fresh topology and kill `apply` while its k-th mutating call is
/// held after being applied. Returns the VPC, the original state and the
/// workspace holding the runbook and its journal.
fn kill_after(emu: &Emulator, k: usize) -> (String, Vec<String>, Workspace) {
    emu.reset();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let original = emu.fingerprint(&vpc);
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.hold(k, "after");
    let mut child = dualstack(emu)
        .args(["apply", "--yes"])
        .arg(&rb)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(60, &format!("mutating call {k} to be held"), || emu.held());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    emu.release();
    (vpc, original, ws)
}

#[test]
fn resume_after_a_kill_at_every_mutating_call_reaches_the_same_end_state() {
    let emu = Emulator::start();
    let (end, n) = reference(&emu);
    assert_eq!(n, 15, "the incident runbook makes 15 mutating calls");
    for k in 1..=n {
        let (vpc, _, ws) = kill_after(&emu, k);
        emu.clear_calls();
        let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(ws.dir.path().join("incident.yaml")));
        let err = stderr(&out);
        assert_eq!(code(&out), 0, "k={k}: {err}");
        assert!(err.contains("took over the lock"), "k={k}: the dead holder's lock was not reported: {err}");
        assert!(err.contains("was interrupted; live state shows it was applied"), "k={k}: {err}");
        assert_eq!(normalize(emu.fingerprint(&vpc)), end, "k={k}");
        // The killed call is never repeated: resume makes only the calls
        // that were still missing.
        assert_eq!(emu.mutating_calls().len(), n - k, "k={k}: {:?}", emu.mutating_calls());
    }
}

#[test]
fn rollback_after_a_kill_at_every_mutating_call_restores_the_start() {
    let emu = Emulator::start();
    let (_, n) = reference(&emu);
    for k in 1..=n {
        let (vpc, original, ws) = kill_after(&emu, k);
        let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(ws.dir.path().join("incident.yaml")));
        assert_eq!(code(&out), 0, "k={k}: {}", stderr(&out));
        assert_eq!(emu.fingerprint(&vpc), original, "k={k}");
        // And the journal agrees: nothing left to undo.
        let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(ws.dir.path().join("incident.yaml")));
        assert!(stderr(&out).contains("nothing to roll back"), "k={k}: {}", stderr(&out));
    }
}
