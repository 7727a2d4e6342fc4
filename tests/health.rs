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

/// A server on `[::1]` that answers 204 to every request and hands over
/// what it was sent.
fn recording_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        }
    });
    (port, rx)
}

#[test]
fn an_http_check_pinned_with_connect_to_keeps_the_urls_host_for_the_request() {
    let emu = Emulator::start();
    emu.seed_incident();
    let (port, requests) = recording_server();
    let ws = Workspace::new();
    // The service's own name does not resolve here (no AAAA yet, say): the
    // check goes to the pinned address and still asks for that name.
    let text = |connect: &str| {
        format!(
            "version: 1\nname: pinned\nregion: ap-northeast-1\nvpc: redash\nchecks:\n  site-v6: {{ http: {{ url: \"http://redash.example.invalid/ping\", family: ipv6, expect_status: 204, timeout: 2s{connect} }} }}\ngate_defaults: {{ interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1, timeout: 10s }}\nsteps:\n  - id: site\n    health_gate: {{ checks: [site-v6] }}\n"
        )
    };
    let rb = ws.runbook("pinned.yaml", &text(&format!(", connect_to: \"[::1]:{port}\"")));
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let request = requests.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert!(request.starts_with("GET /ping HTTP/1.1\r\n"), "{request}");
    assert!(request.to_ascii_lowercase().contains("\r\nhost: redash.example.invalid\r\n"), "{request}");
    // Without the pin the name is resolved, and fails.
    let rb = ws.runbook("unpinned.yaml", &text("").replace("name: pinned", "name: unpinned"));
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("resolve redash.example.invalid"), "{}", stderr(&out));
    // A malformed pin is refused at its position.
    let rb = ws.runbook("bad.yaml", &text(", connect_to: \"::1:80\""));
    let out = run(dualstack(&emu).args(["validate"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.yaml:6:124:") && stderr(&out).contains("in brackets"), "{}", stderr(&out));
}
