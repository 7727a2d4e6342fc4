//! The kill matrix: the full cutover runbook (network steps, backend
//! addresses, the ALB, both target groups, every gate), with the tool killed
//! by SIGKILL at every mutating-call boundary, both *before* the call is sent
//! and *after* AWS applied it but before the answer was read, then resumed
//! or rolled back from that point. The fault-injecting proxy holds the call
//! and counts what reached the emulator. The cutover's rollbacks run at
//! every other call, which still rolls back from every prefix of the run
//! (see below); `KILL_MATRIX_FULL=1` runs them at every call.
//!
//! For every point:
//! - `resume` reaches the uninterrupted run's end state, attribute for
//!   attribute (`rollback`: the starting state);
//! - no duplicates (blocks, rules, routes, target groups: the state
//!   fingerprint lists each one) and no orphans (every resource tagged by
//!   the run is named in the journal; after rollback there are none);
//! - each change is applied at most once, as counted by the proxy: the
//!   killed run plus `resume` apply exactly the calls of an uninterrupted
//!   run; the killed run plus `rollback` repeat no forward call and no
//!   undo is rejected by AWS.
//!
//! Changes on different resources of one step are sent together, so a kill
//! at call k can also find calls sent with it applied, their answers unread:
//! those are intents without outcomes, settled from live state as the held
//! call is.
//!
//! The same four matrices run over an ECS runbook (the network half and an
//! `ecs_redeploy` of the worker and the server, with the account setting):
//! UpdateService and PutAccountSettingDefault are killed around like every
//! other call. `resume` after a kill must reach the same end with no extra
//! deployment (a journaled deployment is waited for, not issued again), and
//! `rollback` the start, every task back on IPv4.
//!
//! The matrices are separate tests so that they run in parallel.

mod support;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::*;

/// Resources carrying the run tag: target groups (ELBv2) and EC2 resources
/// (egress-only gateways), as IDs or ARNs.
fn run_tagged(emu: &Emulator) -> Vec<String> {
    runtime().block_on(async {
        let mut out = Vec::new();
        let elb = emu.elb();
        let tgs = elb.describe_target_groups().send().await.unwrap();
        let arns: Vec<String> = tgs.target_groups().iter().filter_map(|t| t.target_group_arn()).map(str::to_string).collect();
        if !arns.is_empty() {
            let tags = elb.describe_tags().set_resource_arns(Some(arns)).send().await.unwrap();
            out.extend(
                tags.tag_descriptions()
                    .iter()
                    .filter(|d| d.tags().iter().any(|t| t.key() == Some("dualstack:run")))
                    .filter_map(|d| d.resource_arn())
                    .map(str::to_string),
            );
        }
        let f = aws_sdk_ec2::types::Filter::builder().name("key").values("dualstack:run").build();
        let tags = emu.ec2().describe_tags().filters(f).send().await.unwrap();
        out.extend(tags.tags().iter().filter_map(|t| t.resource_id()).map(str::to_string));
        out.sort();
        out
    })
}

/// Group names of tagged target groups (ARNs differ between runs).
fn tagged_names(tagged: &[String]) -> Vec<String> {
    tagged.iter().filter(|a| a.contains(":targetgroup/")).map(|a| a.split('/').nth(1).unwrap().to_string()).collect()
}

/// What a matrix runs: the topology, the runbook (its file name and text)
/// and the state compared at the end.
struct Scenario {
    seed: fn(&Emulator) -> String,
    file: &'static str,
    journal: &'static str,
    state: fn(&Emulator, &str) -> Vec<String>,
    /// The target groups the run creates.
    tagged: &'static [&'static str],
}

fn cutover() -> Scenario {
    Scenario {
        seed: |emu| emu.seed_cutover()["vpc"].as_str().unwrap().to_string(),
        file: "incident-cutover.yaml",
        journal: "redash-cutover.journal.jsonl",
        state: |emu, vpc| emu.fingerprint(vpc),
        tagged: &["redash-blue-v6", "redash-green-v6"],
    }
}

/// The network half and the redeploy of two services.
const ECS_RUNBOOK: &str = "version: 1
name: redash-ecs
region: ap-northeast-1
vpc: redash
checks:
  server-healthy: { ecs_service: { cluster: redash, service: redash-server } }
gate_defaults: { interval: 300ms, healthy_threshold: 2, unhealthy_threshold: 2, timeout: 1m }
steps:
  - id: vpc-ipv6
    vpc_ipv6_cidr: {}
  - id: subnets
    subnet_ipv6:
      subnets:
        - { subnet: public-1a, index: 1 }
        - { subnet: public-1c, index: 2 }
        - { subnet: public-1d, index: 3 }
      assign_ipv6_on_creation: true
      aaaa_records_on_launch: true
  - id: redeploy
    ecs_redeploy:
      cluster: redash
      services: [redash-worker, redash-server]
      enable_dual_stack_setting: true
      timeout: 2m
    gate: { checks: [server-healthy] }
";

fn ecs() -> Scenario {
    Scenario {
        seed: |emu| emu.seed_ecs(&[])["vpc"].as_str().unwrap().to_string(),
        file: "incident-ecs.yaml",
        journal: "redash-ecs.journal.jsonl",
        // The network (the group's targets are the tasks' addresses, new with
        // every deployment) and, per service, what its tasks are.
        state: |emu, vpc| {
            let mut out: Vec<String> = emu.fingerprint(vpc).into_iter().filter(|l| !l.starts_with("target group redash-server ")).collect();
            for s in emu.ecs_services("redash") {
                let v6 = s.tasks.iter().filter(|t| t.ipv6.is_some()).count();
                let states: Vec<&str> = s.deployments.iter().map(|d| d.2.as_str()).collect();
                out.push(format!("service {} {}/{} running, {v6} with IPv6, deployments {states:?}", s.name, s.running, s.desired));
            }
            out.push(format!("dualStackIPv6 {}", emu.dual_stack_setting()));
            out
        },
        tagged: &[],
    }
}

/// The network half, the load balancer's security-group and ACL twins, the
/// ALB and the AAAA alias.
const USERS_RUNBOOK: &str = "version: 1
name: redash-users
region: ap-northeast-1
vpc: redash
steps:
  - id: vpc-ipv6
    vpc_ipv6_cidr: {}
  - id: subnets
    subnet_ipv6:
      subnets:
        - { subnet: public-1a, index: 1 }
        - { subnet: public-1c, index: 2 }
        - { subnet: public-1d, index: 3 }
      assign_ipv6_on_creation: true
  - id: security-groups
    security_group_ipv6: { groups: [redash-alb] }
  - id: network-acls
    network_acl_ipv6:
      network_acls: [public-acl]
  - id: alb
    load_balancer_ip_type: { load_balancer: redash, ip_address_type: dualstack }
  - id: dns
    dns_aaaa:
      load_balancer: redash
      records:
        - { zone: example.com, name: redash.example.com }
      withdraw_wait: 0s
";

fn users() -> Scenario {
    Scenario {
        seed: |emu| emu.seed_users()["vpc"].as_str().unwrap().to_string(),
        file: "incident-users.yaml",
        journal: "redash-users.journal.jsonl",
        state: |emu, vpc| {
            let mut out = emu.fingerprint(vpc);
            out.extend(emu.acls_and_zones(vpc));
            out
        },
        tagged: &[],
    }
}

struct Reference {
    end: Vec<String>,
    applied: Vec<String>,
    tagged: Vec<String>,
}

fn reference(sc: &Scenario, emu: &Emulator, proxy: &Proxy, rb: &Path) -> Reference {
    let vpc = (sc.seed)(emu);
    proxy.clear();
    let out = run(dualstack_via(proxy).args(["apply", "--yes"]).arg(rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let applied = proxy.applied_mutations();
    let tagged = tagged_names(&run_tagged(emu));
    assert_eq!(tagged, sc.tagged);
    eprintln!("the {} runbook makes {} mutating calls", sc.file, applied.len());
    Reference { end: normalize((sc.state)(emu, &vpc)), applied, tagged }
}

/// A fresh topology; `apply` killed at mutating call `k` (`when`: before or
/// after). Returns the VPC, its starting state, the workspace and the calls
/// the killed run applied.
fn kill_at(sc: &Scenario, emu: &Emulator, proxy: &Proxy, rb0: &Path, k: usize, when: &str) -> (String, Vec<String>, Workspace, PathBuf, Vec<String>) {
    emu.reset();
    let vpc = (sc.seed)(emu);
    let original = (sc.state)(emu, &vpc);
    let ws = Workspace::new();
    let rb = ws.runbook(sc.file, &std::fs::read_to_string(rb0).unwrap());
    let (_, applied) = kill_held(proxy, k, when, dualstack_via(proxy).args(["apply", "--yes"]).arg(&rb));
    (vpc, original, ws, rb, applied)
}

/// Start `apply` (`cmd`), SIGKILL it once the proxy holds its mutating call
/// `k` (`when`: before it is forwarded or after it was applied), and let
/// the held call go. Returns the killed run's pid and the calls it applied.
fn kill_held(proxy: &Proxy, k: usize, when: &str, cmd: &mut std::process::Command) -> (u32, Vec<String>) {
    proxy.reset();
    proxy.hold(k, when);
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until(120, &format!("mutating call {k} to be held {when}"), || proxy.held());
    let pid = child.id();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    proxy.release(); // "before": discarded, never sent; "after": already applied
    // Calls sent together with the held one reach AWS even though their
    // sender is dead.
    wait_until(30, "the calls in flight to be answered", || proxy.idle());
    let applied = proxy.applied_mutations();
    proxy.clear();
    (pid, applied)
}

/// The killed run applied at least the calls before k (`before`) or up to
/// k (`after`), and only calls of the uninterrupted run: changes on
/// different resources are sent together, so the calls sent with the held
/// one may have been applied too.
fn assert_killed_run(what: &str, when: &str, k: usize, killed: &[String], reference: &Reference) {
    let expect_prefix = if when == "before" { k - 1 } else { k };
    assert!(killed.len() >= expect_prefix, "{what}: the killed run applied {killed:?}");
    let all = action_counts(&reference.applied);
    for (action, n) in action_counts(killed) {
        assert!(all.get(&action).is_some_and(|m| n <= *m), "{what}: the killed run applied {n} {action}: {killed:?}");
    }
}

/// No mutating call since the kill was faulted or rejected by AWS (a
/// repeated change usually would be).
fn assert_none_rejected(proxy: &Proxy, what: &str) {
    let rejected: Vec<_> = proxy.calls().into_iter().filter(|c| c.mutating && (c.outcome != "forwarded" || c.status >= Some(400))).collect();
    assert!(rejected.is_empty(), "{what}: AWS rejected a call (a repeated change would be): {rejected:?}");
}

/// `resume` reached the uninterrupted run's end, the killed run and it
/// applied exactly the uninterrupted run's calls, and the run's target
/// groups are there once each.
fn assert_resumed(sc: &Scenario, emu: &Emulator, vpc: &str, reference: &Reference, killed: &[String], later: &[String], what: &str, out: &std::process::Output) {
    assert_eq!(normalize((sc.state)(emu, vpc)), reference.end, "{what}: end state");
    let both: Vec<String> = killed.iter().chain(later).cloned().collect();
    assert_eq!(action_counts(&both), action_counts(&reference.applied), "{what}: calls applied by the killed run and resume:\n{}", stderr(out));
    assert_eq!(tagged_names(&run_tagged(emu)), reference.tagged, "{what}: orphaned or duplicate target groups");
}

/// Every tagged resource must be named in the journal: nothing the run
/// created can be forgotten by it.
fn assert_no_orphans(sc: &Scenario, emu: &Emulator, ws: &Workspace, what: &str) -> usize {
    let journal = std::fs::read_to_string(ws.state_dir().join(sc.journal)).unwrap();
    let tagged = run_tagged(emu);
    for id in &tagged {
        assert!(journal.contains(id.as_str()), "{what}: {id} is tagged by the run but not in its journal");
    }
    tagged.len()
}

/// How many emulators a matrix runs its kill points on at once
/// (`KILL_MATRIX_WORKERS`, default 2). A point spends much of its time
/// waiting (for the held call, a health gate, an ECS deployment), so two
/// per matrix keep the cores busy where one leaves them half idle.
fn workers() -> usize {
    std::env::var("KILL_MATRIX_WORKERS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(2)
}

/// Run `point` for each of `points`, spread over [`workers`] emulators
/// with a proxy each (the first one is `first`, already started): of n
/// workers, worker i takes every n-th point from the i-th. Each point
/// starts from `emu.reset()`, so which emulator runs it does not matter.
/// Returns how many passed (all of them: a failed point panics, the other
/// workers stop at their next point, and the panic is re-raised here).
fn on_workers(first: (Emulator, Proxy), points: Vec<usize>, point: impl Fn(&Emulator, &Proxy, usize) + Sync) -> usize {
    let n = workers().min(points.len()).max(1);
    let mine = |i: usize| points.iter().copied().enumerate().filter(move |(j, _)| j % n == i).map(|(_, k)| k);
    let failed = std::sync::atomic::AtomicBool::new(false);
    /// Marks the matrix failed when a point panics.
    struct OnPanic<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    let point = |emu: &Emulator, proxy: &Proxy, k: usize| {
        if !failed.load(std::sync::atomic::Ordering::SeqCst) {
            let _guard = OnPanic(&failed);
            point(emu, proxy, k);
        }
    };
    std::thread::scope(|scope| {
        let point = &point;
        let others: Vec<_> = (1..n)
            .map(|i| {
                let ks: Vec<usize> = mine(i).collect();
                scope.spawn(move || {
                    let emu = Emulator::start();
                    let proxy = Proxy::start(&emu);
                    ks.iter().for_each(|k| point(&emu, &proxy, *k));
                    ks.len()
                })
            })
            .collect();
        let ks: Vec<usize> = mine(0).collect();
        ks.iter().for_each(|k| point(&first.0, &first.1, *k));
        others.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).sum::<usize>() + ks.len()
    })
}

fn matrix(sc: Scenario, operation: &str, when: &str) {
    matrix_every(sc, operation, when, 1, 1);
}

/// [`matrix`] at calls `first`, `first + every`, ... only, unless
/// `KILL_MATRIX_FULL=1` (then at every call).
fn matrix_every(sc: Scenario, operation: &str, when: &str, first: usize, every: usize) {
    let (first, every) = if std::env::var("KILL_MATRIX_FULL").is_ok_and(|v| v == "1") { (1, 1) } else { (first, every) };
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu);
    let base = Workspace::new();
    let (_app, rb0) = match sc.file {
        "incident-ecs.yaml" => (None, base.runbook(sc.file, ECS_RUNBOOK)),
        "incident-users.yaml" => (None, base.runbook(sc.file, USERS_RUNBOOK)),
        _ => {
            let (app, rb) = cutover_runbook(&base);
            (Some(app), rb)
        }
    };
    let reference = reference(&sc, &emu, &proxy, &rb0);
    let n = reference.applied.len();
    let only: Option<usize> = std::env::var("KILL_POINT").ok().and_then(|v| v.parse().ok());
    let points: Vec<usize> = (first..=n).step_by(every).filter(|k| only.is_none_or(|o| o == *k)).collect();
    let t0 = std::time::Instant::now();
    let passed = on_workers((emu, proxy), points, |emu, proxy, k| {
        let what = format!("{operation} after a kill {when} mutating call {k} ({})", reference.applied[k - 1]);
        let (vpc, original, ws, rb, killed_applied) = kill_at(&sc, emu, proxy, &rb0, k, when);
        assert_killed_run(&what, when, k, &killed_applied, &reference);
        let out = run(dualstack_via(proxy).args([operation, "--yes"]).arg(&rb));
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains("took over the lock"), "{what}: the dead holder's lock was not reported: {}", stderr(&out));
        let later = proxy.applied_mutations();
        assert_none_rejected(proxy, &what);
        if operation == "resume" {
            assert_resumed(&sc, emu, &vpc, &reference, &killed_applied, &later, &what, &out);
        } else {
            assert_eq!((sc.state)(emu, &vpc), original, "{what}: starting state");
            assert!(later.len() <= killed_applied.len() + usize::from(when == "after"), "{what}: {later:?} undoes more than {killed_applied:?}");
            assert_eq!(run_tagged(emu), Vec::<String>::new(), "{what}: resources left behind");
        }
        assert_no_orphans(&sc, emu, &ws, &what);
    });
    eprintln!(
        "kill matrix ({}, {operation}, kill {when} the call, every {every} of {n} calls from {first}): {passed} points passed in {:.1}s on {} emulators; 0 orphans, 0 duplicates, 0 repeated changes",
        sc.file,
        t0.elapsed().as_secs_f64(),
        workers().min(passed.max(1))
    );
}

#[test]
fn resume_after_a_kill_before_each_call() {
    matrix(cutover(), "resume", "before");
}

#[test]
fn resume_after_a_kill_after_each_call() {
    matrix(cutover(), "resume", "after");
}

// The cutover's rollbacks at every other call, to keep the suite's time:
// a kill before call k leaves calls 1..k-1 applied, a kill after call k
// leaves 1..k applied with k's answer unread, so with k odd in both the two
// matrices roll back from every prefix of the run, 0 to 36 calls applied.
// `KILL_MATRIX_FULL=1` runs every call of both.

#[test]
fn rollback_after_a_kill_before_every_other_call() {
    matrix_every(cutover(), "rollback", "before", 1, 2);
}

#[test]
fn rollback_after_a_kill_after_every_other_call() {
    matrix_every(cutover(), "rollback", "after", 1, 2);
}

#[test]
fn ecs_resume_after_a_kill_before_each_call() {
    matrix(ecs(), "resume", "before");
}

#[test]
fn ecs_resume_after_a_kill_after_each_call() {
    matrix(ecs(), "resume", "after");
}

#[test]
fn ecs_rollback_after_a_kill_before_each_call() {
    matrix(ecs(), "rollback", "before");
}

#[test]
fn ecs_rollback_after_a_kill_after_each_call() {
    matrix(ecs(), "rollback", "after");
}

#[test]
fn users_path_resume_after_a_kill_before_each_call() {
    matrix(users(), "resume", "before");
}

#[test]
fn users_path_resume_after_a_kill_after_each_call() {
    matrix(users(), "resume", "after");
}

#[test]
fn users_path_rollback_after_a_kill_before_each_call() {
    matrix(users(), "rollback", "before");
}

#[test]
fn users_path_rollback_after_a_kill_after_each_call() {
    matrix(users(), "rollback", "after");
}

// ---------------------------------------------------------------------------
// The same matrix with the state in S3 (`--state s3://...`): the killed run
// and the `resume` run on two machines (their own directory, HOME,
// XDG_STATE_HOME and machine VPC locks) that share one prefix. The killed
// run's lease is 1 s, so `resume --lock-wait 10s` takes it over once it has
// gone unrenewed that long. The tool's S3 calls go straight to the emulator
// (AWS_ENDPOINT_URL_S3), so the proxy's k-th mutating call is the run's k-th
// AWS change, as above.

/// The network half (runbooks/incident.yaml).
fn network() -> Scenario {
    Scenario {
        seed: |emu| emu.seed_incident()["vpc"].as_str().unwrap().to_string(),
        file: "incident.yaml",
        journal: "redash-dualstack.journal.jsonl",
        state: |emu, vpc| emu.fingerprint(vpc),
        tagged: &[],
    }
}

/// Every tagged resource is named in the journal in S3.
fn assert_no_orphans_s3(emu: &Emulator, s3: &S3State, name: &str, what: &str) {
    let journal = s3.journal_text(name);
    for id in run_tagged(emu) {
        assert!(journal.contains(id.as_str()), "{what}: {id} is tagged by the run but not in its journal");
    }
}

/// `resume` from another machine after `apply` was killed at mutating call
/// k (`when`: before or after), for k = first, first + every, ...
fn s3_matrix(sc: Scenario, when: &str, first: usize, every: usize) {
    let t0 = std::time::Instant::now();
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu);
    let base = Workspace::new();
    let (_app, text) = match sc.file {
        "incident.yaml" => (None, std::fs::read_to_string(root().join("runbooks/incident.yaml")).unwrap()),
        _ => {
            let (app, rb) = cutover_runbook(&base);
            (Some(app), std::fs::read_to_string(rb).unwrap())
        }
    };
    // The runbook's name: its journal's prefix in S3.
    let name = sc.journal.trim_end_matches(".journal.jsonl");
    let bucket = S3State::at(&emu, "kill-matrix-state", "");
    // The uninterrupted run, state in S3 too.
    let vpc = (sc.seed)(&emu);
    bucket.create_bucket();
    let reference_state = bucket.with_prefix("reference");
    let m = Machine::new();
    let rb = m.runbook(sc.file, &text);
    proxy.clear();
    let out = run(m.dualstack(&proxy.endpoint, &reference_state).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reference = Reference { end: normalize((sc.state)(&emu, &vpc)), applied: proxy.applied_mutations(), tagged: tagged_names(&run_tagged(&emu)) };
    assert_eq!(reference.tagged, sc.tagged);
    let n = reference.applied.len();
    let only: Option<usize> = std::env::var("KILL_POINT").ok().and_then(|v| v.parse().ok());
    let points: Vec<usize> = (first..=n).step_by(every).filter(|k| only.is_none_or(|o| o == *k)).collect();
    let slowest = std::sync::Mutex::new(std::time::Duration::ZERO);
    let passed = on_workers((emu, proxy), points, |emu, proxy, k| {
        let point = std::time::Instant::now();
        let what = format!("resume from another machine (S3 state) after a kill {when} mutating call {k} ({})", reference.applied[k - 1]);
        emu.reset();
        let vpc = (sc.seed)(emu);
        let s3 = S3State::at(emu, "kill-matrix-state", &format!("point-{k}"));
        s3.create_bucket();
        let (killed, resumer) = (Machine::new(), Machine::new());
        let rb_killed = killed.runbook(sc.file, &text);
        let rb_resume = resumer.runbook(sc.file, &text);
        let (pid, killed_applied) = kill_held(proxy, k, when, killed.dualstack(&proxy.endpoint, &s3).args(["--lock-ttl", "1s", "apply", "--yes"]).arg(&rb_killed));
        assert_killed_run(&what, when, k, &killed_applied, &reference);
        assert!(s3.lock(name).is_some(), "{what}: the dead holder's lock is left");

        let out = run(resumer.dualstack(&proxy.endpoint, &s3).args(["--lock-ttl", "1s", "--lock-wait", "10s", "resume", "--yes"]).arg(&rb_resume));
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("took over the lock from pid {pid} on ")), "{what}: the dead holder's lease was not taken over: {}", stderr(&out));
        let later = proxy.applied_mutations();
        assert_none_rejected(proxy, &what);
        assert_resumed(&sc, emu, &vpc, &reference, &killed_applied, &later, &what, &out);
        assert_no_orphans_s3(emu, &s3, name, &what);
        // The journal: records 1..N, one lock_taken_over, the lock released.
        let keys = s3.journal_keys(name);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(key, &format!("{}/journal/{:020}.json", s3.base(name), i + 1), "{what}: journal objects {keys:#?}");
        }
        let taken = s3.journal(name).into_iter().filter(|r| r["type"] == "lock_taken_over").count();
        assert_eq!(taken, 1, "{what}");
        // The resumer released its lock, even one renewed while it ended.
        assert_eq!(s3.lock(name).map(|(lock, _)| lock), None, "{what}: a lock is left behind");
        let mut slowest = slowest.lock().unwrap();
        *slowest = (*slowest).max(point.elapsed());
    });
    eprintln!(
        "kill matrix, S3 state ({}, resume on another machine, kill {when} the call, every {every} of {n} calls from {first}): {passed} points passed in {:.1}s on {} emulators (slowest point {:.1}s); 0 orphans, 0 duplicates, 0 repeated changes, no lock left",
        sc.file,
        t0.elapsed().as_secs_f64(),
        workers().min(passed.max(1)),
        slowest.lock().unwrap().as_secs_f64()
    );
}

#[test]
fn s3_network_resume_after_a_kill_before_each_call() {
    s3_matrix(network(), "before", 1, 1);
}

#[test]
fn s3_network_resume_after_a_kill_after_each_call() {
    s3_matrix(network(), "after", 1, 1);
}

#[test]
fn s3_cutover_resume_after_a_kill_before_every_4th_call() {
    s3_matrix(cutover(), "before", 1, 4);
}

#[test]
fn s3_cutover_resume_after_a_kill_after_every_4th_call() {
    // Offset from the kills before: together they cover every other call.
    s3_matrix(cutover(), "after", 3, 4);
}
