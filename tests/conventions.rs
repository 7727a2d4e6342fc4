//! What a user expects on first contact: every command's `--help` has an
//! example; `completions` prints a script for each shell; `schema` prints
//! the runbook format's JSON Schema (the file the schema tests prove); an
//! AWS error shows the service's code and message, not a debug dump;
//! `plan --iam-policy` lists exactly the runbook's actions.

mod support;
use std::process::Command;

use support::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dualstack"))
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let commands = ["init", "validate", "plan", "check", "apply", "resume", "rollback", "status", "completions", "schema"];
    let top = run(bin().arg("--help"));
    assert_eq!(code(&top), 0);
    for c in commands {
        assert!(stdout(&top).contains(&format!("  {c} ")), "{c} missing from --help:\n{}", stdout(&top));
        let out = run(bin().args([c, "--help"]));
        assert_eq!(code(&out), 0, "{c}: {}", stderr(&out));
        let help = stdout(&out);
        let examples = help.split_once("Examples:").unwrap_or_else(|| panic!("{c} --help has no example:\n{help}")).1;
        assert!(examples.contains(&format!("dualstack {c}")), "{c}'s example does not run {c}:\n{help}");
    }
    assert!(stdout(&top).contains("Exit codes:"), "{}", stdout(&top));
}

#[test]
fn completions_for_each_shell_and_the_schema() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(bin().args(["completions", shell]));
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for sub in ["init", "check", "apply", "rollback"] {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let out = run(bin().args(["completions", "tcsh"]));
    assert_eq!(code(&out), 2, "an unknown shell is a usage error");

    let out = run(bin().arg("schema"));
    assert_eq!(code(&out), 0);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("src/runbook/schema.json")).unwrap()).unwrap();
    assert_eq!(printed, file);
    assert_eq!(printed["$schema"], "https://json-schema.org/draft/2020-12/schema");
    // Every step kind the parser knows is in the schema.
    for kind in dualstack::steps::KINDS {
        assert!(printed["$defs"]["step"]["properties"].get(kind).is_some(), "{kind} missing from the schema");
    }
}

#[test]
fn aws_errors_show_the_code_and_message() {
    let emu = Emulator::start();
    emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    emu.fault("AssociateVpcCidrBlock", 1, "InsufficientCidrBlocks", 400);
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("ec2:AssociateVpcCidrBlock failed: InsufficientCidrBlocks: injected by the test"), "{err}");
    for dump in ["ServiceError", "ErrorMetadata", "SdkBody", "{ "] {
        assert!(!err.contains(dump), "a debug dump ({dump}) in:\n{err}");
    }
}

#[test]
fn iam_policy_lists_exactly_the_runbooks_actions() {
    let policy = |rb: &str| -> serde_json::Value {
        let out = run(bin().args(["plan", "--iam-policy"]).arg(root().join("runbooks").join(rb)));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let actions = |p: &serde_json::Value, sid: &str| -> Vec<String> {
        p["Statement"].as_array().unwrap().iter().filter(|s| s["Sid"] == sid).flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string())).collect()
    };
    let net = policy("incident.yaml");
    assert_eq!(net["Version"], "2012-10-17");
    assert_eq!(
        actions(&net, "Ec2Changes"),
        [
            "ec2:AssociateSubnetCidrBlock",
            "ec2:AssociateVpcCidrBlock",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:CreateRoute",
            "ec2:DeleteRoute",
            "ec2:DisassociateSubnetCidrBlock",
            "ec2:DisassociateVpcCidrBlock",
            "ec2:ModifySubnetAttribute",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
        ]
    );
    assert!(actions(&net, "LoadBalancerChanges").is_empty(), "the network runbook touches no load balancer");
    let cut = policy("incident-cutover.yaml");
    let elb = actions(&cut, "LoadBalancerChanges");
    for a in ["elasticloadbalancing:SetIpAddressType", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:ModifyListener", "elasticloadbalancing:RegisterTargets"] {
        assert!(elb.contains(&a.to_string()), "{a} missing: {elb:?}");
    }
    assert!(actions(&cut, "Ec2Changes").contains(&"ec2:AssignIpv6Addresses".to_string()));
    assert!(actions(&cut, "EcsChanges").is_empty(), "the cutover redeploys nothing");
    let users = policy("incident-users.yaml");
    assert_eq!(actions(&users, "DnsChanges"), ["route53:ChangeResourceRecordSets"]);
    for a in ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry"] {
        assert!(actions(&users, "Ec2Changes").contains(&a.to_string()), "{a} missing");
    }
    for read in ["route53:ListHostedZones", "route53:ListResourceRecordSets", "route53:GetChange", "ec2:DescribeNetworkAcls"] {
        assert!(actions(&users, "ReadState").contains(&read.to_string()), "{read} missing");
    }
    let ecs = policy("incident-ecs.yaml");
    assert_eq!(actions(&ecs, "EcsChanges"), ["ecs:PutAccountSettingDefault", "ecs:UpdateService"]);
    for read in ["ecs:DescribeServices", "ecs:ListServices", "ecs:ListTasks", "ecs:DescribeTasks", "ecs:ListAccountSettings"] {
        assert!(actions(&ecs, "ReadState").contains(&read.to_string()), "{read} missing");
    }
    // No wildcard action: least privilege by action.
    assert!(!cut.to_string().contains(":*\""), "{cut}");
    // The run's marker: its two tags on VPCs only.
    assert_eq!(actions(&net, "RunMarker"), ["ec2:CreateTags", "ec2:DeleteTags"]);
    let marker = net["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "RunMarker").unwrap();
    assert_eq!(marker["Resource"], "arn:aws:ec2:*:*:vpc/*");
    assert_eq!(marker["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"], serde_json::json!(["dualstack:run", "dualstack:state"]));
    assert!(actions(&net, "ReadState").contains(&"ec2:DescribeTags".to_string()));
    assert!(actions(&net, "StateObjects").is_empty(), "local state needs no S3");
    // Shared state: the journal's objects and its listing, nothing wider.
    let out = run(bin().args(["plan", "--iam-policy", "--state", "s3://team-state/dualstack"]).arg(root().join("runbooks/incident.yaml")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s3: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(actions(&s3, "StateObjects"), ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]);
    let objects = s3["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "StateObjects").unwrap();
    assert_eq!(objects["Resource"], "arn:aws:s3:::team-state/dualstack/redash-dualstack/*");
    assert_eq!(actions(&s3, "StateList"), ["s3:ListBucket"]);
}
