//! The state directory: one writer at a time, damaged journals refused and
//! left untouched, a changed runbook refused on resume, private file modes.

mod support;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use support::*;

/// 50 rounds of two `apply` processes started together on one state
/// directory. The winner is held by the proxy at its first mutating call (so
/// the two really overlap), then killed with SIGKILL; a third run must take
/// the dead holder's lock over with a warning naming it.
#[test]
fn lock_races_exactly_one_proceeds_and_a_killed_holder_is_taken_over() {
    let emu = Emulator::start();
    emu.seed_incident();
    let proxy = Proxy::start(&emu);
    let rounds: usize = std::env::var("LOCK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    for round in 0..rounds {
        let ws = Workspace::new();
        let rb = ws.example("incident.yaml");
        proxy.clear();
        proxy.hold(1, "before");
        let spawn = || dualstack_via(&proxy).args(["apply", "--yes"]).arg(&rb).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let (mut a, mut b) = (spawn(), spawn());
        // One of them must give up on the lock while the other sits on it.
        let (loser, mut winner) = loop {
            if let Some(st) = a.try_wait().unwrap() {
                break ((st, a), b);
            }
            if let Some(st) = b.try_wait().unwrap() {
                break ((st, b), a);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let (status, loser) = loser;
        let loser_err = stderr(&loser.wait_with_output().unwrap());
        assert_eq!(status.code(), Some(5), "round {round}: the first to exit should have lost the lock: {loser_err}");
        assert!(loser_err.contains("another dualstack run holds"), "round {round}: {loser_err}");
        assert!(loser_err.contains(&format!("pid {}", winner.id())), "round {round}: holder not named: {loser_err}");
        wait_until(60, "the winner's first mutating call to be held", || proxy.held());
        assert!(winner.try_wait().unwrap().is_none(), "round {round}: the winner is still running");
        let winner_pid = winner.id();
        winner.kill().unwrap();
        winner.wait().unwrap();
        proxy.release(); // the held call is discarded: it was never sent
        let out = run(dualstack_via(&proxy).args(["rollback", "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("took over the lock left by pid {winner_pid}")),
            "round {round}: no take-over warning: {}",
            stderr(&out)
        );
        assert_eq!(proxy.applied_mutations(), Vec::<String>::new(), "round {round}: nothing was applied by anyone");
    }
    eprintln!("lock races: {rounds} rounds, exactly one proceeded in each, {rounds} dead holders taken over");
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
    emu.release();
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert!(stderr(&first).contains("live state shows it was applied"), "{}", stderr(&first));
    // The three subnets' associations are sent together; the held one is not
    // sent again.
    let associations = emu.mutating_calls().iter().filter(|m| *m == "AssociateSubnetCidrBlock").count();
    assert_eq!(associations, 3, "one association per subnet: {:?}", emu.mutating_calls());
    assert!(emu.fingerprint(&vpc).iter().any(|l| l.contains("public-1a ipv6=[\"#1:associated\"]")));
}

/// Every file under the state directory (the journal, the lock, the runs'
/// logs in `logs/`).
fn state_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(state_files(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// Run every command against a damaged journal: each must exit 6 naming the
/// file and line, send no mutating call, and leave the file byte for byte.
fn assert_refused(emu: &Emulator, ws: &Workspace, rb: &std::path::Path, file: &std::path::Path, want: &str, commands: &[&[&str]]) {
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = state_files(&ws.state_dir())
        .into_iter()
        .filter(|p| p.file_name().unwrap() != "lock")
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    for cmd in commands {
        emu.clear_calls();
        let out = run(dualstack(emu).args(*cmd).arg(rb));
        assert_eq!(code(&out), 6, "{cmd:?} with {want}: {}", stderr(&out));
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(stderr(&out).contains(&format!("{name}:{want} is damaged")), "{cmd:?}: expected {name}:{want}: {}", stderr(&out));
        assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{cmd:?} changed AWS");
        for (p, bytes) in &before {
            assert_eq!(&std::fs::read(p).unwrap(), bytes, "{cmd:?} rewrote {}", p.display());
        }
    }
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
    let all: &[&[&str]] = &[&["status"], &["apply", "--yes"], &["resume", "--yes"], &["rollback", "--yes"]];

    // Emptied, bad JSON, an unknown format version: every command refuses.
    let cases: Vec<(Vec<u8>, usize)> = vec![
        (Vec::new(), 1),
        ([&whole[..], b"{not json}\n"].concat(), lines + 1),
        ([&whole[..], b"{\"v\":99,\"run\":\"x\",\"at\":\"t\",\"type\":\"ended\",\"outcome\":\"completed\"}\n"].concat(), lines + 1),
    ];
    for (bytes, line) in cases {
        std::fs::write(&journal, &bytes).unwrap();
        assert_refused(&emu, &ws, &rb, &journal, &line.to_string(), all);
    }

    // Truncated at many byte offsets: inside a line it is damage at that
    // line; at a line boundary it is a shorter, valid journal (what a crash
    // between two records leaves) and is read as such.
    let step = (whole.len() / 150).max(1);
    let mut offsets: Vec<usize> = (1..whole.len()).step_by(step).collect();
    for (i, b) in whole.iter().enumerate() {
        if *b == b'\n' {
            offsets.extend([i, i + 1, i + 2]);
        }
    }
    offsets.retain(|o| *o > 0 && *o < whole.len());
    offsets.sort();
    offsets.dedup();
    let (mut damaged, mut valid) = (0, 0);
    for (n, &cut) in offsets.iter().enumerate() {
        let bytes = &whole[..cut];
        std::fs::write(&journal, bytes).unwrap();
        if bytes.ends_with(b"\n") {
            let out = run(dualstack(&emu).arg("status").arg(&rb));
            assert_eq!(code(&out), 0, "cut at {cut} (a line boundary): {}", stderr(&out));
            valid += 1;
            continue;
        }
        let line = bytes.iter().filter(|b| **b == b'\n').count() + 1;
        // Every command on a few cuts; `status` (no AWS) on all of them.
        let commands: &[&[&str]] = if n % 25 == 0 { all } else { &[&["status"]] };
        assert_refused(&emu, &ws, &rb, &journal, &line.to_string(), commands);
        damaged += 1;
    }
    eprintln!("damaged state: {} truncation offsets ({damaged} inside a line refused, {valid} at a line boundary read), plus empty, bad JSON and unknown version", offsets.len());

    // A temporary file left by a run killed while creating its journal.
    std::fs::remove_file(&journal).unwrap();
    let tmp = ws.state_dir().join("redash-dualstack.journal.jsonl.tmp");
    std::fs::write(&tmp, &whole[..whole.iter().position(|b| *b == b'\n').unwrap() + 1]).unwrap();
    assert_refused(&emu, &ws, &rb, &tmp, "1", all);
    assert!(!journal.exists(), "no journal was created beside the temporary file");
}

/// With a recognisable secret key and session token in the environment,
/// nothing the tool writes (stdout, stderr at the most verbose log level,
/// JSON events, the journal, the lock) contains them, and every state file
/// is private.
#[test]
fn no_secrets_in_output_logs_or_state() {
    const SECRET: &str = "SECRETkeyDualstackTest0123456789abcdefXYZ";
    const TOKEN: &str = "SESSIONtokenDualstackTest9876543210zyxwv";
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let with_secrets = |args: &[&str]| {
        let mut c = dualstack(&emu);
        c.env("AWS_SECRET_ACCESS_KEY", SECRET).env("AWS_SESSION_TOKEN", TOKEN).env("DUALSTACK_LOG", "trace").args(args).arg(&rb);
        run(&mut c)
    };
    emu.fault("ModifySubnetAttribute", 2, "UnauthorizedOperation", 403);
    let mut outputs = vec![
        with_secrets(&["plan"]),
        with_secrets(&["apply", "--yes", "--on-failure", "pause"]),
        with_secrets(&["status"]),
        with_secrets(&["resume", "--yes", "--output", "json"]),
        with_secrets(&["rollback", "--yes"]),
    ];
    assert_eq!(code(&outputs[1]), 4, "the injected failure pauses: {}", stderr(&outputs[1]));
    assert_eq!(code(&outputs[3]), 0, "{}", stderr(&outputs[3]));
    outputs.push(with_secrets(&["--max-attempts", "0", "status"]));
    let mut seen = 0;
    for o in &outputs {
        for text in [stdout(o), stderr(o)] {
            seen += text.len();
            assert!(!text.contains(SECRET) && !text.contains(TOKEN), "a credential leaked into output:\n{text}");
        }
    }
    assert!(seen > 10_000, "trace logging produced output to search ({seen} bytes)");
    let files = state_files(&ws.state_dir());
    assert!(files.iter().any(|p| p.starts_with(ws.state_dir().join("logs"))), "the runs' logs are searched too: {files:?}");
    assert_eq!(std::fs::metadata(ws.state_dir().join("logs")).unwrap().permissions().mode() & 0o777, 0o700);
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains(SECRET) && !text.contains(TOKEN), "a credential leaked into {}", p.display());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", p.display());
    }
    assert_eq!(std::fs::metadata(ws.state_dir()).unwrap().permissions().mode() & 0o777, 0o700);
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

/// `--lock-wait` on a local state waits for the holder to finish instead of
/// exiting 5, then goes on from what the holder left.
#[test]
fn lock_wait_waits_for_a_local_holder() {
    let emu = Emulator::start();
    emu.seed_incident();
    let proxy = Proxy::start(&emu);
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    proxy.hold(1, "before");
    let first = dualstack_via(&proxy).args(["apply", "--yes"]).arg(&rb).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(60, "the first run's first call to be held", || proxy.held());
    let second = dualstack_via(&proxy).args(["--lock-wait", "60s", "apply", "--yes"]).arg(&rb).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(second.id() > 0);
    proxy.release_forward();
    let out = first.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    proxy.clear();
    let out = second.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("waiting up to 1m for the lock held by pid "), "{}", stderr(&out));
    assert_eq!(proxy.applied_mutations(), Vec::<String>::new(), "the second run found everything done");
}
