//! The incident's topology end to end through the real binary: `plan` changes
//! nothing, `apply` reaches the desired state (read back with describe
//! calls), a second `apply` makes no call, and `rollback` returns every
//! attribute to its original value.

mod support;
use support::*;

#[test]
fn plan_apply_again_and_rollback_on_the_incident_topology() {
    let emu = Emulator::start();
    let ids = emu.seed_incident();
    let vpc = ids["vpc"].as_str().unwrap();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let original = emu.fingerprint(vpc);

    // plan: shows the changes, makes no mutating call, changes nothing.
    emu.clear_calls();
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("IPv6 block: none -> Amazon-provided /56"), "{text}");
    assert!(text.contains("ec2:AssociateSubnetCidrBlock"), "{text}");
    assert!(text.contains("AssignIpv6AddressOnCreation: false -> true"), "{text}");
    assert!(text.contains("route ::/0: none -> igw-"), "{text}");
    assert!(text.contains("ingress rule: none -> tcp 443 from ::/0"), "{text}");
    assert!(text.contains("15 changes"), "{text}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(emu.fingerprint(vpc), original);

    // apply: every change, then the state the runbook describes.
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = emu.fingerprint(vpc);
    let expected_lines = [
        "vpc ipv6 /56 associated",
        "subnet public-1a ipv6=[\"#1:associated\"] assign=true dns64=false aaaa=true",
        "subnet public-1c ipv6=[\"#2:associated\"] assign=true dns64=false aaaa=true",
        "subnet public-1d ipv6=[\"#3:associated\"] assign=true dns64=false aaaa=true",
        "route public ::/0 -> igw",
        "sg redash-alb in tcp:Some(443)-Some(443) ::/0",
        "sg redash-alb in tcp:Some(80)-Some(80) ::/0",
        "sg redash-alb out -1:None-None ::/0",
        "sg redash-app out -1:None-None ::/0",
    ];
    for line in expected_lines {
        assert!(after.iter().any(|l| l == line), "missing {line:?} in {after:#?}");
    }
    // Nothing else changed: the IPv4 world is intact.
    for line in &original {
        if !line.starts_with("subnet ") {
            assert!(after.contains(line), "{line:?} disappeared: {after:#?}");
        }
    }
    // The ordering rule: no flag was set before every block was associated.
    let muts = emu.mutating_calls();
    let last_assoc = muts.iter().rposition(|a| a == "AssociateSubnetCidrBlock").unwrap();
    let first_flag = muts.iter().position(|a| a == "ModifySubnetAttribute").unwrap();
    assert!(last_assoc < first_flag, "{muts:?}");

    // apply again: a no-op, not a single mutating call.
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(emu.fingerprint(vpc), after);

    // status shows each step done.
    let out = run(dualstack(&emu).arg("status").arg(&rb));
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("completed"), "{}", stdout(&out));

    // rollback: back to the original, attribute for attribute.
    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.fingerprint(vpc), original);
    // The assign-on-creation flag went off before any block was disassociated.
    let muts = emu.mutating_calls();
    let first_disassoc = muts.iter().position(|a| a == "DisassociateSubnetCidrBlock").unwrap();
    let last_flag = muts.iter().rposition(|a| a == "ModifySubnetAttribute").unwrap();
    assert!(last_flag < first_disassoc, "{muts:?}");

    // A second rollback has nothing to do.
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing to roll back"), "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn apply_without_yes_and_without_a_terminal_refuses_before_touching_aws() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.clear_calls();
    for cmd in ["apply", "resume", "rollback"] {
        let out = run(dualstack(&emu).arg(cmd).arg(&rb));
        assert_eq!(code(&out), 2, "{cmd}: {}", stderr(&out));
        assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    }
    assert!(emu.calls().is_empty(), "{:?}", emu.calls());
}

/// Writes on different resources are in flight together: through a proxy
/// that adds 400 ms to every call, the three subnets' associations are all
/// sent before the first is answered, and all answered within one call's
/// time (in turn they would take three).
#[test]
fn writes_on_different_subnets_are_in_flight_together() {
    let emu = Emulator::start();
    emu.seed_incident();
    let proxy = Proxy::start(&emu);
    proxy.scenario(serde_json::json!({"latency_ms": 400}));
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let out = run(dualstack_via(&proxy).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let journal = std::fs::read_to_string(ws.state_dir().join("redash-dualstack.journal.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let at = |l: &serde_json::Value| humantime::parse_rfc3339(l["at"].as_str().unwrap()).unwrap();
    let seqs: Vec<u64> = lines
        .iter()
        .filter(|l| l["type"] == "intent" && l["change"]["change"]["action"] == "associate_block")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3, "{journal}");
    let of = |kind: &str| -> Vec<std::time::SystemTime> {
        lines.iter().filter(|l| l["type"] == kind && seqs.contains(&l["seq"].as_u64().unwrap())).map(at).collect()
    };
    let (intents, outcomes) = (of("intent"), of("outcome"));
    assert_eq!(outcomes.len(), 3, "{journal}");
    let last_sent = *intents.iter().max().unwrap();
    let first_answer = *outcomes.iter().min().unwrap();
    assert!(last_sent <= first_answer, "an association was sent after another was answered:\n{journal}");
    let span = outcomes.iter().max().unwrap().duration_since(*intents.iter().min().unwrap()).unwrap();
    assert!(span < std::time::Duration::from_millis(800), "three associations took {span:?}: in turn, not together");
}
