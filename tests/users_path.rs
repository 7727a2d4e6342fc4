//! The path IPv6 clients take: network ACL twins and the service's own name.
//! The incident's topology with its ALB, a custom network ACL `public-acl`
//! on the three subnets (IPv4 allows for 80, 443, the ephemeral ports and
//! ICMP echo; egress all) and a hosted zone `example.com` where
//! `redash.example.com` is an A alias of the ALB.
//!
//! - the example runbook (runbooks/incident-users.yaml) completes: every
//!   IPv4 entry for 0.0.0.0/0 has its twin, in order; the AAAA alias names
//!   the load balancer's zone and its `dualstack.` name; `rollback` restores
//!   the ACL and the zone exactly, the AAAA withdrawn before the ALB goes
//!   back to ipv4;
//! - a gate failing after the DNS step: the AAAA is gone before the load
//!   balancer changes back, and not sooner than `withdraw_wait` after;
//! - bad input (an unknown zone, a name without an A alias, an ACL that
//!   matches nothing) exits 2 with its position; `plan` changes nothing.

mod support;
use std::time::Duration;

use support::*;

/// The example runbook with the site check pinned to the application on
/// loopback (the ALB's DNS name does not resolve here), quick gates, and
/// `withdraw_wait` short.
fn runbook(ws: &Workspace, port: u16, withdraw_wait: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("runbooks/incident-users.yaml"))
        .unwrap()
        .replace("connect_to: load_balancer", &format!("connect_to: \"[::1]:{port}\""))
        .replace("interval: 1s, healthy_threshold: 2", "interval: 100ms, healthy_threshold: 1")
        .replace("bake: 60s", "bake: 0s")
        .replace("        - { zone: example.com, name: redash.example.com }", &format!("        - {{ zone: example.com, name: redash.example.com }}\n      withdraw_wait: {withdraw_wait}"));
    assert!(text.contains("withdraw_wait") && text.contains(&format!("[::1]:{port}")));
    ws.runbook("incident-users.yaml", &text)
}

fn seed(emu: &Emulator) -> String {
    emu.seed_users()["vpc"].as_str().unwrap().to_string()
}

fn journal(ws: &Workspace) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ws.state_dir().join("redash-users.journal.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// When the undo of the first change of `kind` finished, from the journal.
fn undone_at(lines: &[serde_json::Value], kind: &str) -> std::time::SystemTime {
    let seqs: Vec<u64> = lines.iter().filter(|l| l["type"] == "intent" && l["change"]["kind"] == kind).map(|l| l["seq"].as_u64().unwrap()).collect();
    let l = lines.iter().find(|l| l["type"] == "undo_done" && seqs.contains(&l["seq"].as_u64().unwrap())).unwrap_or_else(|| panic!("no {kind} undone"));
    humantime::parse_rfc3339(l["at"].as_str().unwrap()).unwrap()
}

#[test]
fn the_acl_gets_its_twins_the_name_its_aaaa_and_rollback_restores_both_exactly() {
    let emu = Emulator::start();
    let vpc = seed(&emu);
    let original = emu.fingerprint(&vpc);
    let original_dns = emu.acls_and_zones(&vpc);
    let (_app, port) = App::gunicorn("[::]");
    let ws = Workspace::new();
    let rb = runbook(&ws, port, "1s");

    // Before: the preflight sees both traps the runbook fixes, on the
    // runbook without its two steps.
    let text = std::fs::read_to_string(&rb).unwrap();
    let cut = |from: &str, to: &str| -> String {
        let (a, b) = text.split_once(from).unwrap();
        format!("{a}{}", &b[b.find(to).unwrap()..])
    };
    let without = cut("  - id: network-acls", "  - id: alb");
    let without = ws.runbook("without.yaml", &without[..without.find("  - id: dns").unwrap()]);
    let out = run(dualstack(&emu).args(["check"]).arg(&without));
    assert_eq!(code(&out), 7, "{}", stdout(&out));
    assert!(stdout(&out).contains("error [nacl-blocks-ipv6]") && stdout(&out).contains("public-acl"), "{}", stdout(&out));
    assert!(stdout(&out).contains("warning [a-alias-without-aaaa] redash: redash.example.com"), "{}", stdout(&out));

    emu.clear_calls();
    let out = run(dualstack(&emu).args(["plan"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(plan.contains("ec2:CreateNetworkAclEntry") && plan.contains("route53:ChangeResourceRecordSets"), "{plan}");
    assert!(emu.mutating_calls().is_empty(), "plan changed {:?}", emu.mutating_calls());

    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = emu.acls_and_zones(&vpc);
    // Every IPv4 entry for 0.0.0.0/0 has its twin, in the same order.
    for want in [
        "acl public-acl ingress 101 allow 6 ::/0 Some((Some(80), Some(80))) None",
        "acl public-acl ingress 111 allow 6 ::/0 Some((Some(443), Some(443))) None",
        "acl public-acl ingress 121 allow 6 ::/0 Some((Some(1024), Some(65535))) None",
        "acl public-acl egress 101 allow -1 ::/0 None None",
    ] {
        assert!(after.contains(&want.to_string()), "missing {want}:\n{after:#?}");
    }
    assert!(after.iter().any(|l| l.starts_with("acl public-acl ingress 131 allow 58 ::/0") && l.contains("Some(128)")), "ICMP echo as ICMPv6 128:\n{after:#?}");
    // The AAAA alias beside the A alias, to the load balancer's own zone and its dualstack. name.
    let a = after.iter().find(|l| l.starts_with("record redash.example.com. A ")).unwrap();
    let aaaa = after.iter().find(|l| l.starts_with("record redash.example.com. AAAA ")).unwrap_or_else(|| panic!("no AAAA:\n{after:#?}"));
    let target = |l: &str| l.split(" alias ").nth(1).unwrap().split_whitespace().take(2).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(target(aaaa)[0], target(a)[0], "the load balancer's zone");
    assert!(target(aaaa)[1].to_ascii_lowercase().starts_with("dualstack.redash"), "{aaaa}");
    assert!(!after.iter().any(|l| l.contains("www.example.com. AAAA")), "nothing else published");
    // A second apply changes nothing.
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());

    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(&vpc), original);
    assert_eq!(emu.acls_and_zones(&vpc), original_dns, "the ACLs and the zone are back exactly");
    let lines = journal(&ws);
    let dns = undone_at(&lines, "dns_aaaa");
    let lb = undone_at(&lines, "load_balancer_ip_type");
    assert!(dns < lb, "the AAAA was withdrawn before the load balancer went back to ipv4");
    assert!(lb.duration_since(dns).unwrap() >= Duration::from_secs(1), "and not sooner than withdraw_wait after");
}

#[test]
fn a_gate_failing_after_the_dns_step_withdraws_the_aaaa_before_the_load_balancer_changes_back() {
    let emu = Emulator::start();
    let vpc = seed(&emu);
    let original = emu.fingerprint(&vpc);
    let original_dns = emu.acls_and_zones(&vpc);
    // The application answers over IPv6; a second check of the DNS step's
    // gate fails (a smoke test after publishing, say).
    let (_app, port) = App::gunicorn("[::]");
    let ws = Workspace::new();
    let text = std::fs::read_to_string(runbook(&ws, port, "2s")).unwrap().replace(
        "    gate: { checks: [site-v6], bake: 0s }",
        "    gate: { checks: [site-v6, app-stopped], bake: 0s }",
    );
    let marker = ws.dir.path().join("stopped");
    let text = text.replace("checks:\n", &format!("checks:\n  app-stopped: {{ command: \"test ! -e {}\" }}\n", marker.display()));
    let rb = ws.runbook("incident-users.yaml", &text);
    std::fs::write(&marker, "").unwrap();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("step dns failed its health gate"), "{err}");
    assert_eq!(emu.fingerprint(&vpc), original);
    assert_eq!(emu.acls_and_zones(&vpc), original_dns);
    let lines = journal(&ws);
    let dns = undone_at(&lines, "dns_aaaa");
    let lb = undone_at(&lines, "load_balancer_ip_type");
    assert!(dns < lb);
    assert!(lb.duration_since(dns).unwrap() >= Duration::from_secs(2), "the load balancer waited for resolvers: {:?}", lb.duration_since(dns));
    // Undos that do not touch the IPv6 path went on meanwhile (the subnet
    // flags); the path itself (security-group and ACL twins) stays until the
    // load balancer has changed back, for the clients resolvers still send.
    let flags = undone_at(&lines, "subnet_ipv6");
    assert!(dns < flags && flags < lb, "the flags went back during the wait");
    assert!(lb < undone_at(&lines, "security_group_ipv6") && lb < undone_at(&lines, "network_acl_ipv6"));
    assert!(err.contains("resolvers to forget"), "the wait shows as progress: {err}");
}

#[test]
fn bad_references_exit_2_with_their_position() {
    let emu = Emulator::start();
    seed(&emu);
    emu.clear_calls();
    let ws = Workspace::new();
    let (_app, port) = App::gunicorn("[::]");
    let text = std::fs::read_to_string(runbook(&ws, port, "1s")).unwrap();
    for (from, to, want) in [
        ("{ zone: example.com,", "{ zone: example.org,", "no hosted zone `example.org`"),
        ("name: redash.example.com }", "name: www.example.com }", "www.example.com in example.com has no A alias to redash"),
        ("network_acls: [public-acl]", "network_acls: [private-acl]", "no network ACL `private-acl`"),
    ] {
        let rb = ws.runbook("bad.yaml", &text.replace(from, to));
        let out = run(dualstack(&emu).args(["plan"]).arg(&rb));
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{to}: {err}");
        assert!(err.contains(want), "{to}: {err}");
        let line = text.lines().position(|l| l.contains(from)).unwrap() + 1;
        assert!(err.contains(&format!("bad.yaml:{line}:")), "{to}: no position {line}: {err}");
    }
    // A dns_aaaa step before the load balancer is dual-stack is refused where it names it.
    let moved = text.replace("      ip_address_type: dualstack\n", "      ip_address_type: ipv4\n");
    let rb = ws.runbook("early.yaml", &moved);
    let out = run(dualstack(&emu).args(["plan"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("is ipv4 at this point of the runbook"), "{}", stderr(&out));
    assert!(emu.mutating_calls().is_empty(), "{:?}", emu.mutating_calls());
}

#[test]
fn an_aaaa_pointing_elsewhere_is_refused_unless_replace_and_then_restored_on_rollback() {
    let emu = Emulator::start();
    let vpc = seed(&emu);
    // Someone published an AAAA of their own for the name.
    let script = r#"
import sys, boto3
r53 = boto3.client("route53", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
zone = r53.list_hosted_zones()["HostedZones"][0]["Id"]
r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
    "Name": "redash.example.com", "Type": "AAAA", "TTL": 300, "ResourceRecords": [{"Value": "2001:db8::10"}]}}]})
"#;
    let out = std::process::Command::new(python()).args(["-c", script, &emu.endpoint]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = emu.acls_and_zones(&vpc);
    let (_app, port) = App::gunicorn("[::]");
    let ws = Workspace::new();
    let text = std::fs::read_to_string(runbook(&ws, port, "1s")).unwrap();
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["plan"]).arg(ws.runbook("plain.yaml", &text)));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("already has an AAAA record that points elsewhere: redash.example.com AAAA 2001:db8::10"), "{}", stderr(&out));
    assert!(emu.mutating_calls().is_empty());
    let rb = ws.runbook("incident-users.yaml", &text.replace("name: redash.example.com }", "name: redash.example.com, replace: true }"));
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = emu.acls_and_zones(&vpc);
    assert!(after.iter().any(|l| l.starts_with("record redash.example.com. AAAA None alias ")), "{after:#?}");
    assert!(!after.iter().any(|l| l.contains("2001:db8::10")), "{after:#?}");
    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.acls_and_zones(&vpc), before, "the replaced AAAA is back exactly");
}
