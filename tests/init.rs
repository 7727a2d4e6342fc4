//! `dualstack init`: discovery of a live VPC into a runbook. The runbook it
//! writes for the incident's topology passes `validate`, `check` and `plan`,
//! and `apply` completes the whole cutover with it; private route tables get
//! `::/0` through an egress-only gateway.

mod support;
use support::*;

#[test]
fn init_writes_a_runbook_that_validates_plans_and_applies_on_the_incident_topology() {
    let emu = Emulator::start();
    let ids = emu.seed_cutover();
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let ws = Workspace::new();
    let rb = ws.dir.path().join("runbooks/redash.yaml");

    emu.clear_calls();
    let out = run(dualstack(&emu).args(["init", "--vpc", "redash", "-o"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "init only reads");
    let text = std::fs::read_to_string(&rb).unwrap();
    for want in [
        "vpc: redash",
        "- { subnet: public-1a, index: 1 }",
        "- { subnet: public-1c, index: 2 }",
        "- { subnet: public-1d, index: 3 }",
        "dns64: false",
        "route_tables: [public]\n      via: internet_gateway",
        "security_group_ipv6:\n      groups: [default, redash-alb, redash-app]",
        "targets_of: [redash-green, redash-blue]",
        "load_balancer: redash\n      ip_address_type: dualstack",
        // Blue/green recognised from the weights: the idle side first.
        "listener: \"redash:80\"\n      target_groups: [redash-green, redash-blue]",
        "Blue/green pair (weighted forward): redash-green has weight 0",
        "redash-green-v6-healthy: { target_health: { target_group: redash-green-v6 } }",
        "url: \"http://redash-1.ap-northeast-1.elb.amazonaws.com/\", family: ipv6",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // It does not overwrite without --force.
    let out = run(dualstack(&emu).args(["init", "--vpc", "redash", "-o"]).arg(&rb));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    let out = run(dualstack(&emu).arg("validate").arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(dualstack(&emu).arg("check").arg(&rb));
    assert_eq!(code(&out), 0, "no error finding on the runbook init wrote: {}", stdout(&out));
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("ec2:AssociateVpcCidrBlock"), "{}", stdout(&out));

    // Apply: the ALB's DNS name does not resolve on this machine, so the
    // site check is pointed at the application on loopback, and the gates
    // made quick; everything else is as init wrote it.
    let (_app, port) = App::gunicorn("[::]");
    let text = text
        .replace("http://redash-1.ap-northeast-1.elb.amazonaws.com/", &format!("http://[::1]:{port}/ping"))
        .replace("interval: 5s, healthy_threshold: 3", "interval: 50ms, healthy_threshold: 1")
        .replace("bake: 30s", "bake: 0s")
        .replace("bake: 60s", "bake: 0s");
    std::fs::write(&rb, text).unwrap();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.listener_weights(), vec!["redash-blue-v6=100", "redash-green-v6=0"]);
    let fp = emu.fingerprint(&vpc);
    assert!(fp.iter().any(|l| l.contains("::/0")), "{fp:#?}");
    // A second init on the migrated VPC keeps the blocks it has.
    let out = run(dualstack(&emu).args(["init", "--vpc", &vpc]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again = stdout(&out);
    assert!(again.contains("- { subnet: public-1a }"), "{again}");
    assert!(again.contains("# The VPC already has"), "{again}");
}

#[test]
fn private_route_tables_get_an_egress_only_gateway() {
    let emu = Emulator::start();
    let ids = emu.seed_incident();
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let public = ids["subnets"]["public-1a"].as_str().unwrap().to_string();
    runtime().block_on(async {
        use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
        let ec2 = emu.ec2();
        let name = |kind: ResourceType, n: &str| TagSpecification::builder().resource_type(kind).tags(Tag::builder().key("Name").value(n).build()).build();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("192.168.100.0/24")
            .availability_zone("ap-northeast-1a")
            .tag_specifications(name(ResourceType::Subnet, "private-1a"))
            .send()
            .await
            .unwrap();
        let subnet_id = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
        let eip = ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.unwrap();
        let nat = ec2.create_nat_gateway().subnet_id(&public).allocation_id(eip.allocation_id().unwrap()).send().await.unwrap();
        let nat_id = nat.nat_gateway().unwrap().nat_gateway_id().unwrap().to_string();
        let rtb = ec2.create_route_table().vpc_id(&vpc).tag_specifications(name(ResourceType::RouteTable, "private")).send().await.unwrap();
        let rtb_id = rtb.route_table().unwrap().route_table_id().unwrap().to_string();
        ec2.create_route().route_table_id(&rtb_id).destination_cidr_block("0.0.0.0/0").nat_gateway_id(nat_id).send().await.unwrap();
        ec2.associate_route_table().route_table_id(&rtb_id).subnet_id(subnet_id).send().await.unwrap();
    });
    let out = run(dualstack(&emu).args(["init", "--vpc", "redash", "--name", "net"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("name: net\n"), "{text}");
    assert!(text.contains("- { subnet: private-1a, index: 1 }"), "{text}");
    assert!(text.contains("route_tables: [private]\n      via: egress_only_internet_gateway"), "{text}");
    assert!(text.contains("route_tables: [public]\n      via: internet_gateway"), "{text}");
    // No load balancer: no checks, no gate.
    assert!(!text.contains("checks:"), "{text}");
    let ws = Workspace::new();
    let rb = ws.runbook("net.yaml", &text);
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(emu.mutating_calls().contains(&"CreateEgressOnlyInternetGateway".to_string()), "{:?}", emu.mutating_calls());
}

#[test]
fn a_group_behind_two_listeners_and_a_udp_load_balancer() {
    let emu = Emulator::start();
    let ids = emu.seed_cutover();
    let vpc = ids["vpc"].as_str().unwrap().to_string();
    let subnets: Vec<String> = ["public-1a", "public-1c"].iter().map(|s| ids["subnets"][s].as_str().unwrap().to_string()).collect();
    runtime().block_on(async {
        use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, LoadBalancerTypeEnum, ProtocolEnum, TargetGroupTuple, TargetTypeEnum};
        let elb = emu.elb();
        // The ALB also listens on 8080, forwarding to the same blue/green pair.
        let (blue, green) = (ids["target_groups"]["blue"].as_str().unwrap(), ids["target_groups"]["green"].as_str().unwrap());
        let forward = ForwardActionConfig::builder()
            .target_groups(TargetGroupTuple::builder().target_group_arn(blue).weight(100).build())
            .target_groups(TargetGroupTuple::builder().target_group_arn(green).weight(0).build())
            .build();
        elb.create_listener()
            .load_balancer_arn(ids["load_balancer"].as_str().unwrap())
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .default_actions(Action::builder().r#type(ActionTypeEnum::Forward).forward_config(forward).build())
            .send()
            .await
            .unwrap();
        // A DNS service behind an NLB with a UDP listener: cannot be dual-stack.
        let nlb = elb.create_load_balancer().name("dns").r#type(LoadBalancerTypeEnum::Network).set_subnets(Some(subnets)).send().await.unwrap();
        let tg = elb
            .create_target_group()
            .name("dns-udp")
            .protocol(ProtocolEnum::Udp)
            .port(53)
            .vpc_id(&vpc)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap();
        elb.create_listener()
            .load_balancer_arn(nlb.load_balancers()[0].load_balancer_arn().unwrap())
            .protocol(ProtocolEnum::Udp)
            .port(53)
            .default_actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg.target_groups()[0].target_group_arn().unwrap()).build())
            .send()
            .await
            .unwrap();
    });
    let out = run(dualstack(&emu).args(["init", "--vpc", "redash"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("listener: \"redash:80\"\n      target_groups: [redash-green, redash-blue]"), "{text}");
    assert!(text.contains("listener: \"redash:8080\"\n      target_groups: [redash-green, redash-blue]"), "the second listener is migrated too:\n{text}");
    assert!(text.contains("# dns has UDP listeners"), "{text}");
    assert!(!text.contains("load_balancer: dns") && !text.contains("dns-udp"), "nothing for the UDP load balancer:\n{text}");
    // One address step and one health check per group, however many listeners.
    assert_eq!(text.matches("assign_ipv6_addresses:").count(), 1, "{text}");
    assert_eq!(text.matches("redash-green-v6-healthy: {").count(), 1, "{text}");
    let ws = Workspace::new();
    let rb = ws.runbook("redash.yaml", &text);
    let out = run(dualstack(&emu).arg("plan").arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = stdout(&out);
    // The 8080 step reuses the groups the 80 step creates: no second CreateTargetGroup.
    assert_eq!(plan.matches("elasticloadbalancing:CreateTargetGroup").count(), 2, "{plan}");
}

#[test]
fn init_on_the_ecs_topology_redeploys_the_services_and_keeps_their_group() {
    let emu = Emulator::start();
    emu.seed_ecs(&[]);
    let ws = Workspace::new();
    let rb = ws.dir.path().join("redash.yaml");
    emu.clear_calls();
    let out = run(dualstack(&emu).args(["init", "--vpc", "redash", "-o"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "init only reads");
    let text = std::fs::read_to_string(&rb).unwrap();
    for want in [
        "redash-server-healthy: { ecs_service: { cluster: redash, service: redash-server } }",
        // Services without a load balancer first, then the one behind it.
        "ecs_redeploy:\n      cluster: redash\n      services: [redash-scheduler, redash-worker, redash-server]",
        "enable_dual_stack_setting: true",
        "gate: { checks: [redash-server-healthy] }",
        "# Left out: redash-server stays IPv4: ECS service(s) redash-server register their tasks",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("target_group_ipv6"), "the ECS group is not recreated:\n{text}");
    // As written but for the unresolvable site check and quick gates.
    let text = text
        .lines()
        .filter(|l| !l.contains("http: { url:"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("interval: 5s, healthy_threshold: 3", "interval: 300ms, healthy_threshold: 1")
        .replace("bake: 30s", "bake: 0s");
    let text = without_site_checks(&text);
    std::fs::write(&rb, text).unwrap();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for s in emu.ecs_services("redash") {
        assert!(s.tasks.iter().all(|t| t.ipv6.is_some()), "{s:?}");
    }
}

/// The site check's name out of the gates that list it (its URL, the load
/// balancer's DNS name, does not resolve on this machine).
fn without_site_checks(text: &str) -> String {
    text.lines()
        .map(|l| {
            if let Some(i) = l.find("gate: { checks: [") {
                let rest = &l[i + "gate: { checks: [".len()..];
                let end = rest.find(']').unwrap();
                let kept: Vec<&str> = rest[..end].split(", ").filter(|c| !c.ends_with("-v6")).collect();
                if kept.is_empty() {
                    return String::new();
                }
                format!("{}gate: {{ checks: [{}{}", &l[..i], kept.join(", "), &rest[end..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn init_with_a_health_url_on_a_topology_with_https_an_acl_and_a_zone_writes_a_runbook_that_applies() {
    let emu = Emulator::start();
    let vpc = emu.seed_users()["vpc"].as_str().unwrap().to_string();
    // An HTTPS listener with the application's certificate beside HTTP:80.
    let script = r#"
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="ap-northeast-1", aws_access_key_id="testing", aws_secret_access_key="testing")
acm, elb = boto3.client("acm", **kw), boto3.client("elbv2", **kw)
cert = acm.request_certificate(DomainName="redash.example.com")["CertificateArn"]
lb = elb.describe_load_balancers(Names=["redash"])["LoadBalancers"][0]["LoadBalancerArn"]
tg = elb.describe_target_groups(Names=["redash-blue"])["TargetGroups"][0]["TargetGroupArn"]
elb.create_listener(LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
"#;
    let out = std::process::Command::new(python()).args(["-c", script, &emu.endpoint]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_app, port) = App::gunicorn("[::]");
    let ws = Workspace::new();
    let rb = ws.dir.path().join("redash.yaml");
    let url = format!("http://[::1]:{port}/ping");
    let out = run(dualstack(&emu).args(["init", "--vpc", "redash", "--health-url", &url, "-o"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&rb).unwrap();
    for want in [
        &format!("url: \"{url}\", family: ipv6") as &str,
        "network_acl_ipv6:\n      network_acls: [public-acl]",
        "dns_aaaa:\n      load_balancer: redash\n      records:\n        - { zone: example.com, name: redash.example.com }",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // DNS last.
    assert!(text.rfind("dns_aaaa:").unwrap() > text.rfind("target_group_ipv6:").unwrap(), "{text}");
    let out = run(dualstack(&emu).arg("check").arg(&rb));
    assert_eq!(code(&out), 0, "no error finding on what init wrote: {}", stdout(&out));
    // As written, but for quicker gates and bakes.
    let quick = text
        .replace("interval: 5s, healthy_threshold: 3", "interval: 50ms, healthy_threshold: 1")
        .replace("bake: 30s", "bake: 0s")
        .replace("bake: 60s", "bake: 0s");
    std::fs::write(&rb, quick).unwrap();
    let out = run(dualstack(&emu).args(["apply", "--yes"]).arg(&rb));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let state = emu.acls_and_zones(&vpc);
    assert!(state.iter().any(|l| l.starts_with("record redash.example.com. AAAA ")), "{state:#?}");
    assert!(state.iter().any(|l| l.starts_with("acl public-acl ingress 111 allow 6 ::/0")), "{state:#?}");
}
