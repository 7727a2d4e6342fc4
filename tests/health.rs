//! Health gates on the network half: a `health_gate` step whose check fails
//! over IPv6 rolls everything back to IPv4 (exit 3) with the failing check's
//! observations; the same gate passes when the server listens on IPv6.

mod support;

use support::*;

fn runbook(port: u16) -> String {
    let incident = std::fs::read_to_string(root().join("runbooks/incident.yaml")).unwrap();
    let (head, steps) = incident.split_once("steps:\n").unwrap();
    format!(
        "{head}checks:\n  site-v6: {{ http: {{ url: \"http://[::1]:{port}/\", family: ipv6, timeout: 2s }} }}\n  \
         smoke: {{ command: \"test -d .\" }}\n\
         gate_defaults: {{ interval: 200ms, healthy_threshold: 2, unhealthy_threshold: 2, timeout: 20s }}\n\
         steps:\n{steps}\n  - id: app-over-ipv6\n    health_gate: {{ checks: [site-v6, smoke] }}\n"
    )
}

#[test]
fn a_gate_failing_over_ipv6_rolls_back_to_ipv4_with_exit_3() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let original = emu.fingerprint(&vpc);
    // The incident: the application listens on IPv4 only.
    let (_server, port) = App::http_server("0.0.0.0");
    let ws = Workspace::new();
    let rb = ws.runbook("incident-gated.yaml", &runbook(port));
    let started = std::time::Instant::now();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("failed its health gate"), "{err}");
    assert!(err.contains("FAIL site-v6"), "{err}");
    assert!(err.contains("Connection refused"), "the observation is not shown: {err}");
    assert!(err.contains("back where it was"), "{err}");
    assert_eq!(emu.fingerprint(&vpc), original);
    // Failing fast: two rounds 200 ms apart, not a connect timeout.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());

    // Every observation is in the journal, with a timestamp.
    let journal = std::fs::read_to_string(ws.state_dir().join("redash-dualstack.journal.jsonl")).unwrap();
    let observations: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "observation")
        .collect();
    assert!(observations.len() >= 4, "{observations:?}");
    assert!(observations.iter().any(|o| o["observation"]["check"] == "site-v6" && o["observation"]["ok"] == false));
    assert!(observations.iter().any(|o| o["observation"]["check"] == "smoke" && o["observation"]["ok"] == true));
}

#[test]
fn the_same_gate_passes_when_the_server_listens_on_ipv6() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let (_server, port) = App::http_server("::");
    let ws = Workspace::new();
    let rb = ws.runbook("incident-gated.yaml", &runbook(port));
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("health gate passed"), "{}", stderr(&out));
    assert!(emu.fingerprint(&vpc).iter().any(|l| l == "route public ::/0 -> igw"));
}

#[test]
fn rollback_step_policy_undoes_only_the_failing_step() {
    let emu = Emulator::start();
    let vpc = emu.seed_incident()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    // A gate on the security-group step that always fails.
    let incident = std::fs::read_to_string(root().join("runbooks/incident.yaml")).unwrap();
    let (head, steps) = incident.split_once("steps:\n").unwrap();
    let text = format!(
        "{head}checks:\n  never: {{ command: \"echo nope; exit 1\" }}\n\
         gate_defaults: {{ interval: 100ms, unhealthy_threshold: 1 }}\n\
         steps:\n{steps}      \n    gate: {{ checks: [never] }}\n    on_health_failure: rollback_step\n"
    );
    let rb = ws.runbook("rb.yaml", &text);
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("exit 1: nope"), "{}", stderr(&out));
    assert!(stderr(&out).contains("the steps before it stay in effect"), "not 'back where it was': {}", stderr(&out));
    let after = emu.fingerprint(&vpc);
    // Earlier steps stay; the failing step's rules are gone.
    assert!(after.iter().any(|l| l == "route public ::/0 -> igw"), "{after:#?}");
    assert!(!after.iter().any(|l| l.starts_with("sg ") && l.ends_with("::/0")), "{after:#?}");
}
