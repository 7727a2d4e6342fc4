//! The state directory: one writer at a time, damaged journals refused and
//! left untouched, a changed runbook refused on resume, private file modes.

mod support;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use support::*;

#[test]
fn two_concurrent_applies_exactly_one_proceeds() {
    let emu = Emulator::start();
    for round in 0..3 {
        emu.reset();
        emu.seed_incident();
        let ws = Workspace::new();
        let rb = ws.example("incident.yaml");
        let spawn = || dualstack(&emu).args(["apply", "--yes"]).arg(&rb).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let mut codes = [code(&a), code(&b)];
        codes.sort();
        assert_eq!(codes, [0, 5], "round {round}: {}\n{}", stderr(&a), stderr(&b));
        let loser = if code(&a) == 5 { &a } else { &b };
        assert!(stderr(loser).contains("another dualstack run holds"), "{}", stderr(loser));
    }
}

#[test]
fn the_lock_names_its_holder_and_a_lost_answer_is_reconciled() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    // Hold the first apply inside its third mutating call (applied, no answer yet).
    emu.hold(3, "after");
    let first = dualstack(&emu).args(["apply", "--yes"]).arg(&rb).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(60, "the third mutating call to be held", || emu.held());
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("pid {}", first.id())), "holder not named: {}", stderr(&out));
    // The held call now fails with a 500 after AWS applied it: the tool must
    // read state, see that it happened, and go on without repeating it.
    emu.clear_calls();
    emu.release();
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert!(stderr(&first).contains("live state shows it was applied"), "{}", stderr(&first));
    let repeated = emu.mutating_calls().iter().filter(|m| *m == "AssociateSubnetCidrBlock").count();
    assert_eq!(repeated, 1, "only the two remaining subnets are associated: {:?}", emu.mutating_calls());
    assert!(emu.fingerprint(&vpc).iter().any(|l| l.contains("public-1a ipv6=[\"#1:associated\"]")));
}

#[test]
fn a_damaged_journal_is_refused_and_never_overwritten() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let journal = ws.state_dir().join("redash-dualstack.journal.jsonl");
    let whole = std::fs::read(&journal).unwrap();
    let lines = whole.iter().filter(|b| **b == b'\n').count();

    // Truncated in the middle of line 5; emptied lines; bad JSON; unknown version.
    let cut = whole.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(3).unwrap().0 + 10;
    let damaged: Vec<(Vec<u8>, usize)> = vec![
        (whole[..cut].to_vec(), 5),
        ([&whole[..], b"{not json}\n"].concat(), lines + 1),
        ([&whole[..], b"{\"v\":99,\"run\":\"x\",\"at\":\"t\",\"type\":\"ended\",\"outcome\":\"completed\"}\n"].concat(), lines + 1),
    ];
    for (bytes, line) in damaged {
        std::fs::write(&journal, &bytes).unwrap();
        for cmd in [&["status"][..], &["apply", "--yes"], &["resume", "--yes"], &["rollback", "--yes"]] {
            emu.clear_calls();
            let out = run(dualstack(&emu).args(cmd).arg(&rb));
            assert_eq!(code(&out), 6, "{cmd:?}: {}", stderr(&out));
            let want = format!("redash-dualstack.journal.jsonl:{line} is damaged");
            assert!(stderr(&out).contains(&want), "{cmd:?}: expected {want}: {}", stderr(&out));
            assert_eq!(std::fs::read(&journal).unwrap(), bytes, "{cmd:?} rewrote the journal");
            assert_eq!(emu.mutating_calls(), Vec::<String>::new());
        }
    }
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.fault("AuthorizeSecurityGroupIngress", 1, "UnauthorizedOperation", 403);
    let out = run(dualstack(&emu).args(["apply", "--yes", "--on-failure", "pause"]).arg(&rb));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let text = std::fs::read_to_string(&rb).unwrap();
    std::fs::write(&rb, format!("{text}# edited\n")).unwrap();
    let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("changed since run"), "{}", stderr(&out));
    let out = run(dualstack(&emu).args(["resume", "--yes", "--force"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // State files are private.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ws.state_dir()), 0o700);
    assert_eq!(mode(&ws.state_dir().join("lock")), 0o600);
    assert_eq!(mode(&ws.state_dir().join("redash-dualstack.journal.jsonl")), 0o600);
}

#[test]
fn ctrl_c_pauses_after_the_call_in_flight_and_resume_finishes() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.hold(5, "after");
    let child = dualstack(&emu).args(["apply", "--yes"]).arg(&rb).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(60, "the fifth mutating call to be held", || emu.held());
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    emu.release();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("paused by a signal"), "{}", stderr(&out));
    let status = run(dualstack(&emu).arg("status").arg(&rb));
    assert!(stdout(&status).contains("paused"), "{}", stdout(&status));
    let out = run(dualstack(&emu).args(["resume", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(emu.fingerprint(&vpc).iter().any(|l| l == "route public ::/0 -> igw"));
}
