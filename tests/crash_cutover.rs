//! Crash safety of the whole cutover: SIGKILL the tool right after each
//! mutating call of the full runbook (network, backend addresses, ALB, both
//! target groups) was applied but before its answer was read; `resume` must
//! reach the uninterrupted end state and `rollback` the starting state, with
//! no orphaned target group (every group the run created is in the final
//! state or deleted) and no duplicate.

mod support;
use std::process::Stdio;

use support::*;

/// gunicorn on [::] and the cutover runbook pointed at it, with quick gates.
fn setup(ws: &Workspace) -> (App, std::path::PathBuf) {
    let (app, port) = App::gunicorn("[::]");
    let text = std::fs::read_to_string(root().join("runbooks/incident-cutover.yaml"))
        .unwrap()
        .replace("[::1]:8000/", &format!("[::1]:{port}/"))
        .replace("interval: 1s, healthy_threshold: 2", "interval: 50ms, healthy_threshold: 1");
    (app, ws.runbook("incident-cutover.yaml", &text))
}

fn copy_runbook(from: &std::path::Path, ws: &Workspace) -> std::path::PathBuf {
    ws.runbook("incident-cutover.yaml", &std::fs::read_to_string(from).unwrap())
}

/// Everything created by a run carries its tag; list such target groups.
fn run_tagged_groups(emu: &Emulator) -> Vec<String> {
    runtime().block_on(async {
        let elb = emu.elb();
        let tgs = elb.describe_target_groups().send().await.unwrap();
        let arns: Vec<String> = tgs.target_groups().iter().filter_map(|t| t.target_group_arn()).map(str::to_string).collect();
        if arns.is_empty() {
            return vec![];
        }
        let tags = elb.describe_tags().set_resource_arns(Some(arns)).send().await.unwrap();
        let mut out: Vec<String> = tags
            .tag_descriptions()
            .iter()
            .filter(|d| d.tags().iter().any(|t| t.key() == Some("dualstack:run")))
            .filter_map(|d| d.resource_arn())
            .map(|a| a.split('/').nth(1).unwrap_or(a).to_string())
            .collect();
        out.sort();
        out
    })
}

fn kill_after(emu: &Emulator, rb: &std::path::Path, k: usize) {
    emu.hold(k, "after");
    let mut child = dualstack(emu).args(["apply", "--yes"]).arg(rb).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until(120, &format!("mutating call {k} to be held"), || emu.held());
    child.kill().unwrap();
    child.wait().unwrap();
    emu.release();
}

/// The uninterrupted run: its end state, number of mutating calls and the
/// groups it created.
fn reference(emu: &Emulator, rb0: &std::path::Path) -> (Vec<String>, usize, Vec<String>) {
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    emu.clear_calls();
    let out = run(dualstack(emu).args(["apply", "--yes"]).arg(rb0));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let n = emu.mutating_calls().len();
    let tagged = run_tagged_groups(emu);
    assert_eq!(tagged, ["redash-blue-v6", "redash-green-v6"]);
    eprintln!("the full cutover runbook makes {n} mutating calls");
    (normalize(emu.fingerprint(&vpc)), n, tagged)
}

// The two matrices are separate tests so that they run in parallel.

#[test]
fn resume_after_a_kill_at_every_mutating_call_reaches_the_same_end_state() {
    let emu = Emulator::start();
    let base = Workspace::new();
    let (_app, rb0) = setup(&base);
    let (end, n, tagged_end) = reference(&emu, &rb0);
    for k in 1..=n {
        emu.reset();
        let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
        let ws = Workspace::new();
        let rb = copy_runbook(&rb0, &ws);
        kill_after(&emu, &rb, k);
        let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "k={k}: {}", stderr(&out));
        assert_eq!(normalize(emu.fingerprint(&vpc)), end, "k={k}: resume");
        assert_eq!(run_tagged_groups(&emu), tagged_end, "k={k}: orphaned or missing groups");
    }
}

#[test]
fn rollback_after_a_kill_at_every_mutating_call_restores_the_start() {
    let emu = Emulator::start();
    let base = Workspace::new();
    let (_app, rb0) = setup(&base);
    let (_, n, _) = reference(&emu, &rb0);
    for k in 1..=n {
        emu.reset();
        let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
        let original = emu.fingerprint(&vpc);
        let ws = Workspace::new();
        let rb = copy_runbook(&rb0, &ws);
        kill_after(&emu, &rb, k);
        let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "k={k}: {}", stderr(&out));
        assert_eq!(emu.fingerprint(&vpc), original, "k={k}: rollback");
        assert_eq!(run_tagged_groups(&emu), Vec::<String>::new(), "k={k}: orphaned groups after rollback");
    }
}
