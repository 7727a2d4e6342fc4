//! Interactive mode in a real terminal: the binary runs under `tmux`, keys
//! are sent with `send-keys` and the screen read with `capture-pane`,
//! against the emulator.
//!
//! - the cutover with gunicorn on IPv4 only: every step is shown and applied
//!   at its prompt, the load balancer's gate fails over IPv6, the failure
//!   prompt shows the failing check's observations, "roll back everything"
//!   returns the VPC to its starting state (exit 3);
//! - show details, skip a step, abort at the next prompt (exit 4, paused,
//!   only the applied step's call made);
//! - without a terminal, `--interactive` is refused and nothing is sent.

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// A tmux server of our own (its own socket), one session running `cmd`.
struct Tmux {
    socket: String,
    exit_file: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, emu: &Emulator, args: &str) -> Tmux {
        let socket = format!("dualstack-test-{}-{}", std::process::id(), free_port());
        let exit_file = dir.join("exit-code");
        let cmd = format!(
            "env AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-northeast-1 AWS_EC2_METADATA_DISABLED=true \
             AWS_ENDPOINT_URL={} {} {args}; echo $? > {}; sleep 600",
            emu.endpoint,
            env!("CARGO_BIN_EXE_dualstack"),
            exit_file.display()
        );
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "200", "-y", "60", &cmd])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux { socket, exit_file }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "t"];
        args.extend(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    /// The whole screen with its scrollback.
    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-J", "-t", "t", "-S", "-5000"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until `prompt` is the question being asked (its options shown
    /// below it, no answer yet), after any line containing `after`.
    fn wait_prompt(&self, prompt: &str, after: Option<&str>) -> String {
        self.wait_until(prompt, |s| {
            let lines: Vec<&str> = s.lines().collect();
            let Some(at) = lines.iter().rposition(|l| l.trim_end() == format!("{prompt}:")) else { return false };
            let asking = lines[at + 1..].iter().any(|l| l.starts_with("> "));
            let ordered = after.is_none_or(|a| lines[..at].iter().any(|l| l.contains(a)));
            asking && ordered
        })
    }

    fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(start.elapsed() < Duration::from_secs(90), "timed out waiting for {what:?}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn exit_code(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&self.exit_file)
                && let Ok(c) = s.trim().parse()
            {
                return c;
            }
            assert!(start.elapsed() < Duration::from_secs(90), "the command did not finish; screen:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

/// The full cutover runbook, its site check pointed at `port`, quick gates.
fn incident_cutover(ws: &Workspace, port: u16) -> PathBuf {
    let text = std::fs::read_to_string(root().join("runbooks/incident-cutover.yaml"))
        .unwrap()
        .replace("[::1]:8000/", &format!("[::1]:{port}/"))
        .replace("interval: 1s, healthy_threshold: 2", "interval: 100ms, healthy_threshold: 1");
    ws.runbook("incident-cutover.yaml", &text)
}

#[test]
fn failure_prompt_roll_back_everything_returns_to_ipv4() {
    let emu = Emulator::start();
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    let original = emu.fingerprint(&vpc);
    // The incident: the application listens on IPv4 only.
    let (_app, port) = App::gunicorn("0.0.0.0");
    let ws = Workspace::new();
    let rb = incident_cutover(&ws, port);
    let t = Tmux::start(ws.dir.path(), &emu, &format!("apply {}", rb.display()));
    // Each step before the load balancer's: its diff, then apply (the default).
    for step in ["vpc-ipv6", "subnets", "public-route", "security-groups", "backend-addresses", "alb"] {
        let screen = t.wait_prompt(&format!("Apply step {step}?"), None);
        assert!(screen.contains(&format!("step {step} (")), "step {step}'s diff not shown:\n{screen}");
        t.keys(&["Enter"]);
    }
    let screen = t.wait_prompt("Step alb failed. What now?", None);
    // The failing check and its last observations are shown.
    assert!(screen.contains("step alb failed"), "{screen}");
    assert!(screen.contains("FAIL site-v6"), "{screen}");
    assert!(screen.contains("> roll back everything (back to IPv4)"), "{screen}");
    assert!(screen.contains("retry the step") && screen.contains("roll back this step") && screen.contains("pause"), "{screen}");
    // The diff of a step was shown before it ran.
    assert!(screen.contains("IPv6 block: none -> Amazon-provided /56"), "{screen}");
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 3, "{}", t.screen());
    assert_eq!(emu.fingerprint(&vpc), original, "rolled back to the starting state");
    assert!(t.screen().contains("rolled back"), "{}", t.screen());
}

#[test]
fn details_skip_and_abort_at_the_prompts() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.clear_calls();
    let t = Tmux::start(ws.dir.path(), &emu, &format!("apply {}", rb.display()));
    t.wait_prompt("Apply step vpc-ipv6?", None);
    t.keys(&["Down", "Down", "Enter"]); // show details
    let screen = t.wait_prompt("Apply step vpc-ipv6?", Some("ec2:AssociateVpcCidrBlock VpcId="));
    assert!(screen.contains("AmazonProvidedIpv6CidrBlock=true"), "{screen}");
    t.keys(&["Enter"]); // apply
    t.wait_prompt("Apply step subnets?", None);
    t.keys(&["Down", "Enter"]); // skip
    t.wait_prompt("Apply step public-route?", None);
    t.keys(&["Down", "Down", "Down", "Enter"]); // abort
    assert_eq!(t.exit_code(), 4, "{}", t.screen());
    let screen = t.screen();
    assert!(screen.contains("step subnets: skipped, skipped at the prompt"), "{screen}");
    assert!(screen.contains("paused at the prompt"), "{screen}");
    // The run's marker went on the VPC just before its first change, and a
    // paused run leaves it there.
    assert_eq!(emu.mutating_calls(), vec!["CreateTags", "AssociateVpcCidrBlock"]);
    // The run is paused: status says so, and resume or rollback continue it.
    let out = run(dualstack(&emu).arg("status").arg(&rb));
    assert!(stdout(&out).contains("paused"), "{}", stdout(&out));
    let status = stdout(&out);
    let line = |step: &str| status.lines().find(|l| l.trim_start().starts_with(step)).unwrap_or_else(|| panic!("{status}")).to_string();
    assert!(line("subnets").contains("skipped at the prompt"), "{status}");
    assert!(line("vpc-ipv6").contains("done"), "{status}");
    // The run's events were logged, one JSON object per line.
    let logs: Vec<_> = std::fs::read_dir(ws.state_dir().join("logs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    let events: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.iter().all(|e| e["ts"].is_string()), "{log}");
    assert!(events.iter().any(|e| e["event"] == "step_skipped" && e["step"] == "subnets"), "{log}");
    assert_eq!(events.last().unwrap()["event"], "run_finished", "{log}");
}

#[test]
fn interactive_without_a_terminal_is_refused() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--interactive"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("needs a terminal"), "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_confirm_step_stops_even_with_yes() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let text = std::fs::read_to_string(root().join("runbooks/incident.yaml")).unwrap().replace("  - id: public-route\n", "  - id: public-route\n    confirm: true\n");
    let rb = ws.runbook("incident.yaml", &text);
    let t = Tmux::start(ws.dir.path(), &emu, &format!("apply --yes {}", rb.display()));
    let screen = t.wait_prompt("Apply step public-route?", None);
    assert!(screen.contains("marked confirm: true"), "{screen}");
    assert!(!screen.contains("Apply step vpc-ipv6?") && !screen.contains("Apply step subnets?"), "only the confirm step asks:\n{screen}");
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    // Without a terminal, --yes approves it, with a warning.
    emu.reset();
    emu.seed_incident();
    let ws2 = Workspace::new();
    let rb2 = ws2.runbook("incident.yaml", &text);
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb2));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("step public-route is marked `confirm: true`; no terminal to ask on, approved by --yes"), "{}", stderr(&out));
}

#[test]
fn retry_runs_the_failed_gate_again_before_anything_moves_then_roll_back_this_step() {
    let emu = Emulator::start();
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    let (_app, port) = App::gunicorn("0.0.0.0");
    let ws = Workspace::new();
    let rb = incident_cutover(&ws, port);
    emu.clear_calls();
    let t = Tmux::start(ws.dir.path(), &emu, &format!("apply {}", rb.display()));
    for step in ["vpc-ipv6", "subnets", "public-route", "security-groups", "backend-addresses", "alb"] {
        t.wait_prompt(&format!("Apply step {step}?"), None);
        t.keys(&["Enter"]);
    }
    t.wait_prompt("Step alb failed. What now?", None);
    t.keys(&["Down", "Down", "Enter"]); // retry the step
    // The gate is observed again and fails again; nothing else was sent.
    let screen = t.wait_prompt("Step alb failed. What now?", Some("retrying step alb"));
    let after_retry = screen.split("retrying step alb").nth(1).unwrap();
    assert!(after_retry.contains("FAIL site-v6"), "the gate did not run again:\n{screen}");
    assert_eq!(emu.mutating_calls().iter().filter(|c| *c == "SetIpAddressType").count(), 1, "retry changed something");
    t.keys(&["Down", "Enter"]); // roll back this step
    assert_eq!(t.exit_code(), 3, "{}", t.screen());
    let screen = t.screen();
    assert!(screen.contains("rolled back step `alb`"), "{screen}");
    assert!(screen.contains("the steps before it stay in effect"), "{screen}");
    // The load balancer is IPv4 again; the network half stays dual-stack.
    let fp = emu.fingerprint(&vpc);
    assert!(fp.iter().any(|l| l == "lb redash internet-facing ipv4"), "{fp:#?}");
    assert!(fp.iter().any(|l| l == "route public ::/0 -> igw"), "{fp:#?}");
    // `rollback` undoes the rest.
    let out = run(dualstack(&emu).args(["rollback", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!emu.fingerprint(&vpc).iter().any(|l| l.contains("::/0")));
}

#[test]
fn progress_shows_what_a_step_waits_for_and_its_deadline() {
    let emu = Emulator::start();
    emu.seed_incident();
    let (_server, port) = App::http_server("::");
    let ws = Workspace::new();
    let incident = std::fs::read_to_string(root().join("runbooks/incident.yaml")).unwrap();
    let (head, steps) = incident.split_once("steps:\n").unwrap();
    // A gate that bakes for 4 s: long enough to see the spinner.
    let text = format!(
        "{head}checks:\n  site-v6: {{ http: {{ url: \"http://[::1]:{port}/\", family: ipv6, timeout: 2s }} }}\n\
         steps:\n{steps}\n  - id: bake\n    health_gate: {{ checks: [site-v6], bake: 4s, interval: 200ms, timeout: 1m }}\n"
    );
    let rb = ws.runbook("incident.yaml", &text);
    let t = Tmux::start(ws.dir.path(), &emu, &format!("apply --yes {}", rb.display()));
    let screen = t.wait_until("the gate's progress line", |s| s.contains("health gate: site-v6 (deadline 1m)"));
    let line = screen.lines().find(|l| l.contains("health gate: site-v6")).unwrap();
    assert!(line.contains("bake"), "the step's id leads the line: {line}");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());

    // Under --output json on the same terminal: JSON lines only, no spinner.
    emu.reset();
    emu.seed_incident();
    let ws2 = Workspace::new();
    let rb2 = ws2.runbook("incident.yaml", &text);
    let t = Tmux::start(ws2.dir.path(), &emu, &format!("apply --yes --output json {} 2>/dev/null", rb2.display()));
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let screen = t.screen();
    assert!(!screen.contains("health gate: site-v6 (deadline"), "{screen}");
    let events: Vec<serde_json::Value> = screen.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(events.iter().any(|e| e["event"] == "gate_started" && e["timeout_secs"] == 60), "{screen}");
    assert!(events.iter().any(|e| e["event"] == "change_started" && e["change"]["call"] == "ec2:AssociateVpcCidrBlock"), "{screen}");
}
