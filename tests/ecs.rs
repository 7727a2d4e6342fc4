//! ECS Fargate services on the incident's topology: VPC 192.168.0.0/16,
//! three public subnets, an internet gateway, an ALB with an ip target
//! group, and cluster `redash` with services server (behind the group),
//! worker and scheduler. The emulator launches their tasks, registers them
//! and models the incident (tests/emulator/ecs_model.py).
//!
//! - the example runbook (runbooks/incident-ecs.yaml) completes: every task
//!   dual-stack, the group holding the new tasks' IPv4 addresses, healthy;
//! - the incident (`dns64: true` without NAT64): the server's new tasks
//!   fail, and the run puts everything back, flags first, the services
//!   redeployed IPv4-only, blocks last, exit 3;
//! - ECS's own circuit breaker rolling the deployment back fails the step,
//!   and the tool still puts the tasks on IPv4;
//! - `target_group_ipv6` on a group ECS manages is refused.

mod support;
use std::time::Duration;

use support::*;

fn runbook(ws: &Workspace, dns64: bool) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("runbooks/incident-ecs.yaml")).unwrap();
    let text = if dns64 { text.replace("      dns64: false ", "      dns64: true ") } else { text };
    assert_eq!(text.contains("      dns64: true "), dns64);
    ws.runbook("incident-ecs.yaml", &text)
}

fn journal(ws: &Workspace) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ws.state_dir().join("redash-ecs.journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The listener as describe calls render it (it must not change).
fn listeners(emu: &Emulator) -> String {
    runtime().block_on(async {
        let elb = emu.elb();
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        let mut out = String::new();
        for lb in lbs.load_balancers() {
            let ls = elb.describe_listeners().load_balancer_arn(lb.load_balancer_arn().unwrap()).send().await.unwrap();
            out.push_str(&format!("{:?}", ls.listeners()));
        }
        out
    })
}

/// Every service as it must be after a completed run (`ipv6`) or a
/// rollback: one deployment, COMPLETED, every task running, each with an
/// IPv6 address exactly when `ipv6`; the server's group holds exactly its
/// tasks' IPv4 addresses, all healthy.
fn assert_services(emu: &Emulator, ipv6: bool, what: &str) {
    let services = emu.ecs_services("redash");
    assert_eq!(services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["redash-scheduler", "redash-server", "redash-worker"]);
    for s in &services {
        assert_eq!(s.deployments.len(), 1, "{what}: {} deployments {:?}", s.name, s.deployments);
        assert_eq!(s.deployments[0].2, "COMPLETED", "{what}: {} {:?}", s.name, s.deployments);
        assert_eq!(s.running, s.desired, "{what}: {}", s.name);
        assert_eq!(s.tasks.len() as i32, s.desired, "{what}: {} tasks {:?}", s.name, s.tasks);
        for t in &s.tasks {
            assert_eq!(t.status, "RUNNING", "{what}: {t:?}");
            assert!(t.ipv4.as_deref().is_some_and(|a| a.starts_with("192.168.")), "{what}: {t:?} has no address in the subnet");
            assert_eq!(t.ipv6.is_some(), ipv6, "{what}: {} task {t:?}", s.name);
        }
    }
    let server = services.iter().find(|s| s.name == "redash-server").unwrap();
    let mut want: Vec<(String, String)> = server.tasks.iter().map(|t| (t.ipv4.clone().unwrap(), "healthy".to_string())).collect();
    want.sort();
    assert_eq!(emu.targets(&server.target_groups[0]), want, "{what}: the server's target group");
}

/// The network's state, apart from the tasks' addresses registered in the
/// server's group (new tasks, new addresses: [`assert_services`] checks them).
fn network(emu: &Emulator, vpc: &str) -> Vec<String> {
    emu.fingerprint(vpc).into_iter().filter(|l| !l.starts_with("target group redash-server ")).collect()
}

/// The ids of every service's deployments.
fn deployment_ids(emu: &Emulator) -> Vec<String> {
    emu.ecs_services("redash").iter().flat_map(|s| s.deployments.iter().map(|d| d.0.clone())).collect()
}

#[test]
fn the_services_are_redeployed_onto_the_dual_stack_subnets_and_keep_their_target_group() {
    let emu = Emulator::start();
    let ids = emu.seed_ecs(&[]);
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    assert_services(&emu, false, "the seed");
    let before = deployment_ids(&emu);
    let listener = listeners(&emu);
    assert_eq!(emu.dual_stack_setting(), "disabled");
    let ws = Workspace::new();
    let rb = runbook(&ws, false);

    emu.clear_calls();
    let out = run(dualstack(&emu).args(["plan"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = stdout(&out);
    for want in ["ecs:PutAccountSettingDefault", "ECS service redash-worker", "ECS service redash-scheduler", "ECS service redash-server"] {
        assert!(plan.contains(want), "the plan lacks {want}:\n{plan}");
    }
    // The plan shows the redeploys in the runbook's order.
    let pos = |s: &str| plan.find(s).unwrap();
    assert!(pos("ECS service redash-worker") < pos("ECS service redash-scheduler") && pos("ECS service redash-scheduler") < pos("ECS service redash-server"), "{plan}");
    assert!(emu.mutating_calls().is_empty(), "plan changed something: {:?}", emu.mutating_calls());

    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_services(&emu, true, "after apply");
    let after = deployment_ids(&emu);
    assert!(after.iter().all(|d| !before.contains(d)), "every service has a new deployment: {before:?} -> {after:?}");
    assert_eq!(listeners(&emu), listener, "the listener is untouched");
    assert_eq!(emu.dual_stack_setting(), "enabled");
    // One deployment per service, strictly one after the other.
    let updates: Vec<String> = emu.mutating_calls().into_iter().filter(|c| c == "UpdateService").collect();
    assert_eq!(updates.len(), 3);
    let lines = journal(&ws);
    let order: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "intent" && l["change"]["change"]["action"] == "redeploy")
        .map(|l| l["change"]["change"]["service"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["redash-worker", "redash-scheduler", "redash-server"]);
    // Every subnet gave its tasks addresses from its own block.
    let fp = emu.fingerprint(&vpc);
    assert!(fp.iter().filter(|l| l.starts_with("subnet ")).all(|l| l.contains("assign=true")), "{fp:?}");

    // Applying again changes nothing: the tasks already have IPv6.
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(emu.mutating_calls().is_empty(), "a second apply changed {:?}", emu.mutating_calls());
}

#[test]
fn the_incident_fails_the_servers_deployment_and_everything_returns_to_ipv4() {
    let emu = Emulator::start();
    let ids = emu.seed_ecs(&[]);
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let original = network(&emu, &vpc);
    let listener = listeners(&emu);
    let ws = Workspace::new();
    let rb = runbook(&ws, true);

    // The team had no such finding: the preflight names the trap and the
    // services whose next tasks start in it.
    let out = run(dualstack(&emu).args(["check"]).arg(&rb));
    assert_eq!(code(&out), 7, "an error finding: {}", stderr(&out));
    assert!(stdout(&out).contains("dns64-without-nat64") && stdout(&out).contains("redash-server"), "{}", stdout(&out));

    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes", "--allow", "dns64-without-nat64"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "a failed deployment is a failed health gate: {err}");
    assert!(err.contains("Task failed ELB health checks"), "the stopped tasks' reasons are the observations: {err}");

    assert_eq!(network(&emu, &vpc), original, "the network is back to the start");
    assert_services(&emu, false, "after the rollback");
    assert_eq!(listeners(&emu), listener);
    assert_eq!(emu.dual_stack_setting(), "disabled", "the account setting is back");

    let lines = journal(&ws);
    let ts = |l: &serde_json::Value| humantime::parse_rfc3339(l["at"].as_str().unwrap()).unwrap();
    let intent = |seq: u64| lines.iter().find(|l| l["type"] == "intent" && l["seq"] == seq).unwrap();
    // The undo order, by construction: flags, redeploys, the rest, blocks.
    let undone: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "undo_done")
        .map(|l| {
            let c = &intent(l["seq"].as_u64().unwrap())["change"];
            format!("{} {}", c["kind"].as_str().unwrap(), c["change"]["action"].as_str().unwrap())
        })
        .collect();
    let first = |what: &str| undone.iter().position(|u| u == what).unwrap_or_else(|| panic!("{what} not undone: {undone:?}"));
    let last = |what: &str| undone.iter().rposition(|u| u == what).unwrap();
    assert!(last("subnet_ipv6 set_flag") < first("ecs_redeploy redeploy"), "flags before the redeploys: {undone:?}");
    assert!(last("ecs_redeploy redeploy") < first("load_balancer_ip_type set_ip_address_type"), "{undone:?}");
    assert!(last("ecs_redeploy redeploy") < first("subnet_ipv6 associate_block"), "{undone:?}");
    assert!(last("subnet_ipv6 associate_block") < first("vpc_ipv6_cidr associate"), "{undone:?}");

    // The figures: from the failure seen to every task IPv4-only and
    // healthy, and the deployments the rollback made (one per service).
    let failed = lines.iter().find(|l| l["type"] == "step_failed").map(ts).unwrap();
    let redeploy_seqs: Vec<u64> =
        lines.iter().filter(|l| l["type"] == "intent" && l["change"]["change"]["action"] == "redeploy").map(|l| l["seq"].as_u64().unwrap()).collect();
    let back = lines.iter().filter(|l| l["type"] == "undo_done" && redeploy_seqs.contains(&l["seq"].as_u64().unwrap())).map(ts).max().unwrap();
    let updates = emu.mutating_calls().iter().filter(|c| *c == "UpdateService").count();
    let forward = redeploy_seqs.len();
    eprintln!(
        "incident: {:.1} s from the failed deployment to every running task IPv4-only and healthy; the rollback made {} deployments for {} redeployed services",
        back.duration_since(failed).unwrap_or(Duration::ZERO).as_secs_f64(),
        updates - forward,
        forward
    );
    assert_eq!(updates - forward, forward, "one deployment per redeployed service on the way back");
}

#[test]
fn a_circuit_breaker_rollback_fails_the_step_and_the_tasks_still_return_to_ipv4() {
    let emu = Emulator::start();
    let ids = emu.seed_ecs(&[]);
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let original = network(&emu, &vpc);
    // A failure the network change does not explain: the server's tasks
    // crash whenever they have an IPv6 address. ECS's breaker rolls the
    // deployment back onto the same subnets, where they crash again.
    emu.control("POST", "/_emulator/ecs-tasks", r#"{"service": "redash-server", "fail": "with_ipv6"}"#);
    let ws = Workspace::new();
    let rb = runbook(&ws, false);
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("Essential container in task exited"), "{err}");
    assert!(err.contains("circuit breaker"), "ECS's breaker failed the deployment first: {err}");
    assert_eq!(network(&emu, &vpc), original);
    assert_services(&emu, false, "after the rollback");
}

#[test]
fn an_ecs_managed_target_group_is_not_recreated() {
    let emu = Emulator::start();
    emu.seed_ecs(&[]);
    emu.clear_calls();
    let ws = Workspace::new();
    let text = "version: 1\nname: tg\nregion: ap-northeast-1\nvpc: redash\nsteps:\n  - id: vpc-ipv6\n    vpc_ipv6_cidr: {}\n  - id: subnets\n    subnet_ipv6:\n      subnets:\n        - { subnet: public-1a, index: 1 }\n        - { subnet: public-1c, index: 2 }\n        - { subnet: public-1d, index: 3 }\n  - id: alb\n    load_balancer_ip_type: { load_balancer: redash, ip_address_type: dualstack }\n  - id: tg\n    target_group_ipv6:\n      listener: redash:80\n      target_groups: [redash-server]\n";
    let rb = ws.runbook("tg.yaml", text);
    let out = run(dualstack(&emu).args(["plan"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("tg.yaml:19:") && err.contains("managed by ECS service(s) redash-server") && err.contains("ecs_redeploy"), "{err}");
    assert!(emu.mutating_calls().is_empty());
}

#[test]
fn the_preflight_names_services_left_out_the_setting_and_a_breaker_off() {
    let emu = Emulator::start();
    emu.seed_ecs(&["--no-circuit-breaker"]);
    let ws = Workspace::new();
    let full = std::fs::read_to_string(root().join("runbooks/incident-ecs.yaml")).unwrap();
    let findings = |rb: &std::path::Path| -> Vec<String> {
        let out = run(dualstack(&emu).args(["check", "--output", "json"]).arg(rb));
        assert!(matches!(code(&out), 0 | 7), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["findings"].as_array().unwrap().iter().map(|f| format!("{} {}", f["id"].as_str().unwrap(), f["resource"].as_str().unwrap())).collect()
    };
    // The network without the redeploy: the tasks would keep IPv4 until some
    // later deploy, and the setting is off.
    let network_only = &full[..full.find("  - id: redeploy").unwrap()];
    let ids = findings(&ws.runbook("network.yaml", network_only));
    assert!(ids.iter().any(|f| f.starts_with("ecs-dualstack-setting-off")), "{ids:?}");
    // With the redeploy: the setting is taken care of, no service is left
    // out, and the breaker being off is said per service.
    let ids = findings(&ws.runbook("incident-ecs.yaml", &full));
    assert!(!ids.iter().any(|f| f.starts_with("ecs-dualstack-setting-off") || f.starts_with("ecs-service-not-redeployed")), "{ids:?}");
    for s in ["redash-worker", "redash-scheduler", "redash-server"] {
        assert!(ids.contains(&format!("ecs-circuit-breaker-off ECS service {s}")), "{ids:?}");
    }
    // The setting on, the redeploy left out: the services are named.
    let text = full.replace("      services: [redash-worker, redash-scheduler, redash-server]", "      services: [redash-worker]");
    let ids = findings(&ws.runbook("partial.yaml", &text));
    assert!(ids.contains(&"ecs-service-not-redeployed ECS service(s) redash-scheduler, redash-server".to_string()), "{ids:?}");
}

#[test]
fn rolling_back_only_the_redeploy_puts_the_flags_back_first_and_keeps_the_rest() {
    let emu = Emulator::start();
    let ids = emu.seed_ecs(&[]);
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let text = std::fs::read_to_string(runbook(&ws, true))
        .unwrap()
        .replace("    gate: { checks: [server-healthy, worker-healthy] }", "    gate: { checks: [server-healthy, worker-healthy] }\n    on_health_failure: rollback_step");
    let rb = ws.runbook("incident-ecs.yaml", &text);
    let out = run(dualstack(&emu).args(["apply", "--yes", "--allow", "dns64-without-nat64"]).arg(&rb));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    // The step's own undo: the flags of its services' subnets, then the
    // redeploys; the blocks, routes and load balancer stay.
    assert_services(&emu, false, "after rolling back the step");
    let fp = emu.fingerprint(&vpc);
    let subnets: Vec<&String> = fp.iter().filter(|l| l.starts_with("subnet ")).collect();
    assert_eq!(subnets.len(), 3);
    for s in subnets {
        assert!(s.contains("assign=false dns64=false") && s.contains(":associated"), "{s}");
    }
    assert!(fp.iter().any(|l| l == "lb redash internet-facing dualstack"), "{fp:?}");
}

/// An ECS write whose answer is lost (AWS applied it, the tool got a 500)
/// is settled from the service's deployments, never sent again: a second
/// UpdateService would start a second deployment. Forward and back, each
/// service gets exactly one UpdateService, as the proxy counts what reached
/// the emulator.
#[test]
fn a_lost_ecs_answer_is_settled_from_the_deployments_not_sent_again() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu);
    let vpc = emu.seed_ecs(&[])["vpc"].as_str().unwrap().to_string();
    let start = network(&emu, &vpc);
    let ws = Workspace::new();
    let rb = runbook(&ws, false);
    let lose = serde_json::json!({"lose_response": {"mutating": "once", "mode": "500"}, "only_actions": ["UpdateService", "PutAccountSettingDefault"]});
    let ecs_writes = |proxy: &Proxy| {
        let calls = proxy.calls();
        let lost = calls.iter().filter(|c| c.mutating && c.outcome != "forwarded").count();
        (action_counts(&proxy.applied_mutations()), lost)
    };

    proxy.reset();
    proxy.scenario(lose.clone());
    let out = run(dualstack_via(&proxy).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_services(&emu, true, "after an apply whose ECS answers were lost");
    let (applied, lost) = ecs_writes(&proxy);
    assert_eq!(lost, 4, "the scenario lost 3 UpdateService answers and the setting's: {applied:?}");
    assert_eq!(applied.get("UpdateService"), Some(&3), "one deployment per service: {applied:?}");
    assert_eq!(applied.get("PutAccountSettingDefault"), Some(&1), "{applied:?}");

    // The rollback's UpdateService calls lose their answers too (a fresh
    // scenario: "once" is counted per request, and the bodies are the same).
    proxy.reset();
    proxy.scenario(lose);
    let out = run(dualstack_via(&proxy).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_services(&emu, false, "after a rollback whose ECS answers were lost");
    assert_eq!(network(&emu, &vpc), start);
    assert_eq!(emu.dual_stack_setting(), "disabled");
    let (applied, lost) = ecs_writes(&proxy);
    assert_eq!(lost, 4, "{applied:?}");
    assert_eq!(applied.get("UpdateService"), Some(&3), "one deployment per service back to IPv4: {applied:?}");
    assert_eq!(applied.get("PutAccountSettingDefault"), Some(&1), "{applied:?}");
}
