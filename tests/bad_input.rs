//! Bad input: every mistake gives exit 2, a message that names the file,
//! line and column and shows the line, and not a single change in AWS.

mod support;
use support::*;

const GOOD: &str = "version: 1
name: t
vpc: redash
steps:
  - id: vpc-ipv6
    vpc_ipv6_cidr: {}
  - id: subnets
    subnet_ipv6:
      subnets:
        - { subnet: public-1a, index: 1 }
      assign_ipv6_on_creation: true
";

/// Run `cmd` on `text` and check the diagnostic points at `line:col`.
fn rejects(emu: &Emulator, cmd: &str, text: &str, line_col: &str, message: &str) {
    let ws = Workspace::new();
    let rb = ws.runbook("rb.yaml", text);
    emu.clear_calls();
    let out = run(dualstack(emu).arg(cmd).args(if cmd == "apply" { &["--yes"][..] } else { &[][..] }).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{cmd} should exit 2 for {message:?}: {err}");
    let loc = format!("rb.yaml:{line_col}: ");
    assert!(err.contains(&loc), "expected {loc} in:\n{err}");
    assert!(err.contains(message), "expected {message:?} in:\n{err}");
    let line: usize = line_col.split(':').next().unwrap().parse().unwrap();
    let source_line = text.lines().nth(line - 1).unwrap();
    assert!(err.contains(&format!("{line} | {source_line}")), "the offending line is not shown:\n{err}");
    assert!(err.contains('^'), "no caret:\n{err}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{cmd} changed AWS on bad input");
}

#[test]
fn offline_mistakes_are_located_and_change_nothing() {
    let emu = Emulator::start();
    emu.seed_incident();
    for cmd in ["validate", "plan", "apply"] {
        // Malformed YAML.
        rejects(&emu, cmd, &GOOD.replace("    subnet_ipv6:", "   subnet_ipv6:"), "8:4", "did not find expected");
        // Unknown field (a typo).
        rejects(&emu, cmd, &GOOD.replace("assign_ipv6_on_creation", "assign_ipv6_on_create"), "11:7", "unknown field `assign_ipv6_on_create`");
        // Duplicate step ids.
        rejects(&emu, cmd, &GOOD.replace("id: subnets", "id: vpc-ipv6"), "7:9", "duplicate step id `vpc-ipv6`");
        // Impossible ordering: subnet blocks carved before the VPC has one.
        let reordered = "version: 1\nname: t\nvpc: redash\nsteps:\n  - id: subnets\n    subnet_ipv6:\n      subnets: [{ subnet: public-1a, index: 1 }]\n  - id: vpc-ipv6\n    vpc_ipv6_cidr: {}\n";
        rejects(&emu, cmd, reordered, "5:7", "only associates later");
        // Unsupported version, wrong type, bad CIDR.
        rejects(&emu, cmd, &GOOD.replace("version: 1", "version: 2"), "1:10", "unsupported runbook version 2");
        rejects(&emu, cmd, &GOOD.replace("index: 1 }", "cidr: \"2406:da14::/56\" }"), "10:38", "a subnet's IPv6 block is a /64");
        rejects(&emu, cmd, &GOOD.replace("index: 1", "index: -1"), "10:39", "invalid type: integer `-1`, expected u32");
    }
}

#[test]
fn live_mistakes_are_located_and_change_nothing() {
    let emu = Emulator::start();
    let ids = emu.seed_incident();
    // A second subnet named like the first: the name becomes ambiguous.
    let rt = runtime();
    rt.block_on(async {
        let tag = aws_sdk_ec2::types::Tag::builder().key("Name").value("public-1c").build();
        emu.ec2().create_tags().resources(ids["subnets"]["public-1d"].as_str().unwrap()).tags(tag).send().await.unwrap();
    });
    for cmd in ["plan", "apply"] {
        // A reference that matches nothing lists the candidates.
        rejects(&emu, cmd, &GOOD.replace("subnet: public-1a", "subnet: public-9z"), "10:21", "no subnet `public-9z`");
        // A name that matches two resources.
        rejects(&emu, cmd, &GOOD.replace("subnet: public-1a", "subnet: public-1c"), "10:21", "`public-1c` matches 2 subnets");
        // A VPC that does not exist.
        rejects(&emu, cmd, &GOOD.replace("vpc: redash", "vpc: nope"), "3:6", "no VPC `nope` found");
        // A flag on a subnet that will have no IPv6 block.
        rejects(&emu, cmd, &GOOD.replace("{ subnet: public-1a, index: 1 }", "{ subnet: public-1a }"), "11:32", "it has no IPv6 block");
        // An index outside the VPC's /56.
        rejects(&emu, cmd, &GOOD.replace("index: 1", "index: 256"), "10:39", "does not fit a /56");
    }
}

#[test]
fn validate_is_offline_and_accepts_the_examples() {
    for entry in std::fs::read_dir(root().join("runbooks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dualstack"))
            .arg("validate")
            .arg(&path)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: validate must not call AWS
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}: {}", path.display(), stderr(&out));
    }
}
