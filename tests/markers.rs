//! One run per VPC across state directories and machines: the run's marker
//! tags on the VPC, and the machine-wide lock per VPC.

mod support;
use std::process::Stdio;

use support::*;

/// The VPC's marker tags: (run id, state).
fn marker(emu: &Emulator, vpc: &str) -> Option<(String, String)> {
    runtime().block_on(async {
        let f = aws_sdk_ec2::types::Filter::builder().name("resource-id").values(vpc).build();
        let out = emu.ec2().describe_tags().filters(f).send().await.unwrap();
        let get = |k: &str| out.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string);
        get("dualstack:run").map(|r| (r, get("dualstack:state").unwrap_or_default()))
    })
}

/// Two runbooks for one VPC in two folders, at the same time on one
/// machine: the second is refused by the machine-wide lock, naming the
/// first, and changes nothing.
#[test]
fn two_folders_one_vpc_one_machine() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let proxy = Proxy::start(&emu);
    let locks = tempfile::tempdir().unwrap();
    let (a, b) = (Workspace::new(), Workspace::new());
    let (rb_a, rb_b) = (a.example("incident.yaml"), b.example("incident.yaml"));
    proxy.hold(1, "before");
    let first = dualstack_via(&proxy).env("DUALSTACK_MACHINE_LOCKS", locks.path()).args(["apply", "--yes"]).arg(&rb_a).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(60, "the first run's first mutating call to be held", || proxy.held());
    let out = run(dualstack_via(&proxy).env("DUALSTACK_MACHINE_LOCKS", locks.path()).args(["apply", "--yes"]).arg(&rb_b));
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{vpc} on this machine")), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("pid {}", first.id())), "the holder is named: {}", stderr(&out));
    proxy.release_forward();
    let out = first.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The only first mutating call is the first run's marker, then its work.
    assert_eq!(proxy.applied_mutations().first().map(String::as_str), Some("CreateTags"));
    assert_eq!(marker(&emu, &vpc), None, "a completed run removes its marker");
}

/// A paused run leaves its marker: a second person's run from another
/// folder (another machine: its own machine-wide locks) is refused with
/// exit 5 naming that run and its journal, by `plan` in words and by
/// `apply` before any change. Once the paused run is resumed to the end,
/// the VPC is free.
#[test]
fn a_paused_runs_marker_refuses_another_run() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let (a, b) = (Workspace::new(), Workspace::new());
    let (rb_a, rb_b) = (a.example("incident.yaml"), b.example("incident.yaml"));
    emu.hold(5, "after");
    let child = dualstack(&emu).args(["apply", "--yes"]).arg(&rb_a).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(60, "the fifth mutating call to be held", || emu.held());
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    emu.release();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let (run_a, state_a) = marker(&emu, &vpc).expect("a paused run keeps its marker");
    assert!(state_a.starts_with("file://") && state_a.ends_with(&format!("{}/.dualstack/redash-dualstack.journal.jsonl", a.dir.path().canonicalize().unwrap().display())), "{state_a}");

    let elsewhere = tempfile::tempdir().unwrap();
    let other = |cmd: &mut std::process::Command| -> std::process::Output { run(cmd.env("DUALSTACK_MACHINE_LOCKS", elsewhere.path())) };
    let plan = other(dualstack(&emu).arg("plan").arg(&rb_b));
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    assert!(stdout(&plan).contains(&format!("now marked by run {run_a} (journal {state_a}): apply is refused")), "{}", stdout(&plan));
    emu.clear_calls();
    let out = other(dualstack(&emu).args(["apply", "--yes"]).arg(&rb_b));
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{vpc} is being migrated by run {run_a} (journal {state_a})")), "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "nothing changed");

    let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(&rb_a));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(marker(&emu, &vpc), None);
    emu.clear_calls();
    let out = other(dualstack(&emu).args(["apply", "--yes"]).arg(&rb_b));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "nothing left to change, and no marker for nothing");
}

/// Two machines (their own folders and machine-wide locks) start on one VPC
/// at the same moment: `CreateTags` is last-writer-wins, and each run reads
/// the marker back after the settle delay, so exactly one proceeds; the
/// other stops before any change, naming the winner.
#[test]
fn racing_runs_on_two_machines_one_proceeds() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let rounds: usize = std::env::var("MARKER_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for round in 0..rounds {
        let machines = [(Workspace::new(), tempfile::tempdir().unwrap()), (Workspace::new(), tempfile::tempdir().unwrap())];
        let rbs: Vec<_> = machines.iter().map(|(ws, _)| ws.example("incident.yaml")).collect();
        emu.clear_calls();
        let children: Vec<_> = machines
            .iter()
            .zip(&rbs)
            .map(|((_, locks), rb)| {
                dualstack(&emu)
                    .env("DUALSTACK_MACHINE_LOCKS", locks.path())
                    .env("DUALSTACK_MARKER_SETTLE", "1s")
                    .args(["apply", "--yes"])
                    .arg(rb)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let codes: Vec<i32> = outs.iter().map(code).collect();
        let winner = codes.iter().position(|c| *c == 0).unwrap_or_else(|| panic!("round {round}: nobody proceeded: {codes:?}\n{}\n{}", stderr(&outs[0]), stderr(&outs[1])));
        let loser = 1 - winner;
        assert_eq!(codes[loser], 5, "round {round}: {}", stderr(&outs[loser]));
        assert!(stderr(&outs[loser]).contains(&format!("{vpc} is being migrated by run ")), "round {round}: {}", stderr(&outs[loser]));
        let journal = |i: usize| std::fs::read_to_string(machines[i].0.state_dir().join("redash-dualstack.journal.jsonl")).unwrap_or_default();
        assert!(!journal(loser).contains("\"type\":\"intent\""), "round {round}: the loser journaled no change:\n{}", journal(loser));
        let creates = emu.mutating_calls().iter().filter(|c| c.as_str() == "CreateTags").count();
        assert!((1..=2).contains(&creates), "round {round}: {creates} markers written");
        assert_eq!(marker(&emu, &vpc), None, "round {round}: the winner removed its marker");
        let out = run(dualstack(&emu).env("DUALSTACK_MACHINE_LOCKS", machines[winner].1.path()).args(["rollback", "--yes"]).arg(&rbs[winner]));
        assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
    }
}
