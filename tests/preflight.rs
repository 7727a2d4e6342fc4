//! Preflight findings (`dualstack check`, and the start of `plan` and
//! `apply`): each known trap is built in the emulator, and the finding is
//! seen with its id; where the trap is fixed, the finding goes away; an error
//! finding blocks `apply` (exit 7, no mutating call) unless `--allow`ed.

mod support;
use support::*;

const NETWORK: &str = "version: 1
name: net
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
      dns64: DNS64
";

fn check(emu: &Emulator, rb: &std::path::Path) -> (i32, String) {
    let out = run(dualstack(emu).arg("check").arg(rb));
    (code(&out), format!("{}{}", stdout(&out), stderr(&out)))
}

#[test]
fn dns64_without_nat64_blocks_apply_until_a_nat64_route_exists() {
    let emu = Emulator::start();
    let ids = emu.seed_incident();
    let ws = Workspace::new();
    let rb = ws.runbook("net.yaml", &NETWORK.replace("DNS64", "true"));

    let (c, out) = check(&emu, &rb);
    assert_eq!(c, 7, "{out}");
    for name in ["public-1a", "public-1c", "public-1d"] {
        assert!(out.contains(&format!("error [dns64-without-nat64] {} ({name})", ids["subnets"][name].as_str().unwrap())), "{out}");
    }
    assert!(out.contains("3 errors"), "{out}");
    // The same runbook with DNS64 off: no finding.
    let off = ws.runbook("off.yaml", &NETWORK.replace("DNS64", "false"));
    let (c, out) = check(&emu, &off);
    assert_eq!(c, 0, "{out}");
    assert!(!out.contains("dns64-without-nat64"), "{out}");

    // apply refuses before any change, naming the way to accept the risk.
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow dns64-without-nat64"), "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    // A misspelt --allow is a usage error, not a silent no-op.
    let out = run(dualstack(&emu).args(["apply", "--yes", "--allow", "dns64"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no such finding"), "{}", stderr(&out));

    // NAT64 in place (a NAT gateway and 64:ff9b::/96 to it): the trap is gone.
    let rtb = ids["route_table"].as_str().unwrap().to_string();
    let subnet = ids["subnets"]["public-1a"].as_str().unwrap().to_string();
    runtime().block_on(async {
        let ec2 = emu.ec2();
        let eip = ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.unwrap();
        let nat = ec2.create_nat_gateway().subnet_id(&subnet).allocation_id(eip.allocation_id().unwrap()).send().await.unwrap();
        let nat_id = nat.nat_gateway().unwrap().nat_gateway_id().unwrap().to_string();
        ec2.create_route().route_table_id(&rtb).destination_ipv6_cidr_block("64:ff9b::/96").nat_gateway_id(nat_id).send().await.unwrap();
    });
    let (c, out) = check(&emu, &rb);
    assert_eq!(c, 0, "{out}");
    assert!(!out.contains("dns64-without-nat64"), "{out}");

    // With --allow the same runbook applies.
    emu.reset();
    emu.seed_incident();
    let out = run(dualstack(&emu).args(["apply", "--yes", "--allow", "dns64-without-nat64"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A runbook with only the load balancer step, on the cutover topology.
fn lb_runbook(ws: &Workspace, lb: &str, ip_type: &str) -> std::path::PathBuf {
    ws.runbook(
        "lb.yaml",
        &format!(
            "{}  - id: alb\n    load_balancer_ip_type: {{ load_balancer: {lb}, ip_address_type: {ip_type} }}\n",
            NETWORK.replace("DNS64", "false")
        ),
    )
}

#[test]
fn load_balancer_traps() {
    let emu = Emulator::start();
    let ids = emu.seed_cutover();
    let ws = Workspace::new();
    let subnets: Vec<String> = ["public-1a", "public-1c"].iter().map(|s| ids["subnets"][s].as_str().unwrap().to_string()).collect();
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let alb_sg = ids["security_groups"]["alb"].as_str().unwrap().to_string();

    // The security groups open 80 to 0.0.0.0/0 only.
    let (c, out) = check(&emu, &lb_runbook(&ws, "redash", "dualstack"));
    assert_eq!(c, 7, "{out}");
    assert!(out.contains("error [lb-security-group-ipv4-only] load balancer redash (step alb)"), "{out}");
    // The runbook also mirrors the groups before the load balancer: gone.
    let text = std::fs::read_to_string(lb_runbook(&ws, "redash", "dualstack")).unwrap().replace(
        "  - id: alb\n",
        "  - id: sg\n    security_group_ipv6: { groups: [redash-alb] }\n  - id: alb\n",
    );
    let (c, out) = check(&emu, &ws.runbook("lb-sg.yaml", &text));
    assert_eq!(c, 0, "{out}");
    assert!(!out.contains("lb-security-group-ipv4-only"), "{out}");

    // Subnets without IPv6 before the step: the finding, then the step's own
    // refusal (AWS would reject the call), exit 2.
    let no_subnets = format!(
        "version: 1\nname: lb\nvpc: redash\nsteps:\n  - id: vpc-ipv6\n    vpc_ipv6_cidr: {{}}\n  - id: alb\n    load_balancer_ip_type: {{ load_balancer: redash, ip_address_type: dualstack }}\n"
    );
    let (c, out) = check(&emu, &ws.runbook("nosub.yaml", &no_subnets));
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("error [lb-subnet-without-ipv6] load balancer redash (step alb)"), "{out}");
    assert!(out.contains("lb.yaml") || out.contains("nosub.yaml:"), "the step's error points into the runbook: {out}");

    // An internal ALB, an ALB with an authenticate action, an NLB with UDP.
    runtime().block_on(async {
        let elb = emu.elb();
        elb.create_load_balancer()
            .name("internal")
            .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
            .set_subnets(Some(subnets.clone()))
            .security_groups(&alb_sg)
            .send()
            .await
            .unwrap();
        let nlb = elb
            .create_load_balancer()
            .name("udp")
            .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network)
            .set_subnets(Some(subnets.clone()))
            .send()
            .await
            .unwrap();
        let nlb_arn = nlb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
        let tg = elb
            .create_target_group()
            .name("dns")
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Udp)
            .port(53)
            .vpc_id(&vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap();
        let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_string();
        use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, AuthenticateOidcActionConfig, ProtocolEnum};
        elb.create_listener()
            .load_balancer_arn(&nlb_arn)
            .protocol(ProtocolEnum::Udp)
            .port(53)
            .default_actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg_arn).build())
            .send()
            .await
            .unwrap();
        // The cutover ALB's listener gets a rule that signs in through OIDC.
        let oidc = AuthenticateOidcActionConfig::builder()
            .issuer("https://idp.example.com")
            .authorization_endpoint("https://idp.example.com/auth")
            .token_endpoint("https://idp.example.com/token")
            .user_info_endpoint("https://idp.example.com/userinfo")
            .client_id("c")
            .client_secret("s")
            .build();
        let blue = ids["target_groups"]["blue"].as_str().unwrap();
        elb.create_rule()
            .listener_arn(ids["listener"].as_str().unwrap())
            .priority(20)
            .conditions(aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder().field("path-pattern").values("/admin/*").build())
            .actions(Action::builder().r#type(ActionTypeEnum::AuthenticateOidc).order(1).authenticate_oidc_config(oidc).build())
            .actions(Action::builder().r#type(ActionTypeEnum::Forward).order(2).target_group_arn(blue).build())
            .send()
            .await
            .unwrap();
    });
    // AWS rejects these two: the finding, then the step's own refusal (exit 2).
    let (c, out) = check(&emu, &lb_runbook(&ws, "internal", "dualstack-without-public-ipv4"));
    assert!(out.contains("error [without-public-ipv4-not-internet-facing] load balancer internal"), "{out}");
    assert_eq!(c, 2, "{out}");
    let (c, out) = check(&emu, &lb_runbook(&ws, "udp", "dualstack"));
    assert!(out.contains("error [nlb-udp-listener] load balancer udp"), "{out}");
    assert!(out.contains("UDP:53"), "{out}");
    assert_eq!(c, 2, "{out}");
    // AWS accepts this one and sign-in breaks: a blocking finding (exit 7).
    let (c, out) = check(&emu, &lb_runbook(&ws, "redash", "dualstack-without-public-ipv4"));
    assert!(out.contains("error [without-public-ipv4-with-authentication] load balancer redash"), "{out}");
    assert_eq!(c, 7, "{out}");
    // Plain dualstack keeps the public addresses, so authentication is fine.
    let (_, out) = check(&emu, &lb_runbook(&ws, "redash", "dualstack"));
    assert!(!out.contains("without-public-ipv4-with-authentication"), "{out}");
}

#[test]
fn compute_findings_instance_types_and_running_instances() {
    let emu = Emulator::start();
    let ids = emu.seed_cutover();
    let ws = Workspace::new();
    let subnet = ids["subnets"]["public-1d"].as_str().unwrap().to_string();
    let old = runtime().block_on(async {
        let ec2 = emu.ec2();
        let out = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::M3Medium)
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet)
            .send()
            .await
            .unwrap();
        out.instances()[0].instance_id().unwrap().to_string()
    });
    let rb = ws.runbook("net.yaml", &NETWORK.replace("DNS64", "false"));
    let (c, out) = check(&emu, &rb);
    assert_eq!(c, 0, "warnings and notes do not block: {out}");
    assert!(out.contains(&format!("warning [instance-type-without-ipv6] {old}")), "{out}");
    assert!(out.contains("m3.medium"), "{out}");
    // The two backends (t3) keep IPv4 until replaced; the m3 is not repeated there.
    let blue = ids["backends"]["blue"]["instance"].as_str().unwrap();
    let green = ids["backends"]["green"]["instance"].as_str().unwrap();
    let note = out.lines().find(|l| l.contains("[running-instance-keeps-ipv4]")).unwrap_or_else(|| panic!("{out}"));
    assert!(note.starts_with("info ") && note.contains(blue) && note.contains(green) && !note.contains(&old), "{note}");
    // With a step that gives the backends addresses, they are not listed.
    let text = format!("{}  - id: addresses\n    assign_ipv6_addresses: {{ targets_of: [redash-blue, redash-green] }}\n", NETWORK.replace("DNS64", "false"));
    let (_, out) = check(&emu, &ws.runbook("addr.yaml", &text));
    assert!(!out.contains(blue) || !out.contains("[running-instance-keeps-ipv4]"), "{out}");
    // JSON: stable ids and severities for other tools.
    let out = run(dualstack(&emu).args(["check", "--output", "json"]).arg(&rb));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let found: Vec<(&str, &str)> = v["findings"].as_array().unwrap().iter().map(|f| (f["id"].as_str().unwrap(), f["severity"].as_str().unwrap())).collect();
    assert!(found.contains(&("instance-type-without-ipv6", "warning")), "{found:?}");
    assert!(found.contains(&("running-instance-keeps-ipv4", "info")), "{found:?}");
    assert_eq!(v["blocking"], 0);
}

#[test]
fn routes_pointing_elsewhere_and_blocks_still_associating() {
    let emu = Emulator::start();
    let ids = emu.seed_incident();
    let ws = Workspace::new();
    let rtb = ids["route_table"].as_str().unwrap().to_string();
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    // A block that AWS takes its time associating, and a ::/0 to an
    // egress-only gateway in the public table.
    emu.control("POST", "/_emulator/config", r#"{"associating_reads": 1000}"#);
    let eigw = runtime().block_on(async {
        let ec2 = emu.ec2();
        ec2.associate_vpc_cidr_block().vpc_id(&vpc).amazon_provided_ipv6_cidr_block(true).send().await.unwrap();
        let eigw = ec2.create_egress_only_internet_gateway().vpc_id(&vpc).send().await.unwrap();
        let id = eigw.egress_only_internet_gateway().unwrap().egress_only_internet_gateway_id().unwrap().to_string();
        ec2.create_route().route_table_id(&rtb).destination_ipv6_cidr_block("::/0").egress_only_internet_gateway_id(&id).send().await.unwrap();
        id
    });
    let text = "version: 1\nname: r\nvpc: redash\nsteps:\n  - id: route\n    ipv6_default_route: { route_tables: [public], via: internet_gateway }\n";
    let (c, out) = check(&emu, &ws.runbook("r.yaml", text));
    assert!(out.contains(&format!("error [ipv6-default-route-elsewhere] {rtb} (public) (step route): ::/0 already points to {eigw}")), "{out}");
    assert!(out.contains(&format!("warning [ipv6-block-associating] {vpc} (redash)")), "{out}");
    assert_eq!(c, 2, "the step itself refuses too (AWS answers RouteAlreadyExists): {out}");
    // With replace: true it is a warning, and nothing blocks.
    let (c, out) = check(&emu, &ws.runbook("r2.yaml", &text.replace("via: internet_gateway", "via: internet_gateway, replace: true")));
    assert!(out.contains("warning [ipv6-default-route-elsewhere]"), "{out}");
    assert_eq!(c, 0, "{out}");
}

#[test]
fn plan_reports_the_public_ipv4_bill_before_and_after() {
    let emu = Emulator::start();
    let ids = emu.seed_cutover();
    let ws = Workspace::new();
    // An Elastic IP on the blue backend: one more public address.
    let blue = ids["backends"]["blue"]["instance"].as_str().unwrap().to_string();
    runtime().block_on(async {
        let ec2 = emu.ec2();
        let eip = ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.unwrap();
        ec2.associate_address().instance_id(&blue).allocation_id(eip.allocation_id().unwrap()).send().await.unwrap();
    });
    let text = std::fs::read_to_string(lb_runbook(&ws, "redash", "dualstack-without-public-ipv4"))
        .unwrap()
        .replace("  - id: alb\n", "  - id: sg\n    security_group_ipv6: { groups: [redash-alb] }\n  - id: alb\n");
    let rb = ws.runbook("cost.yaml", &text);
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // 3 ALB nodes (one per subnet) and the Elastic IP, at 0.005 × 730 = 3.65 each.
    assert!(text.contains("today     4 public IPv4 addresses (1 on interfaces, 3 load balancer nodes): USD 14.60/month"), "{text}");
    assert!(text.contains("after     1 public IPv4 address (1 on interfaces, 0 load balancer nodes): USD 3.65/month"), "{text}");
    assert!(text.contains("saves USD 10.95/month"), "{text}");
    // Plain dualstack keeps the load balancer's addresses, and says so.
    let out = run(dualstack(&emu).args(["plan", "--output", "json"]).arg(ws.runbook("plain.yaml", &std::fs::read_to_string(&rb).unwrap().replace("dualstack-without-public-ipv4", "dualstack"))));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(v["cost"]["after"]["load_balancer_nodes"], 3);
    assert_eq!(v["cost"]["usd_saved_per_month"], 0.0);
    assert!(v["cost"]["caveats"][0].as_str().unwrap().contains("dualstack-without-public-ipv4"), "{v}");
}

#[test]
fn ecs_tasks_and_the_dual_stack_account_setting() {
    let emu = Emulator::start();
    let ids = emu.seed_incident();
    let ws = Workspace::new();
    let subnet = ids["subnets"]["public-1a"].as_str().unwrap().to_string();
    let sg = ids["security_groups"]["app"].as_str().unwrap().to_string();
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("ap-northeast-1"))
        .endpoint_url(&emu.endpoint)
        .credentials_provider(aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "test"))
        .build();
    let ecs = aws_sdk_ecs::Client::from_conf(conf);
    runtime().block_on(async {
        use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration, NetworkMode};
        ecs.create_cluster().cluster_name("redash").send().await.unwrap();
        ecs.register_task_definition()
            .family("web")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(ContainerDefinition::builder().name("web").image("redash/redash").memory(512).cpu(256).build())
            .send()
            .await
            .unwrap();
        ecs.run_task()
            .cluster("redash")
            .task_definition("web")
            .launch_type(LaunchType::Fargate)
            .count(2)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(AwsVpcConfiguration::builder().subnets(&subnet).security_groups(&sg).assign_public_ip(AssignPublicIp::Enabled).build().unwrap())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let rb = ws.runbook("net.yaml", &NETWORK.replace("DNS64", "false"));
    let (c, out) = check(&emu, &rb);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("warning [ecs-dualstack-setting-off] ECS cluster(s) redash: 2 running task(s)"), "{out}");
    // With the setting on, the running tasks still keep IPv4 until redeployed.
    runtime().block_on(async {
        ecs.put_account_setting().name(aws_sdk_ecs::types::SettingName::from("dualStackIPv6")).value("enabled").send().await.unwrap();
    });
    let (_, out) = check(&emu, &rb);
    assert!(!out.contains("ecs-dualstack-setting-off"), "{out}");
    assert!(out.contains("info [running-task-keeps-ipv4] ECS cluster(s) redash: 2 running task(s) of no service keep IPv4 only"), "{out}");
    // Without permission to read ECS: a warning says what was not checked.
    emu.control("POST", "/_emulator/deny", r#"{"actions": ["ecs:ListClusters"]}"#);
    let (c, out) = check(&emu, &rb);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("warning [ecs-not-read] ECS: could not read ECS (ecs:ListClusters failed: AccessDeniedException"), "{out}");
    emu.control("POST", "/_emulator/deny/clear", "{}");
    // A runbook that leaves that subnet alone: no ECS finding.
    let text = NETWORK.replace("DNS64", "false").replace("        - { subnet: public-1a, index: 1 }\n", "");
    let (_, out) = check(&emu, &ws.runbook("other.yaml", &text));
    assert!(!out.contains("running-task-keeps-ipv4"), "{out}");
}

#[test]
fn check_permissions_rehearses_ec2_calls_with_dry_run_and_reports_denials() {
    let emu = Emulator::start();
    let vpc = emu.seed_cutover()["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.example("incident-cutover.yaml");
    let vpc_before = emu.fingerprint(&vpc);
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["plan", "--check-permissions"]).arg(&rb));
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    let perms = text.split_once("Permissions (").unwrap_or_else(|| panic!("no permissions section:\n{text}")).1;
    let verdict = |action: &str| perms.lines().find(|l| l.trim_start().starts_with(action)).unwrap_or_else(|| panic!("{action} not listed:\n{text}")).to_string();
    assert!(verdict("ec2:CreateRoute").ends_with("allowed"), "{text}");
    assert!(verdict("ec2:AuthorizeSecurityGroupIngress").ends_with("allowed"), "{text}");
    // The run's marker is rehearsed too.
    assert!(verdict("ec2:CreateTags").ends_with("allowed"), "{text}");
    // Calls without DryRun are listed, never sent.
    assert!(verdict("ec2:AssociateVpcCidrBlock").contains("not rehearsable"), "{text}");
    assert!(verdict("ec2:AssignIpv6Addresses").contains("not rehearsable"), "{text}");
    assert!(verdict("elasticloadbalancing:SetIpAddressType").contains("not rehearsable"), "{text}");
    // Nothing applied: no mutating call, and what was sent carried DryRun.
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    let calls = emu.control("GET", "/_emulator/calls", "");
    let dry: Vec<&str> = calls["calls"].as_array().unwrap().iter().filter(|c| c["dry_run"] == true).map(|c| c["action"].as_str().unwrap()).collect();
    assert!(dry.contains(&"CreateRoute") && dry.contains(&"AuthorizeSecurityGroupIngress"), "{dry:?}");
    assert!(!dry.contains(&"AssociateVpcCidrBlock"), "{dry:?}");
    assert_eq!(emu.fingerprint(&vpc), vpc_before);

    // A caller without ec2:CreateRoute: reported as denied, exit 7.
    emu.control("POST", "/_emulator/deny", r#"{"actions": ["ec2:CreateRoute"]}"#);
    let out = run(dualstack(&emu).args(["plan", "--check-permissions", "--output", "json"]).arg(&rb));
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let perms = v["permissions"].as_array().unwrap();
    let route = perms.iter().find(|p| p["action"] == "ec2:CreateRoute").unwrap();
    assert_eq!(route["verdict"], "denied", "{route}");
    assert_eq!(route["code"], "UnauthorizedOperation", "{route}");
    assert!(perms.iter().any(|p| p["action"] == "ec2:AuthorizeSecurityGroupEgress" && p["verdict"] == "allowed"), "{perms:?}");
    // A caller that may not tag the VPC cannot mark it: denied before any change.
    emu.control("POST", "/_emulator/deny/clear", "{}");
    emu.control("POST", "/_emulator/deny", r#"{"actions": ["ec2:CreateTags"]}"#);
    let out = run(dualstack(&emu).args(["plan", "--check-permissions", "--output", "json"]).arg(&rb));
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = v["permissions"].as_array().unwrap().iter().find(|p| p["action"] == "ec2:CreateTags").cloned().unwrap();
    assert_eq!(tags["verdict"], "denied", "{tags}");
    assert_eq!(emu.fingerprint(&vpc), vpc_before);
}
