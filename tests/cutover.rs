//! The load-balancer half on the incident's topology: the full runbook
//! (network, backend addresses, ALB, both target groups) against a real
//! application server, gunicorn, on loopback.
//!
//! - gunicorn bound to 0.0.0.0 only (the incident): the first gate fails over
//!   IPv6 and everything returns to IPv4, exit 3, state equal to the start;
//! - gunicorn bound to [::]: the run completes, both groups replaced by IPv6
//!   groups one after the other, the listener on the IPv6 groups with the
//!   original weights;
//! - a target-health failure at the 50 % stage, and a gate failure while the
//!   second group is in flux after the first was fully replaced: back to IPv4.

mod support;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

/// The example runbook, pointed at the test's application port, with faster gates.
fn runbook(ws: &Workspace, port: u16) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("runbooks/incident-cutover.yaml")).unwrap();
    let text = text.replace("[::1]:8000/", &format!("[::1]:{port}/")).replace("interval: 1s", "interval: 300ms");
    assert!(text.contains(&format!(":{port}/")));
    ws.runbook("incident-cutover.yaml", &text)
}

/// An emulator with the cutover topology, its starting state, gunicorn on
/// `bind` and a workspace with the runbook pointed at it.
struct Setup {
    emu: Emulator,
    vpc: String,
    original: Vec<String>,
    /// Bound to keep the server running for the test.
    _app: App,
    port: u16,
    /// Bound to keep the runbook's folder alive for the test.
    ws: Workspace,
    rb: std::path::PathBuf,
}

fn setup(bind: &str) -> Setup {
    let emu = Emulator::start();
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    let original = emu.fingerprint(&vpc);
    let (app, port) = App::gunicorn(bind);
    let ws = Workspace::new();
    let rb = runbook(&ws, port);
    Setup { emu, vpc, original, _app: app, port, ws, rb }
}

fn journal(ws: &Workspace) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ws.state_dir().join("redash-cutover.journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// From the first failed observation to the last listener/rule weights
/// restored, read from the journal's timestamps.
fn time_to_ipv4(lines: &[serde_json::Value]) -> Option<Duration> {
    let ts = |l: &serde_json::Value| humantime::parse_rfc3339(l["at"].as_str().unwrap()).unwrap();
    let first_fail = lines.iter().find(|l| l["type"] == "observation" && l["observation"]["ok"] == false).map(ts)?;
    let forward_seqs: Vec<u64> = lines
        .iter()
        .filter(|l| l["type"] == "intent" && l["change"]["kind"] == "target_group_ipv6" && l["change"]["change"]["action"] == "set_forward")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    let restored = lines
        .iter()
        .filter(|l| l["type"] == "undo_done" && forward_seqs.contains(&l["seq"].as_u64().unwrap()))
        .map(ts)
        .max()?;
    restored.duration_since(first_fail).ok()
}

#[test]
fn gunicorn_on_ipv4_only_fails_the_gate_and_everything_returns_to_ipv4() {
    let Setup { emu, vpc, original, rb, ws: _ws, _app, .. } = setup("0.0.0.0");
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("step `alb` failed its health gate"), "{err}");
    assert!(err.contains("FAIL site-v6") && err.contains("Connection refused"), "{err}");
    // Listener on the IPv4 groups, no new groups, ALB ipv4, flags back, blocks gone.
    assert_eq!(emu.fingerprint(&vpc), original);
}

#[test]
fn gunicorn_on_ipv6_completes_and_rollback_restores_the_start() {
    let Setup { emu, vpc, original, rb, ws: _ws, _app, .. } = setup("[::]");

    // plan shows the weights stage by stage and changes nothing.
    emu.clear_calls();
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = stdout(&out);
    for stage in [
        "weights (stage 10%): redash-blue=100 redash-blue-v6=0 redash-green-v6=0 -> redash-blue=90 redash-blue-v6=10 redash-green-v6=0",
        "weights (stage 50%): redash-blue=90 redash-blue-v6=10 redash-green-v6=0 -> redash-blue=50 redash-blue-v6=50 redash-green-v6=0",
        "weights (stage 100%): redash-blue=50 redash-blue-v6=50 redash-green-v6=0 -> redash-blue-v6=100 redash-green-v6=0",
    ] {
        assert!(plan.contains(stage), "missing {stage:?} in\n{plan}");
    }
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(emu.fingerprint(&vpc), original);

    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The plan announced exactly the calls apply made, action by action.
    let planned: Vec<String> = plan
        .lines()
        .filter_map(|l| l.strip_prefix("      "))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|call| call.split_once(':').map(|(_, action)| action.to_string()))
        .collect();
    assert_eq!(action_counts(&planned), action_counts(&emu.mutating_calls()), "plan vs apply:\n{plan}");
    let after = emu.fingerprint(&vpc);
    for line in [
        "lb redash internet-facing dualstack",
        "listener redash:80 default [\"redash-blue-v6=100\", \"redash-green-v6=0\"]",
        "listener redash:80 rule 10 [\"redash-blue-v6=100\", \"redash-green-v6=0\"]",
        "target group redash-blue-v6 ipv6 [\"<ipv6>:5000\"]",
        "target group redash-green-v6 ipv6 [\"<ipv6>:5000\"]",
        "target group redash-blue ipv4 [\"192.168.1.4:5000\"]",
    ] {
        assert!(after.iter().any(|l| l == line), "missing {line:?} in {after:#?}");
    }
    // One side at a time: green (idle) fully replaced before blue was touched.
    let muts = emu.mutating_calls();
    let creates: Vec<usize> = muts.iter().enumerate().filter(|(_, m)| *m == "CreateTargetGroup").map(|(i, _)| i).collect();
    assert_eq!(creates.len(), 2, "{muts:?}");
    let listener_changes_between = muts[creates[0]..creates[1]].iter().filter(|m| *m == "ModifyListener").count();
    assert_eq!(listener_changes_between, 2, "green: attach, then final; {muts:?}");

    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original);
}

/// Run apply while a watcher makes `group` unhealthy as soon as the
/// listener's weights reach `when`.
fn fail_when(emu: &Emulator, rb: &std::path::Path, when: &'static str, group: &'static str) -> std::process::Output {
    let child = dualstack(emu).args(["apply", "--yes"]).arg(rb).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    loop {
        let w = emu.listener_weights();
        if w.iter().any(|x| x == when) {
            emu.target_health(group, "unhealthy");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "never saw {when}: {w:?}");
        std::thread::sleep(Duration::from_millis(30));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn target_health_failing_at_the_50_percent_stage_returns_weights_to_ipv4() {
    let Setup { emu, vpc, original, port, ws, _app, .. } = setup("[::]");
    // One step per side, each gated on its own new group's target health.
    let text = std::fs::read_to_string(runbook(&ws, port)).unwrap();
    let (head, _) = text.split_once("  - id: target-groups").unwrap();
    let text = format!(
        "{head}  - id: green\n    target_group_ipv6: {{ listener: \"redash:80\", target_groups: [redash-green] }}\n    gate: {{ checks: [site-v6, green-v6-ok] }}\n\
         \x20 - id: blue\n    target_group_ipv6: {{ listener: \"redash:80\", target_groups: [redash-blue] }}\n    gate: {{ checks: [site-v6, blue-v6-ok] }}\n"
    );
    let rb = ws.runbook("incident-cutover.yaml", &text);
    let out = fail_when(&emu, &rb, "redash-blue-v6=50", "redash-blue-v6");
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("FAIL blue-v6-ok"), "{err}");
    assert_eq!(emu.listener_weights(), vec!["redash-blue=100", "redash-green=0"]);
    assert_eq!(emu.fingerprint(&vpc), original);
    let t = time_to_ipv4(&journal(&ws)).expect("journal shows the failure and the restore");
    println!("time to IPv4 (first failed observation -> listener and rule restored): {} ms", t.as_millis());
    assert!(t < Duration::from_secs(10), "{t:?}");
}

#[test]
fn a_gate_failure_while_the_second_group_is_in_flux_returns_both_to_ipv4() {
    let Setup { emu, vpc, original, rb, ws: _ws, _app, .. } = setup("[::]");
    // green is fully on its IPv6 group; blue has just moved 10 %.
    let out = fail_when(&emu, &rb, "redash-blue-v6=10", "redash-green-v6");
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("FAIL green-v6-ok"), "{err}");
    assert_eq!(emu.listener_weights(), vec!["redash-blue=100", "redash-green=0"]);
    assert_eq!(emu.fingerprint(&vpc), original);
}

#[test]
fn preflight_refuses_ip_targets_without_ipv6_and_security_groups_open_to_ipv4_only() {
    let emu = Emulator::start();
    let ids = emu.seed_cutover();
    let ws = Workspace::new();
    let text = std::fs::read_to_string(root().join("runbooks/incident-cutover.yaml")).unwrap();
    // Without the backend-addresses and security-groups steps.
    let (head, rest) = text.split_once("  - id: security-groups").unwrap();
    let (_, rest) = rest.split_once("  - id: alb").unwrap();
    let rb = ws.runbook("rb.yaml", &format!("{head}  - id: alb{rest}"));
    emu.clear_calls();
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    let green_ip = ids["backends"]["green"]["ip"].as_str().unwrap();
    assert!(err.contains(&format!("ip target {green_ip} of redash-green has no IPv6 address")), "{err}");
    assert!(err.contains(ids["subnets"]["public-1c"].as_str().unwrap()), "the subnet is not named: {err}");
    assert!(err.contains("assign_ipv6_addresses"), "{err}");
    assert!(err.contains("error [target-without-ipv6] target group redash-green"), "the finding is shown before the error: {err}");
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    // With addresses but no security-group step: the plan shows the finding,
    // and apply refuses it before any change (exit 7).
    let (head, rest) = text.split_once("  - id: security-groups").unwrap();
    let (_, rest) = rest.split_once("  - id: backend-addresses").unwrap();
    let rb = ws.runbook("rb2.yaml", &format!("{head}  - id: backend-addresses{rest}"));
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("error [lb-security-group-ipv4-only] load balancer redash"), "{}", stdout(&out));
    assert!(stdout(&out).contains("port(s) 80"), "{}", stdout(&out));
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow lb-security-group-ipv4-only"), "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn retire_delete_removes_the_old_groups_and_rollback_recreates_them() {
    let Setup { emu, vpc, original, port, ws, _app, .. } = setup("[::]");
    let text = std::fs::read_to_string(runbook(&ws, port)).unwrap().replace("retire: keep", "retire: delete");
    let rb = ws.runbook("incident-cutover.yaml", &text);
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = emu.fingerprint(&vpc);
    assert!(!after.iter().any(|l| l.starts_with("target group redash-blue ") || l.starts_with("target group redash-green ")), "{after:#?}");
    assert_eq!(emu.listener_weights(), vec!["redash-blue-v6=100", "redash-green-v6=0"]);
    // A second apply knows the retired groups were replaced.
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    // Rollback recreates the old groups (new ARNs) and points the listener back at them.
    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original);
}

/// A new group gets what its old group changed from AWS's defaults before it
/// takes any traffic: the attributes are read from the new group (AWS's
/// defaults are not guessed) and the difference copied right after the
/// create.
#[test]
fn a_new_group_carries_the_old_groups_attributes_before_any_traffic() {
    let s = setup("[::]");
    let elb = s.emu.elb();
    runtime().block_on(async {
        let out = elb.describe_target_groups().names("redash-blue").send().await.unwrap();
        let arn = out.target_groups()[0].target_group_arn().unwrap().to_string();
        let attr = |k: &str, v: &str| aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder().key(k).value(v).build();
        elb.modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(attr("deregistration_delay.timeout_seconds", "30"))
            .attributes(attr("slow_start.duration_seconds", "60"))
            .send()
            .await
            .unwrap();
    });
    s.emu.clear_calls();
    let out = run(dualstack(&s.emu).args(["apply", "--yes"]).arg(&s.rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let attributes = runtime().block_on(async {
        let out = elb.describe_target_groups().names("redash-blue-v6").send().await.unwrap();
        let arn = out.target_groups()[0].target_group_arn().unwrap().to_string();
        let out = elb.describe_target_group_attributes().target_group_arn(arn).send().await.unwrap();
        out.attributes().iter().map(|a| format!("{}={}", a.key().unwrap(), a.value().unwrap())).collect::<Vec<_>>()
    });
    for want in ["deregistration_delay.timeout_seconds=30", "slow_start.duration_seconds=60"] {
        assert!(attributes.iter().any(|a| a == want), "{want} not on redash-blue-v6: {attributes:?}");
    }
    // Green is left at AWS's defaults: one copy, for blue, before blue-v6 is
    // attached to any forward.
    let calls = s.emu.mutating_calls();
    let copies: Vec<usize> = calls.iter().enumerate().filter(|(_, c)| *c == "ModifyTargetGroupAttributes").map(|(i, _)| i).collect();
    assert_eq!(copies.len(), 1, "{calls:?}");
    let blue_created = calls.iter().rposition(|c| c == "CreateTargetGroup").unwrap();
    let next_forward = blue_created + calls[blue_created..].iter().position(|c| c == "ModifyListener").unwrap();
    assert!(blue_created < copies[0] && copies[0] < next_forward, "{calls:?}");
}
