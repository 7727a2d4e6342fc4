//! The S3 state backend (`--state s3://BUCKET/PREFIX`, or DUALSTACK_STATE):
//! the journal as one object per record, a leased lock object, runs on
//! different machines (a different directory, HOME and XDG_STATE_HOME) that
//! share one prefix.
//!
//! The tool's S3 calls go straight to the emulator (AWS_ENDPOINT_URL_S3)
//! while its EC2 and ELBv2 calls go through the fault proxy
//! (AWS_ENDPOINT_URL), so the proxy's holds and counts see AWS changes only:
//! its k-th mutating call is the run's k-th change. The fault tests send S3
//! through a second proxy instead.

mod support;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const NETWORK: &str = "redash-dualstack";
const CUTOVER: &str = "redash-cutover";

/// The network half's runbook (runbooks/incident.yaml).
fn network_text() -> String {
    std::fs::read_to_string(root().join("runbooks/incident.yaml")).unwrap()
}

/// What an uninterrupted network-half run ends with, and the changes it
/// applies (EC2 calls, in order), measured once per test process on an
/// emulator of its own.
struct Reference {
    end: Vec<String>,
    applied: Vec<String>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let emu = Emulator::start();
        let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
        let proxy = Proxy::start(&emu);
        let s3 = S3State::create(&emu, "reference-state", "ref");
        let m = Machine::new();
        let rb = m.runbook("incident.yaml", &network_text());
        let out = run(m.dualstack(&proxy.endpoint, &s3).args(["apply", "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "reference run: {}", stderr(&out));
        let applied = proxy.applied_mutations();
        assert!(proxy.calls().iter().all(|c| !c.action.contains("Object") && !c.action.contains("Bucket")), "S3 calls bypass the proxy");
        eprintln!("reference: {} changes: {applied:?}", applied.len());
        Reference { end: normalize(emu.fingerprint(&vpc)), applied }
    })
}

/// An emulator with the incident's topology, the proxy the tool's EC2 calls
/// go through, and a bucket for the state.
struct Net {
    emu: Emulator,
    proxy: Proxy,
    vpc: String,
    s3: S3State,
}

fn net(bucket: &str, prefix: &str) -> Net {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let proxy = Proxy::start(&emu);
    let s3 = S3State::create(&emu, bucket, prefix);
    Net { emu, proxy, vpc, s3 }
}

/// The lock id a contender's message shows ("..., lock id ID)").
fn lock_id_in(message: &str) -> String {
    let (_, rest) = message.split_once("lock id ").unwrap_or_else(|| panic!("no lock id in: {message}"));
    rest.split(')').next().unwrap().to_string()
}

/// The journal's objects are records 1..N, none missing, each holding its
/// own number.
fn assert_numbered(s3: &S3State, name: &str) -> Vec<Value> {
    let keys = s3.journal_keys(name);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(k, &format!("{}/journal/{:020}.json", s3.base(name), i + 1), "record {} of {keys:#?}", i + 1);
    }
    let records = s3.journal(name);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["n"].as_u64(), Some(i as u64 + 1), "record {} holds {r}", i + 1);
    }
    records
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

fn wait_output(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

/// 1. The full cutover with its state in S3; `status` and `rollback` from
/// another machine (directory, HOME, XDG_STATE_HOME) that has only the
/// runbook and the state URL.
#[test]
fn the_cutover_applies_and_another_machine_sees_it_and_rolls_it_back() {
    let t0 = Instant::now();
    let emu = Emulator::start();
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    let original = emu.fingerprint(&vpc);
    let s3 = S3State::create(&emu, "cutover-state", "teams/web");
    let a = Machine::new();
    let (_app, rb_a) = cutover_runbook(&a.ws);
    let out = run(a.dualstack(&emu.endpoint, &s3).args(["apply", "--yes"]).arg(&rb_a));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = emu.fingerprint(&vpc);
    for line in [
        "lb redash internet-facing dualstack",
        "listener redash:80 default [\"redash-blue-v6=100\", \"redash-green-v6=0\"]",
        "listener redash:80 rule 10 [\"redash-blue-v6=100\", \"redash-green-v6=0\"]",
        "target group redash-blue-v6 ipv6 [\"<ipv6>:5000\"]",
        "target group redash-green-v6 ipv6 [\"<ipv6>:5000\"]",
    ] {
        assert!(after.iter().any(|l| l == line), "missing {line:?} in {after:#?}");
    }
    // The state is in S3 only: nothing beside the runbook; the run's log on
    // this machine.
    assert!(!a.ws.state_dir().exists(), "a local state directory was created");
    assert!(s3.lock(CUTOVER).is_none(), "the lock was released");
    let records = assert_numbered(&s3, CUTOVER);
    let n = records.len();
    assert_eq!(records.last().unwrap()["outcome"], "completed", "{}", records.last().unwrap());
    let logs: Vec<_> = std::fs::read_dir(a.log_dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(logs.len() == 1 && logs[0].starts_with("redash-cutover.") && logs[0].ends_with(".jsonl"), "{logs:?}");

    // Another machine: the same runbook text, nothing else.
    let b = Machine::new();
    let rb_b = b.runbook("incident-cutover.yaml", &std::fs::read_to_string(&rb_a).unwrap());
    let out = run(b.dualstack(&emu.endpoint, &s3).arg("status").arg(&rb_b));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = stdout(&out);
    assert!(status.contains("completed") && status.contains(&s3.url()), "{status}");
    emu.clear_calls();
    let out = run(b.dualstack(&emu.endpoint, &s3).args(["rollback", "--yes"]).arg(&rb_b));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original, "rollback from the other machine restores the start");
    assert!(!b.ws.state_dir().exists() && s3.lock(CUTOVER).is_none());
    assert!(std::fs::read_dir(b.log_dir()).unwrap().count() == 1, "the rollback's log is on the machine that ran it");
    let records = assert_numbered(&s3, CUTOVER);
    assert!(records.len() > n, "the rollback appended after record {n}");
    assert!(records[n..].iter().all(|r| r["n"].as_u64().unwrap() > n as u64));
    assert_eq!(records.last().unwrap()["outcome"], "reverted", "{}", records.last().unwrap());
    assert_eq!(marker(&emu, &vpc), None, "the run's marker went with the rollback");
    // A second rollback, from the first machine, finds nothing left to undo.
    let out = run(a.dualstack(&emu.endpoint, &s3).args(["rollback", "--yes"]).arg(&rb_a));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing to roll back"), "{}", stderr(&out));
    eprintln!("cutover via S3 state: {n} records for the apply, {} in all; {}", records.len(), secs(t0.elapsed()));
}

/// The run marker's `dualstack:run` tag on the VPC, if any.
fn marker(emu: &Emulator, vpc: &str) -> Option<String> {
    runtime().block_on(async {
        let f = |n: &str, v: &str| aws_sdk_ec2::types::Filter::builder().name(n).values(v).build();
        let out = emu.ec2().describe_tags().filters(f("resource-id", vpc)).filters(f("key", "dualstack:run")).send().await.unwrap();
        out.tags().first().and_then(|t| t.value()).map(str::to_string)
    })
}

/// 2. Two `apply` runs on two machines, one prefix, started together: one
/// holds the lock (held by the proxy at its first change), the other exits
/// 5 at once naming it. Cleaned up with `force-unlock` (the id from the
/// loser's message), or every fifth round by `rollback --lock-wait` taking
/// the dead winner's short lease over.
#[test]
fn lock_races_on_one_prefix_exactly_one_proceeds() {
    let t0 = Instant::now();
    let Net { emu, proxy, vpc, s3 } = net("race-state", "");
    let original = emu.fingerprint(&vpc);
    let rounds: usize = std::env::var("LOCK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let (a, b) = (Machine::new(), Machine::new());
    let rb_a = a.runbook("incident.yaml", &network_text());
    let rb_b = b.runbook("incident.yaml", &network_text());
    let mut wins = [0usize; 2];
    let mut slowest_loser = Duration::ZERO;
    for round in 0..rounds {
        let s3 = s3.with_prefix(&format!("round-{round}"));
        let takeover = round % 5 == 4;
        proxy.clear();
        proxy.hold(1, "before");
        let spawn = |m: &Machine, rb: &Path| {
            let mut c = m.dualstack(&proxy.endpoint, &s3);
            if takeover {
                c.args(["--lock-ttl", "1s"]);
            }
            c.args(["apply", "--yes"]).arg(rb).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        };
        let started = Instant::now();
        let (mut ca, mut cb) = (spawn(&a, &rb_a), spawn(&b, &rb_b));
        let (loser, mut winner, w) = loop {
            if ca.try_wait().unwrap().is_some() {
                break (ca, cb, 1);
            }
            if cb.try_wait().unwrap().is_some() {
                break (cb, ca, 0);
            }
            assert!(started.elapsed() < Duration::from_secs(60), "round {round}: neither gave up");
            std::thread::sleep(Duration::from_millis(5));
        };
        slowest_loser = slowest_loser.max(started.elapsed());
        wins[w] += 1;
        let lost = wait_output(loser);
        let err = stderr(&lost);
        assert_eq!(code(&lost), 5, "round {round}: the first to exit lost the lock: {err}");
        assert!(err.contains(&format!("another dualstack run holds {}/{NETWORK}/lock.json: pid {} on ", s3.url(), winner.id())), "round {round}: {err}");
        let winner_user = if w == 0 { &a.user } else { &b.user };
        assert!(err.contains(&format!("(`apply` by {winner_user}, lock id ")) && err.contains(&format!("with a lease of {}", if takeover { "1s" } else { "2m" })), "round {round}: {err}");
        assert!(err.contains("help: ") && err.contains("force-unlock"), "round {round}: {err}");
        wait_until(60, "the winner's first change to be held", || proxy.held());
        assert!(winner.try_wait().unwrap().is_none(), "round {round}: the winner is running");
        let (lock, _) = s3.lock(NETWORK).expect("the winner's lock");
        let id = lock_id_in(&err);
        assert_eq!(lock["holder"]["id"], id.as_str(), "round {round}: {lock}");
        assert_eq!(lock["holder"]["pid"], winner.id(), "round {round}: {lock}");
        let mutating: Vec<_> = proxy.calls().into_iter().filter(|c| c.mutating).collect();
        assert_eq!(mutating.len(), 1, "round {round}: only the winner's first change was sent: {mutating:?}");
        let pid = winner.id();
        winner.kill().unwrap();
        winner.wait().unwrap();
        proxy.release(); // discarded, never sent
        let loser_machine = if w == 0 { (&b, &rb_b) } else { (&a, &rb_a) };
        if takeover {
            let out = run(loser_machine.0.dualstack(&proxy.endpoint, &s3).args(["rollback", "--yes", "--lock-wait", "5s"]).arg(loser_machine.1));
            assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
            assert!(stderr(&out).contains(&format!("took over the lock from pid {pid} ")), "round {round}: {}", stderr(&out));
            let records = assert_numbered(&s3, NETWORK);
            assert!(records.iter().any(|r| r["type"] == "lock_taken_over" && r["from"]["pid"] == pid && r["generation"] == 2), "round {round}: {records:#?}");
        } else {
            if round == 0 {
                // A wrong id removes nothing.
                let out = run(loser_machine.0.dualstack(&emu.endpoint, &s3).args(["force-unlock"]).arg(loser_machine.1).arg("0123abcd"));
                assert_eq!(code(&out), 2, "{}", stderr(&out));
                assert!(stderr(&out).contains(&format!("whose lock id is {id}, not 0123abcd: nothing was removed")), "{}", stderr(&out));
                assert!(s3.lock(NETWORK).is_some());
            }
            let out = run(loser_machine.0.dualstack(&emu.endpoint, &s3).args(["force-unlock"]).arg(loser_machine.1).arg(&id));
            assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
            assert!(stderr(&out).contains(&format!("removed the lock of pid {pid} ")), "round {round}: {}", stderr(&out));
        }
        assert!(s3.lock(NETWORK).is_none(), "round {round}: the lock is gone");
        // The winner's first call (the VPC marker) was never sent; a rollback
        // removes the marker all the same (its intent has no outcome).
        let applied = proxy.applied_mutations();
        assert!(applied.is_empty() || (takeover && applied == ["DeleteTags"]), "round {round}: nothing was applied by anyone: {applied:?}");
        assert_eq!(marker(&emu, &vpc), None, "round {round}: no marker is left on the VPC");
    }
    assert_eq!(emu.fingerprint(&vpc), original);
    eprintln!(
        "S3 lock races: {rounds} rounds, exactly one proceeded in each (machine A {} times, B {}); slowest loser exited after {}; {}",
        wins[0],
        wins[1],
        secs(slowest_loser),
        secs(t0.elapsed())
    );
}

/// 3. A holder SIGKILLed while its change is held: a contender without
/// --lock-wait exits 5 at once; `resume --lock-wait` on another machine
/// takes the lease over no sooner than a lease after it started watching
/// and ends as an uninterrupted run, each change applied once.
#[test]
fn a_killed_holders_lease_is_taken_over_by_resume_on_another_machine() {
    let t0 = Instant::now();
    let reference = reference();
    let Net { emu, proxy, vpc, s3 } = net("killed-holder", "ci");
    let a = Machine::new();
    let rb_a = a.runbook("incident.yaml", &network_text());
    let k = 5;
    proxy.hold(k, "before");
    let mut holder = a.dualstack(&proxy.endpoint, &s3).args(["--lock-ttl", "2s", "apply", "--yes"]).arg(&rb_a).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until(60, "the holder's change to be held", || proxy.held());
    let pid = holder.id();
    holder.kill().unwrap();
    holder.wait().unwrap();
    proxy.release();
    wait_until(30, "the calls in flight to be answered", || proxy.idle());
    let killed_applied = proxy.applied_mutations();
    assert!(killed_applied.len() >= k - 1, "{killed_applied:?}");
    proxy.clear();

    let b = Machine::new();
    let rb_b = b.runbook("incident.yaml", &network_text());
    let started = Instant::now();
    let out = run(b.dualstack(&proxy.endpoint, &s3).args(["resume", "--yes"]).arg(&rb_b));
    let at_once = started.elapsed();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("pid {pid} on ")) && stderr(&out).contains("with a lease of 2s"), "{}", stderr(&out));
    assert!(at_once < Duration::from_secs(2), "gave up at once, not after {at_once:?}");

    let started = Instant::now();
    // Without XDG_STATE_HOME: the run's log goes under $HOME/.local/state.
    let out = run(b.dualstack(&proxy.endpoint, &s3).env_remove("XDG_STATE_HOME").args(["resume", "--yes", "--lock-wait", "20s"]).arg(&rb_b));
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(took >= Duration::from_secs(2), "took the lock over after {took:?}, less than its lease");
    let logs = b.home.path().join(".local/state/dualstack/logs");
    assert_eq!(std::fs::read_dir(&logs).map(|d| d.count()).unwrap_or(0), 1, "the run's log in {}", logs.display());
    assert!(!b.xdg_state().exists() && !b.ws.state_dir().exists());
    assert!(err.contains(&format!("took over the lock from pid {pid} on ")) && err.contains("its lease of 2s went unrenewed for") && err.contains("(generation 2)"), "{err}");
    assert_eq!(normalize(emu.fingerprint(&vpc)), reference.end, "end state");
    let all: Vec<String> = killed_applied.iter().chain(&proxy.applied_mutations()).cloned().collect();
    assert_eq!(action_counts(&all), action_counts(&reference.applied), "each change applied once:\n{err}");
    let records = assert_numbered(&s3, NETWORK);
    let taken: Vec<_> = records.iter().filter(|r| r["type"] == "lock_taken_over").collect();
    assert_eq!(taken.len(), 1, "{records:#?}");
    assert_eq!(taken[0]["from"]["pid"], pid);
    assert!(s3.lock(NETWORK).is_none(), "released");
    assert_eq!(marker(&emu, &vpc), None, "the completed run removed its marker");
    eprintln!("killed holder: refused in {}, taken over after {} (lease 2s); {}", secs(at_once), secs(took), secs(t0.elapsed()));
}

/// The time the proxy first holds a call, polled closely, on the wall clock.
fn wall_when_held(proxy: &Proxy, secs: u64) -> std::time::SystemTime {
    let start = Instant::now();
    while !proxy.held() {
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for the call to be held");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::time::SystemTime::now()
}

fn send_signal(child: &Child, sig: i32) {
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// 4. A holder stopped (SIGSTOP) past its lease, its k-th change already
/// past the lease check and held by the proxy: the held call goes out while
/// it is stopped, a contender takes over and finishes, and the holder, once
/// continued, sends no further change and exits 5, having lost the lock.
#[test]
fn a_stopped_holder_sends_nothing_after_it_is_continued() {
    let t0 = Instant::now();
    let reference = reference();
    let Net { emu, proxy, vpc, s3 } = net("stopped-holder", "laptops");
    let a = Machine::new();
    let rb_a = a.runbook("incident.yaml", &network_text());
    // The default route: a change with nothing sent together with it.
    let k = reference.applied.iter().position(|a| a == "CreateRoute").unwrap() + 1;
    proxy.hold(k, "before");
    let holder = a.dualstack(&proxy.endpoint, &s3).args(["--lock-ttl", "2s", "apply", "--yes"]).arg(&rb_a).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let held_at = wall_when_held(&proxy, 60);
    send_signal(&holder, libc::SIGSTOP);
    // The window between the holder's last lease check and its call, bounded
    // from outside: the check comes after its intent record was written, and
    // the record's time was taken before that write.
    let records = s3.journal(NETWORK);
    let intent = records.iter().rev().find(|r| r["type"] == "intent").unwrap();
    let intent_at = humantime::parse_rfc3339(intent["at"].as_str().unwrap()).unwrap();
    let window = held_at.duration_since(intent_at).unwrap_or_default();
    // The held call goes out while its sender is stopped, after its lease
    // has run out (a packet delayed in the network).
    std::thread::sleep(Duration::from_millis(2500));
    proxy.release_forward();
    wait_until(30, "the held call to be answered", || proxy.idle());
    let holder_applied = proxy.applied_mutations();
    assert_eq!(holder_applied.len(), k, "{holder_applied:?}");
    proxy.clear();

    let b = Machine::new();
    let rb_b = b.runbook("incident.yaml", &network_text());
    let started = Instant::now();
    let out = run(b.dualstack(&proxy.endpoint, &s3).args(["resume", "--yes", "--lock-wait", "20s"]).arg(&rb_b));
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(err.contains(&format!("took over the lock from pid {} on ", holder.id())), "{err}");
    assert_eq!(normalize(emu.fingerprint(&vpc)), reference.end, "end state");
    let all: Vec<String> = holder_applied.iter().chain(&proxy.applied_mutations()).cloned().collect();
    assert_eq!(action_counts(&all), action_counts(&reference.applied), "each change applied once:\n{err}");

    proxy.clear();
    let records_before = s3.journal_keys(NETWORK).len();
    send_signal(&holder, libc::SIGCONT);
    let out = wait_output(holder);
    let err = stderr(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert!(err.contains(&format!("lost the lock on {}/{NETWORK}/", s3.url())) && err.contains("this run stopped before any further AWS call"), "{err}");
    let after: Vec<_> = proxy.calls().into_iter().filter(|c| c.mutating).collect();
    assert!(after.is_empty(), "the continued holder sent a change: {after:?}");
    assert_eq!(s3.journal_keys(NETWORK).len(), records_before, "the continued holder wrote no record");
    assert_numbered(&s3, NETWORK);
    assert_eq!(normalize(emu.fingerprint(&vpc)), reference.end);
    eprintln!(
        "stopped holder: window from its intent record's time (before the write the lease check follows) to its call held at the proxy: {} ms (an upper bound of check -> send); taken over after {}; {}",
        window.as_millis(),
        secs(took),
        secs(t0.elapsed())
    );
}

/// 6. State the tool cannot use: a bucket it may not write, a bucket that
/// does not exist. A clear error naming the bucket, exit 1, and no change
/// to AWS at all.
#[test]
fn a_bucket_it_may_not_write_or_that_does_not_exist_changes_nothing() {
    let t0 = Instant::now();
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let original = emu.fingerprint(&vpc);
    let m = Machine::new();
    let rb = m.runbook("incident.yaml", &network_text());
    let denied = S3State::create(&emu, "denied-state", "x");
    let missing = S3State::at(&emu, "no-such-state-bucket", "x");
    for (s3, what) in [(&missing, "NoSuchBucket"), (&denied, "AccessDenied")] {
        if what == "AccessDenied" {
            emu.deny(&["s3:PutObject"]);
        }
        for cmd in [&["apply", "--yes"][..], &["resume", "--yes"], &["rollback", "--yes"]] {
            emu.clear_calls();
            let out = run(m.dualstack(&emu.endpoint, s3).args(cmd).arg(&rb));
            let err = stderr(&out);
            assert_eq!(code(&out), 1, "{cmd:?} on {}: {err}", s3.url());
            assert!(err.contains(&format!("s3://{}/", s3.bucket)) && err.contains(what), "{cmd:?}: the bucket and the cause: {err}");
            assert!(err.contains("nothing was changed"), "{cmd:?}: {err}");
            assert_eq!(emu.aws_mutating_calls(), Vec::<String>::new(), "{cmd:?} on {}", s3.url());
        }
    }
    assert!(stderr(&run(m.dualstack(&emu.endpoint, &denied).args(["apply", "--yes"]).arg(&rb))).contains("needs s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket"));
    assert!(denied.keys_under("").is_empty(), "nothing was written to the bucket");
    // status only reads: a missing bucket is an error too.
    let out = run(m.dualstack(&emu.endpoint, &missing).arg("status").arg(&rb));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-state-bucket"), "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original);
    assert!(!m.ws.state_dir().exists());
    eprintln!("unusable buckets: {}", secs(t0.elapsed()));
}

/// 4b. A holder stopped while it waits to send a throttled change again:
/// its change was checked against the lease before the first attempt, and
/// the attempts after the backoff must not go out once the lease ran out
/// and another machine took the run over (here: rolled it back).
#[test]
fn a_holder_stopped_in_a_throttled_retry_sends_nothing_after_it_is_continued() {
    let t0 = Instant::now();
    let Net { emu, proxy, vpc, s3 } = net("throttled-holder", "ops");
    let original = emu.fingerprint(&vpc);
    let a = Machine::new();
    let rb_a = a.runbook("incident.yaml", &network_text());
    proxy.scenario(serde_json::json!({"throttle_rate": 1.0, "only_actions": ["CreateRoute"]}));
    let holder = a.dualstack(&proxy.endpoint, &s3).args(["--lock-ttl", "2s", "apply", "--yes"]).arg(&rb_a).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // After the fifth refusal the holder sleeps 0.8 to 1.6 s before trying again.
    let throttled = || proxy.calls().iter().filter(|c| c.action == "CreateRoute" && c.outcome == "throttled").count();
    wait_until(60, "five throttled CreateRoute attempts", || throttled() >= 5);
    send_signal(&holder, libc::SIGSTOP);
    let attempts = throttled();
    proxy.scenario(serde_json::json!({}));

    let b = Machine::new();
    let rb_b = b.runbook("incident.yaml", &network_text());
    let out = run(b.dualstack(&proxy.endpoint, &s3).args(["rollback", "--yes", "--lock-wait", "20s"]).arg(&rb_b));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("took over the lock from pid {} on ", holder.id())), "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original, "rolled back");

    proxy.clear();
    send_signal(&holder, libc::SIGCONT);
    let out = wait_output(holder);
    let after: Vec<_> = proxy.calls().into_iter().filter(|c| c.mutating).collect();
    eprintln!("throttled holder: stopped after {attempts} throttled attempts; after SIGCONT it exited {} and sent {after:?}; {}", code(&out), secs(t0.elapsed()));
    assert!(after.is_empty(), "the continued holder sent a change after losing the lock: {after:?}\n{}", stderr(&out));
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original, "the rolled-back VPC stays as it was");
}

/// 5. S3 faults on the state's own calls (a second proxy in front of S3):
/// throttling (503 SlowDown), 409 ConditionalRequestConflict on conditional
/// writes, answers to writes lost after S3 applied them (500, or the
/// connection dropped). Each run ends as a clean one, each EC2 change
/// applied once, the journal without gaps.
#[test]
fn s3_faults_end_as_a_clean_run_with_each_change_applied_once() {
    let t0 = Instant::now();
    let reference = reference();
    let Net { emu, proxy, s3, .. } = net("faulty-state", "shared");
    let s3proxy = Proxy::start(&emu);
    let faulty = s3.via(&s3proxy);
    let scenarios = [
        ("throttling", serde_json::json!({"seed": 7, "throttle_rate": 0.25}), "throttled"),
        ("conditional conflicts", serde_json::json!({"seed": 8, "conditional_conflict": {"first": 2, "rate": 0.25}}), "conflict"),
        ("lost answers (500)", serde_json::json!({"seed": 9, "lose_response": {"mutating": 0.25, "mode": "500"}}), "lost_500"),
        ("lost answers (dropped)", serde_json::json!({"seed": 10, "lose_response": {"mutating": 0.25, "mode": "drop"}}), "dropped"),
        (
            "all at once, then rollback",
            serde_json::json!({"seed": 11, "throttle_rate": 0.1, "conditional_conflict": {"rate": 0.1}, "lose_response": {"mutating": 0.15, "mode": "500"}}),
            "lost_500",
        ),
    ];
    for (what, scenario, outcome) in scenarios {
        let t = Instant::now();
        emu.reset();
        let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
        let original = emu.fingerprint(&vpc);
        s3.create_bucket();
        proxy.reset();
        s3proxy.reset();
        s3proxy.scenario(scenario);
        let m = Machine::new();
        let rb = m.runbook("incident.yaml", &network_text());
        let out = run(m.dualstack(&proxy.endpoint, &faulty).args(["apply", "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        assert_eq!(normalize(emu.fingerprint(&vpc)), reference.end, "{what}: end state");
        assert_eq!(proxy.applied_mutations(), reference.applied, "{what}: each change applied once, in order");
        let records = assert_numbered(&s3, NETWORK);
        assert_eq!(records.last().unwrap()["outcome"], "completed", "{what}");
        assert!(s3.lock(NETWORK).is_none(), "{what}: the lock was released");
        let calls = s3proxy.calls_json();
        let faulted: Vec<&Value> = calls.iter().filter(|c| c["outcome"] == outcome).collect();
        assert!(!faulted.is_empty(), "{what}: no {outcome} fault was injected");
        let writes_faulted = faulted.iter().filter(|c| c["action"] == "PutObject").count();
        let mut line = format!("{what}: {} S3 calls, {} {outcome} ({writes_faulted} of them PutObject)", calls.len(), faulted.len());
        if what.contains("rollback") {
            let out = run(m.dualstack(&proxy.endpoint, &faulty).args(["rollback", "--yes"]).arg(&rb));
            assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
            assert_eq!(emu.fingerprint(&vpc), original, "{what}: rolled back");
            assert_numbered(&s3, NETWORK);
            assert!(s3.lock(NETWORK).is_none());
        }
        line += &format!("; {}", secs(t.elapsed()));
        eprintln!("S3 faults, {line}");
    }
    eprintln!("S3 faults: {}", secs(t0.elapsed()));
}

/// A run that ends while a renewal of its lease is in flight still removes
/// its lock: otherwise the next run without --lock-wait is refused (exit 5)
/// by a lock whose holder finished, until a whole lease has passed. S3 is
/// slowed by 40 ms a call (a second proxy) and the lease is short (renewed
/// every 100 ms), so a renewal is often in flight when a run ends.
#[test]
fn a_run_ending_during_a_renewal_leaves_no_lock() {
    let t0 = Instant::now();
    let Net { emu, proxy, s3, .. } = net("renewal-in-flight", "p");
    let m = Machine::new();
    let rb = m.runbook("incident.yaml", &network_text());
    let out = run(m.dualstack(&proxy.endpoint, &s3).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s3proxy = Proxy::start(&emu);
    s3proxy.scenario(serde_json::json!({"latency_ms": 40}));
    let slow = s3.via(&s3proxy);
    let mut left = Vec::new();
    let rounds = 10;
    for round in 0..rounds {
        s3proxy.clear();
        // The VPC is migrated already: an apply that reads, changes nothing
        // and ends.
        let out = run(m.dualstack(&proxy.endpoint, &slow).args(["--lock-ttl", "300ms", "apply", "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        if let Some((lock, _)) = s3.lock(NETWORK) {
            let tail: Vec<String> = s3proxy.calls_json().iter().rev().take(3).rev().map(|c| format!("{} {}", c["action"].as_str().unwrap(), c["status"])).collect();
            // The next run, on another machine, without --lock-wait.
            let other = Machine::new();
            let rb_other = other.runbook("incident.yaml", &network_text());
            let next = run(other.dualstack(&proxy.endpoint, &s3).args(["apply", "--yes"]).arg(&rb_other));
            left.push(format!("round {round}: {} renewals, last S3 calls {tail:?}; the next apply elsewhere exited {}", lock["renewals"], code(&next)));
            runtime().block_on(s3.client().delete_object().bucket(&s3.bucket).key(s3.lock_key(NETWORK)).send()).unwrap();
        }
    }
    eprintln!("renewal in flight: {} of {rounds} finished runs left their lock: {left:#?}; {}", left.len(), secs(t0.elapsed()));
    assert!(left.is_empty(), "finished runs left their lock: {left:#?}");
}
