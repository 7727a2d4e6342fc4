//! Test harness: the emulator launcher as a child process, the incident
//! topology, the real `dualstack` binary, and an independent read of the
//! emulator's state (straight SDK describe calls, not the tool's own code) to
//! compare before and after.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use serde_json::Value;

pub const REGION: &str = "ap-northeast-1";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with moto installed: `DUALSTACK_PYTHON`, else the project's venv.
pub fn python() -> PathBuf {
    std::env::var_os("DUALSTACK_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Start one of the Python servers under tests/emulator on a free port; it
/// prints one line ending in its endpoint.
fn spawn_server(script: &str, args: &[&str]) -> (Child, String) {
    let py = python();
    assert!(py.exists(), "{} not found: run ./scripts/test, which creates the venv with moto", py.display());
    let mut child = Command::new(py)
        .arg(root().join(script))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let endpoint = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(endpoint.starts_with("http://"), "{script} said: {line:?}");
    (child, endpoint)
}

/// A JSON call to a control API (the launcher's or the proxy's).
fn control(addr: &str, method: &str, path: &str, body: &str) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{method} {path}: {head}");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// The fault-injecting proxy (tests/emulator/faultproxy.py) in front of an
/// emulator: the tool talks to the proxy, which forwards to the emulator
/// and throttles, fails, loses answers, holds calls and counts them.
pub struct Proxy {
    child: Child,
    pub endpoint: String,
    addr: String,
}

/// One AWS call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct ProxyCall {
    pub action: String,
    pub mutating: bool,
    /// forwarded, throttled, server_error, not_found, lost_500, dropped, discarded
    pub outcome: String,
    /// The HTTP status the tool got (none when the connection was dropped).
    pub status: Option<u64>,
    /// Forwarded and answered 2xx by the emulator (whether or not the tool
    /// heard the answer).
    pub applied: bool,
}

impl Proxy {
    pub fn start(emu: &Emulator) -> Proxy {
        let (child, endpoint) = spawn_server("tests/emulator/faultproxy.py", &["--upstream", &emu.endpoint]);
        let addr = endpoint.trim_start_matches("http://").to_string();
        Proxy { child, endpoint, addr }
    }

    /// Replace the scenario (see faultproxy.py for its keys).
    pub fn scenario(&self, scenario: Value) {
        control(&self.addr, "POST", "/_proxy/scenario", &scenario.to_string());
    }

    pub fn calls(&self) -> Vec<ProxyCall> {
        control(&self.addr, "GET", "/_proxy/calls", "")["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| ProxyCall {
                action: c["action"].as_str().unwrap_or("?").to_string(),
                mutating: c["mutating"].as_bool().unwrap_or(false),
                outcome: c["outcome"].as_str().unwrap_or("?").to_string(),
                status: c["status"].as_u64(),
                applied: c["applied"].as_bool().unwrap_or(false),
            })
            .collect()
    }

    /// Mutating calls that reached the emulator and were applied, in order
    /// (a lost answer counts: the change happened).
    pub fn applied_mutations(&self) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.mutating && c.applied).map(|c| c.action).collect()
    }

    /// Whether every call that reached the proxy has been answered (or
    /// discarded): a call sent by a process that was then killed is still
    /// forwarded and applied.
    pub fn idle(&self) -> bool {
        self.calls().iter().all(|c| c.outcome != "?")
    }

    pub fn stats(&self) -> Value {
        control(&self.addr, "GET", "/_proxy/stats", "")
    }

    pub fn clear(&self) {
        control(&self.addr, "POST", "/_proxy/calls/clear", "{}");
    }

    pub fn reset(&self) {
        control(&self.addr, "POST", "/_proxy/reset", "{}");
    }

    /// Hold the k-th next mutating call, "before" it is forwarded or "after"
    /// it was applied (its answer held back).
    pub fn hold(&self, k: usize, when: &str) {
        control(&self.addr, "POST", "/_proxy/hold", &serde_json::json!({"mutation": k, "when": when}).to_string());
    }

    pub fn held(&self) -> bool {
        control(&self.addr, "GET", "/_proxy/hold", "")["held"].as_bool().unwrap_or(false)
    }

    /// Let the held call go: an "after" answer is delivered, a "before"
    /// request is discarded, never forwarded.
    pub fn release(&self) {
        control(&self.addr, "POST", "/_proxy/release", "{}");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service as independent describe calls see it.
#[derive(Debug, Clone)]
pub struct EcsServiceView {
    pub name: String,
    pub desired: i32,
    pub running: i32,
    /// (id, status, rolloutState)
    pub deployments: Vec<(String, String, String)>,
    pub target_groups: Vec<String>,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone)]
pub struct TaskView {
    pub arn: String,
    pub status: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub subnet: Option<String>,
}

/// A corrected moto server on a free loopback port, stopped on drop.
pub struct Emulator {
    child: Child,
    pub endpoint: String,
    addr: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Emulator {
        let (child, endpoint) = spawn_server("tests/emulator/launcher.py", args);
        let addr = endpoint.trim_start_matches("http://").to_string();
        Emulator { child, endpoint, addr }
    }

    /// A raw HTTP call to the launcher's control API.
    pub fn control(&self, method: &str, path: &str, body: &str) -> Value {
        control(&self.addr, method, path, body)
    }

    pub fn reset(&self) {
        self.control("POST", "/_emulator/reset", "{}");
    }

    /// Every AWS call seen since the last clear: (action, mutating, status).
    pub fn calls(&self) -> Vec<(String, bool, u64)> {
        self.control("GET", "/_emulator/calls", "")["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["action"].as_str().unwrap_or("?").to_string(), c["mutating"].as_bool().unwrap_or(false), c["status"].as_u64().unwrap_or(0)))
            .collect()
    }

    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.1).map(|c| c.0).collect()
    }

    pub fn clear_calls(&self) {
        self.control("POST", "/_emulator/calls/clear", "{}");
    }

    /// Fail the `nth` next call of `action` with an AWS error, unapplied.
    pub fn fault(&self, action: &str, nth: u32, code: &str, status: u16) {
        let body = serde_json::json!({"action": action, "nth": nth, "code": code, "message": "injected by the test", "status": status, "service": "ec2"});
        self.control("POST", "/_emulator/faults", &body.to_string());
    }

    pub fn clear_faults(&self) {
        self.control("POST", "/_emulator/faults/clear", "{}");
    }

    /// Hold the k-th next mutating call (`when`: "before" or "after" it is applied).
    pub fn hold(&self, k: usize, when: &str) {
        self.control("POST", "/_emulator/hold", &serde_json::json!({"mutation": k, "when": when}).to_string());
    }

    pub fn held(&self) -> bool {
        self.control("GET", "/_emulator/hold", "")["held"].as_bool().unwrap_or(false)
    }

    pub fn release(&self) {
        self.control("POST", "/_emulator/release", "{}");
    }

    /// Build the incident's topology; returns the IDs.
    pub fn seed_incident(&self) -> Value {
        let out = Command::new(python())
            .arg(root().join("tests/fixtures/topology.py"))
            .arg(&self.endpoint)
            .args(["--region", REGION])
            .output()
            .unwrap();
        assert!(out.status.success(), "topology.py: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn elb(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        let conf = aws_sdk_elasticloadbalancingv2::Config::builder()
            .behavior_version(aws_sdk_elasticloadbalancingv2::config::BehaviorVersion::latest())
            .region(aws_sdk_elasticloadbalancingv2::config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_elasticloadbalancingv2::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(conf)
    }

    /// Build the incident's topology with its load balancer half.
    pub fn seed_cutover(&self) -> Value {
        let out = Command::new(python())
            .arg(root().join("tests/fixtures/topology.py"))
            .arg(&self.endpoint)
            .args(["--region", REGION, "--load-balancer"])
            .output()
            .unwrap();
        assert!(out.status.success(), "topology.py: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Build the incident's topology with its ECS workload (`extra`: more
    /// topology.py flags); returns the IDs.
    pub fn seed_ecs(&self, extra: &[&str]) -> Value {
        let out = Command::new(python())
            .arg(root().join("tests/fixtures/topology.py"))
            .arg(&self.endpoint)
            .args(["--region", REGION, "--ecs"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "topology.py: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        let conf = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_ecs::Client::from_conf(conf)
    }

    /// The services of `cluster` as plain describe calls see them (not the
    /// tool's own code): per service, its deployments and its running tasks.
    pub fn ecs_services(&self, cluster: &str) -> Vec<EcsServiceView> {
        runtime().block_on(async {
            let ecs = self.ecs();
            let names = ecs.list_services().cluster(cluster).send().await.unwrap().service_arns().to_vec();
            let described = ecs.describe_services().cluster(cluster).set_services(Some(names)).send().await.unwrap();
            let mut out = Vec::new();
            for s in described.services() {
                let name = s.service_name().unwrap().to_string();
                let arns = ecs
                    .list_tasks()
                    .cluster(cluster)
                    .service_name(&name)
                    .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                    .send()
                    .await
                    .unwrap()
                    .task_arns()
                    .to_vec();
                let mut tasks = Vec::new();
                if !arns.is_empty() {
                    let t = ecs.describe_tasks().cluster(cluster).set_tasks(Some(arns)).send().await.unwrap();
                    for t in t.tasks() {
                        let detail = |n: &str| {
                            t.attachments().iter().flat_map(|a| a.details()).find(|d| d.name() == Some(n)).and_then(|d| d.value()).map(str::to_string)
                        };
                        tasks.push(TaskView {
                            arn: t.task_arn().unwrap().to_string(),
                            status: t.last_status().unwrap_or_default().to_string(),
                            ipv4: detail("privateIPv4Address"),
                            ipv6: detail("ipv6Address"),
                            subnet: detail("subnetId"),
                        });
                    }
                }
                out.push(EcsServiceView {
                    name,
                    desired: s.desired_count(),
                    running: s.running_count(),
                    deployments: s
                        .deployments()
                        .iter()
                        .map(|d| (d.id().unwrap().to_string(), d.status().unwrap_or_default().to_string(), d.rollout_state().map(|r| r.as_str().to_string()).unwrap_or_default()))
                        .collect(),
                    target_groups: s.load_balancers().iter().filter_map(|l| l.target_group_arn().map(str::to_string)).collect(),
                    tasks,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out
        })
    }

    /// Registered targets of a group and their health: `(ip, state)`.
    pub fn targets(&self, group_arn: &str) -> Vec<(String, String)> {
        runtime().block_on(async {
            let h = self.elb().describe_target_health().target_group_arn(group_arn).send().await.unwrap();
            let mut out: Vec<(String, String)> = h
                .target_health_descriptions()
                .iter()
                .map(|d| {
                    (
                        d.target().and_then(|t| t.id()).unwrap_or_default().to_string(),
                        d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                    )
                })
                .collect();
            out.sort();
            out
        })
    }

    /// The caller's effective `dualStackIPv6`.
    pub fn dual_stack_setting(&self) -> String {
        runtime().block_on(async {
            let out = self
                .ecs()
                .list_account_settings()
                .name(aws_sdk_ecs::types::SettingName::from("dualStackIPv6"))
                .effective_settings(true)
                .send()
                .await
                .unwrap();
            out.settings().first().and_then(|s| s.value()).unwrap_or("disabled").to_string()
        })
    }

    /// The incident's topology with its ALB, the custom network ACL
    /// `public-acl` and the hosted zone `example.com` (`redash.example.com`
    /// an A alias of the ALB).
    pub fn seed_users(&self) -> Value {
        let out = Command::new(python())
            .arg(root().join("tests/fixtures/topology.py"))
            .arg(&self.endpoint)
            .args(["--region", REGION, "--load-balancer", "--nacl", "--zone"])
            .output()
            .unwrap();
        assert!(out.status.success(), "topology.py: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn route53(&self) -> aws_sdk_route53::Client {
        let conf = aws_sdk_route53::Config::builder()
            .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
            .region(aws_sdk_route53::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_route53::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_route53::Client::from_conf(conf)
    }

    /// The ACLs' entries and the zones' records, read with plain describe
    /// calls. Left out: the IPv6 entries AWS adds by itself once the VPC has
    /// an IPv6 block (the IPv6 catch-all deny, rule 32768, on every ACL, and
    /// `101 allow ::/0` on a default ACL's untouched direction): they are
    /// AWS's, not a run's, and stay when the block goes.
    pub fn acls_and_zones(&self, vpc: &str) -> Vec<String> {
        runtime().block_on(async {
            let mut out = Vec::new();
            let f = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build();
            let acls = self.ec2().describe_network_acls().filters(f).send().await.unwrap();
            for a in acls.network_acls() {
                let name = a.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or(if a.is_default() == Some(true) { "default" } else { "?" });
                for e in a.entries() {
                    let v6 = e.ipv6_cidr_block().is_some();
                    if v6 && (e.rule_number() == Some(32768) || (a.is_default() == Some(true) && e.rule_number() == Some(101))) {
                        continue;
                    }
                    out.push(format!(
                        "acl {name} {} {} {} {} {} {:?} {:?}",
                        if e.egress() == Some(true) { "egress" } else { "ingress" },
                        e.rule_number().unwrap_or_default(),
                        e.rule_action().map(|r| r.as_str()).unwrap_or("?"),
                        e.protocol().unwrap_or("?"),
                        e.cidr_block().or(e.ipv6_cidr_block()).unwrap_or("?"),
                        e.port_range().map(|p| (p.from(), p.to())),
                        e.icmp_type_code().map(|i| (i.r#type(), i.code())),
                    ));
                }
            }
            let r53 = self.route53();
            for z in r53.list_hosted_zones().send().await.unwrap().hosted_zones() {
                let sets = r53.list_resource_record_sets().hosted_zone_id(z.id()).send().await.unwrap();
                for r in sets.resource_record_sets() {
                    let alias = r.alias_target().map(|a| format!("alias {} {} {}", a.hosted_zone_id(), a.dns_name(), a.evaluate_target_health())).unwrap_or_default();
                    let values: Vec<&str> = r.resource_records().iter().map(|v| v.value()).collect();
                    out.push(format!("record {} {} {:?} {alias} {values:?}", r.name(), r.r#type().as_str(), r.ttl()));
                }
            }
            out.sort();
            out
        })
    }

    /// Set what DescribeTargetHealth reports for every target of a group.
    pub fn target_health(&self, group: &str, state: &str) {
        let body = serde_json::json!({"target_group": group, "target": "*", "state": state});
        self.control("POST", "/_emulator/target-health", &body.to_string());
    }

    /// The listener's default forward action as `name=weight` pairs.
    pub fn listener_weights(&self) -> Vec<String> {
        runtime().block_on(async {
            let elb = self.elb();
            let lbs = elb.describe_load_balancers().send().await.unwrap();
            let Some(lb) = lbs.load_balancers().first() else { return vec![] };
            let ls = elb.describe_listeners().load_balancer_arn(lb.load_balancer_arn().unwrap()).send().await.unwrap();
            let names = tg_names(&elb).await;
            ls.listeners()
                .first()
                .map(|l| forward_weights(l.default_actions(), &names))
                .unwrap_or_default()
        })
    }

    pub fn ec2(&self) -> Client {
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        Client::from_conf(conf)
    }

    /// A canonical, sorted description of every attribute the network steps
    /// can touch in `vpc`, read with plain describe calls. Subnet blocks are
    /// written as their index inside the VPC block, so that two runs whose
    /// Amazon-provided blocks differ compare equal.
    pub fn fingerprint(&self, vpc: &str) -> Vec<String> {
        runtime().block_on(fingerprint(&self.ec2(), &self.elb(), vpc))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn fingerprint(ec2: &Client, elb: &aws_sdk_elasticloadbalancingv2::Client, vpc_id: &str) -> Vec<String> {
    let f = |n: &str, v: &str| aws_sdk_ec2::types::Filter::builder().name(n).values(v).build();
    let mut out = Vec::new();
    let vpc = ec2.describe_vpcs().vpc_ids(vpc_id).send().await.unwrap();
    let vpc = &vpc.vpcs()[0];
    let mut vpc_block: Option<String> = None;
    for a in vpc.ipv6_cidr_block_association_set() {
        let state = a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str().to_string()).unwrap_or_default();
        if state == "disassociated" {
            continue;
        }
        vpc_block = a.ipv6_cidr_block().map(str::to_string);
        out.push(format!("vpc ipv6 /{} {state}", a.ipv6_cidr_block().unwrap_or("").rsplit('/').next().unwrap()));
    }
    let subnets = ec2.describe_subnets().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    for s in subnets.subnets() {
        let name = s.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or("?").to_string();
        let mut blocks = Vec::new();
        for a in s.ipv6_cidr_block_association_set() {
            let state = a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str().to_string()).unwrap_or_default();
            if state == "disassociated" {
                continue;
            }
            let cidr = a.ipv6_cidr_block().unwrap_or("");
            blocks.push(format!("{}:{state}", relative(cidr, vpc_block.as_deref())));
        }
        blocks.sort();
        let dns = s.private_dns_name_options_on_launch();
        out.push(format!(
            "subnet {name} ipv6={blocks:?} assign={} dns64={} aaaa={}",
            s.assign_ipv6_address_on_creation().unwrap_or(false),
            s.enable_dns64().unwrap_or(false),
            dns.and_then(|d| d.enable_resource_name_dns_aaaa_record()).unwrap_or(false)
        ));
    }
    let tables = ec2.describe_route_tables().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    for t in tables.route_tables() {
        let name = t.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or("main").to_string();
        for r in t.routes() {
            let mut dest = r.destination_cidr_block().or(r.destination_ipv6_cidr_block()).unwrap_or("?");
            if Some(dest) == vpc_block.as_deref() {
                dest = "<vpc ipv6 block>";
            }
            let target = r.gateway_id().or(r.egress_only_internet_gateway_id()).or(r.nat_gateway_id()).unwrap_or("?");
            let target = if target.starts_with("eigw-") { "eigw" } else if target.starts_with("igw-") { "igw" } else { target };
            out.push(format!("route {name} {dest} -> {target}"));
        }
    }
    let eigws = ec2.describe_egress_only_internet_gateways().send().await.unwrap();
    for g in eigws.egress_only_internet_gateways() {
        if g.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id)) {
            out.push("egress-only gateway".to_string());
        }
    }
    let groups = ec2.describe_security_groups().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    for g in groups.security_groups() {
        let name = g.group_name().unwrap_or("?");
        for (dir, perms) in [("in", g.ip_permissions()), ("out", g.ip_permissions_egress())] {
            for p in perms {
                let ports = format!("{}:{:?}-{:?}", p.ip_protocol().unwrap_or("?"), p.from_port(), p.to_port());
                for r in p.ip_ranges() {
                    out.push(format!("sg {name} {dir} {ports} {}", r.cidr_ip().unwrap_or("?")));
                }
                for r in p.ipv6_ranges() {
                    out.push(format!("sg {name} {dir} {ports} {}", r.cidr_ipv6().unwrap_or("?")));
                }
                for r in p.user_id_group_pairs() {
                    out.push(format!("sg {name} {dir} {ports} group {}", r.group_id().unwrap_or("?")));
                }
            }
        }
    }
    out.extend(lb_fingerprint(ec2, elb, vpc_id).await);
    out.sort();
    out
}

async fn tg_names(elb: &aws_sdk_elasticloadbalancingv2::Client) -> std::collections::HashMap<String, String> {
    let tgs = elb.describe_target_groups().send().await.unwrap();
    tgs.target_groups().iter().map(|t| (t.target_group_arn().unwrap().to_string(), t.target_group_name().unwrap().to_string())).collect()
}

fn forward_weights(actions: &[aws_sdk_elasticloadbalancingv2::types::Action], names: &std::collections::HashMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for a in actions {
        match a.forward_config() {
            Some(fc) if !fc.target_groups().is_empty() => {
                for t in fc.target_groups() {
                    let arn = t.target_group_arn().unwrap_or("?");
                    out.push(format!("{}={}", names.get(arn).map_or(arn, |s| s.as_str()), t.weight().unwrap_or(1)));
                }
            }
            _ => {
                if let Some(arn) = a.target_group_arn() {
                    out.push(format!("{}=1", names.get(arn).map_or(arn, |s| s.as_str())));
                }
            }
        }
    }
    out.sort();
    out
}

/// Load balancers, listeners, rules, target groups and interface addresses.
async fn lb_fingerprint(ec2: &Client, elb: &aws_sdk_elasticloadbalancingv2::Client, vpc_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let names = tg_names(elb).await;
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    for lb in lbs.load_balancers().iter().filter(|l| l.vpc_id() == Some(vpc_id)) {
        let name = lb.load_balancer_name().unwrap_or("?");
        out.push(format!("lb {name} {} {}", lb.scheme().map(|s| s.as_str()).unwrap_or("?"), lb.ip_address_type().map(|s| s.as_str()).unwrap_or("?")));
        let ls = elb.describe_listeners().load_balancer_arn(lb.load_balancer_arn().unwrap()).send().await.unwrap();
        for l in ls.listeners() {
            let port = l.port().unwrap_or(0);
            out.push(format!("listener {name}:{port} default {:?}", forward_weights(l.default_actions(), &names)));
            let rules = elb.describe_rules().listener_arn(l.listener_arn().unwrap()).send().await.unwrap();
            for r in rules.rules().iter().filter(|r| !r.is_default().unwrap_or(false)) {
                out.push(format!("listener {name}:{port} rule {} {:?}", r.priority().unwrap_or("?"), forward_weights(r.actions(), &names)));
            }
        }
    }
    let tgs = elb.describe_target_groups().send().await.unwrap();
    for t in tgs.target_groups().iter().filter(|t| t.vpc_id() == Some(vpc_id)) {
        let health = elb.describe_target_health().target_group_arn(t.target_group_arn().unwrap()).send().await.unwrap();
        let mut targets: Vec<String> = health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target())
            .map(|x| format!("{}:{}", if x.id().unwrap_or("").contains(':') { "<ipv6>" } else { x.id().unwrap_or("?") }, x.port().unwrap_or(0)))
            .collect();
        targets.sort();
        out.push(format!(
            "target group {} {} {:?}",
            t.target_group_name().unwrap_or("?"),
            t.ip_address_type().map(|s| s.as_str()).unwrap_or("?"),
            targets
        ));
    }
    let f = |n: &str, v: &str| aws_sdk_ec2::types::Filter::builder().name(n).values(v).build();
    let enis = ec2.describe_network_interfaces().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    for n in enis.network_interfaces() {
        if let Some(instance) = n.attachment().and_then(|a| a.instance_id()) {
            out.push(format!("interface of {instance} ipv6 addresses: {}", n.ipv6_addresses().len()));
        }
    }
    out
}

/// A fingerprint comparable across emulators: security-group IDs differ
/// between topologies, their names carry the meaning.
pub fn normalize(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| if l.contains(" group sg-") { l.split(" group ").next().unwrap().to_string() } else { l })
        .map(|l| if l.starts_with("interface of i-") { format!("interface{}", l.split_once(" ipv6").map_or("", |x| x.1)) } else { l })
        .collect()
}

/// A subnet block as `#n` inside the VPC block, or as written.
fn relative(cidr: &str, vpc_block: Option<&str>) -> String {
    let parse = |c: &str| -> Option<(u128, u8)> {
        let (a, p) = c.split_once('/')?;
        Some((u128::from(a.parse::<std::net::Ipv6Addr>().ok()?), p.parse().ok()?))
    };
    match (parse(cidr), vpc_block.and_then(parse)) {
        (Some((a, 64)), Some((v, vp))) if vp < 64 && (a >> (128 - vp)) == (v >> (128 - vp)) => {
            format!("#{}", (a ^ v) >> 64)
        }
        _ => cidr.to_string(),
    }
}

/// A runbook and a state directory in a fresh temporary folder.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace { dir: tempfile::tempdir().unwrap() }
    }

    /// Write a runbook into the workspace; returns its path.
    pub fn runbook(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Copy one of the repo's example runbooks.
    pub fn example(&self, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(root().join("runbooks").join(name)).unwrap();
        self.runbook(name, &text)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join(".dualstack")
    }
}

/// The real binary, pointed at the emulator with dummy credentials.
pub fn dualstack(emu: &Emulator) -> Command {
    dualstack_at(&emu.endpoint)
}

/// The real binary, pointed at the proxy in front of the emulator.
pub fn dualstack_via(proxy: &Proxy) -> Command {
    dualstack_at(&proxy.endpoint)
}

pub fn dualstack_at(endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dualstack"));
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        // The VPC marker's read-back waits for racing runs' tags to land;
        // the tests that race runs on one VPC set it themselves.
        .env("DUALSTACK_MARKER_SETTLE", "0s")
        .stdin(Stdio::null());
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Wait until `cond` holds, polling, or panic after `secs`.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// How many times each action occurs (to compare the calls of two runs).
pub fn action_counts(actions: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for a in actions {
        *m.entry(a.clone()).or_default() += 1;
    }
    m
}

/// gunicorn on [::] and the full cutover runbook pointed at it, with quick
/// gates (50 ms interval, one healthy read).
pub fn cutover_runbook(ws: &Workspace) -> (App, PathBuf) {
    let (app, port) = App::gunicorn("[::]");
    let text = std::fs::read_to_string(root().join("runbooks/incident-cutover.yaml"))
        .unwrap()
        .replace("[::1]:8000/", &format!("[::1]:{port}/"))
        .replace("interval: 1s, healthy_threshold: 2", "interval: 50ms, healthy_threshold: 1");
    (app, ws.runbook("incident-cutover.yaml", &text))
}

/// An application server on loopback, stopped on drop.
pub struct App(Child);

impl App {
    /// gunicorn serving tests/fixtures/app.py on `host` (`0.0.0.0`, `[::]`).
    pub fn gunicorn(host: &str) -> (App, u16) {
        let port = free_port();
        let child = Command::new(python().with_file_name("gunicorn"))
            .args(["--bind", &format!("{host}:{port}"), "--workers", "1", "--chdir"])
            .arg(root().join("tests/fixtures"))
            .arg("app:app")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gunicorn (installed by ./scripts/test)");
        wait_until(30, "gunicorn to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || std::net::TcpStream::connect(("::1", port)).is_ok());
        (App(child), port)
    }

    /// Python's own HTTP server on `bind` (`0.0.0.0`, `::`).
    pub fn http_server(bind: &str) -> (App, u16) {
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "http.server", "--bind", bind, &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until(20, "the server to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || std::net::TcpStream::connect(("::1", port)).is_ok());
        (App(child), port)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every AWS call the emulator saw since the last clear, with its service:
/// (service, action, mutating, status). S3 calls are `s3`.
impl Emulator {
    pub fn service_calls(&self) -> Vec<(String, String, bool, u64)> {
        self.control("GET", "/_emulator/calls", "")["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["service"].as_str().unwrap_or("?").to_string(),
                    c["action"].as_str().unwrap_or("?").to_string(),
                    c["mutating"].as_bool().unwrap_or(false),
                    c["status"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Mutating calls to anything but S3 (the state backend's own writes
    /// left out).
    pub fn aws_mutating_calls(&self) -> Vec<String> {
        self.service_calls().into_iter().filter(|c| c.2 && c.0 != "s3").map(|c| c.1).collect()
    }

    /// Deny IAM actions (`s3:PutObject`, `ec2:CreateRoute`, ...).
    pub fn deny(&self, actions: &[&str]) {
        self.control("POST", "/_emulator/deny", &serde_json::json!({ "actions": actions }).to_string());
    }
}

impl Proxy {
    /// The proxy's call log as it answers it (with `service`, `seq`, ...).
    pub fn calls_json(&self) -> Vec<Value> {
        control(&self.addr, "GET", "/_proxy/calls", "")["calls"].as_array().unwrap().clone()
    }

    /// Mutating calls of `service` that reached the emulator and were applied.
    pub fn applied_of(&self, service: &str) -> Vec<String> {
        self.calls_json()
            .into_iter()
            .filter(|c| c["service"] == service && c["mutating"] == true && c["applied"] == true)
            .map(|c| c["action"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// Let a call held "before" go through: forwarded and answered.
    pub fn release_forward(&self) {
        control(&self.addr, "POST", "/_proxy/release", r#"{"forward": true}"#);
    }
}

/// A dualstack state in the emulator's S3: `s3://BUCKET/PREFIX`, read by the
/// test with plain SDK calls straight at the emulator, and the endpoint the
/// tool sends its S3 calls to (the emulator, or a proxy in front of it).
#[derive(Clone)]
pub struct S3State {
    pub bucket: String,
    pub prefix: String,
    /// Where the test reads S3: the emulator.
    emulator: String,
    /// Where the tool sends its S3 calls (`AWS_ENDPOINT_URL_S3`).
    pub tool_endpoint: String,
}

impl S3State {
    /// The bucket, created, and a prefix in it.
    pub fn create(emu: &Emulator, bucket: &str, prefix: &str) -> S3State {
        let s = S3State::at(emu, bucket, prefix);
        s.create_bucket();
        s
    }

    /// A state URL on a bucket that may not exist.
    pub fn at(emu: &Emulator, bucket: &str, prefix: &str) -> S3State {
        S3State { bucket: bucket.to_string(), prefix: prefix.to_string(), emulator: emu.endpoint.clone(), tool_endpoint: emu.endpoint.clone() }
    }

    /// Another prefix in the same bucket.
    pub fn with_prefix(&self, prefix: &str) -> S3State {
        S3State { prefix: prefix.to_string(), ..self.clone() }
    }

    /// The same state, the tool's S3 calls sent through `proxy`.
    pub fn via(&self, proxy: &Proxy) -> S3State {
        S3State { tool_endpoint: proxy.endpoint.clone(), ..self.clone() }
    }

    /// (Again, after an emulator reset.)
    pub fn create_bucket(&self) {
        runtime().block_on(async {
            let conf = aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build();
            self.client().create_bucket().bucket(&self.bucket).create_bucket_configuration(conf).send().await.unwrap();
        });
    }

    pub fn url(&self) -> String {
        if self.prefix.is_empty() { format!("s3://{}", self.bucket) } else { format!("s3://{}/{}", self.bucket, self.prefix) }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(&self.emulator)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// `PREFIX/<runbook name>`.
    pub fn base(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }

    /// Every key under `prefix` (sorted).
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        runtime().block_on(async {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = self.client().list_objects_v2().bucket(&self.bucket).prefix(prefix).set_continuation_token(token).send().await.unwrap();
                keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
                match page.next_continuation_token() {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
            keys.sort();
            keys
        })
    }

    /// The journal's object keys for the runbook named `name`, in order.
    pub fn journal_keys(&self, name: &str) -> Vec<String> {
        self.keys_under(&format!("{}/journal/", self.base(name)))
    }

    pub fn get(&self, key: &str) -> Option<(Vec<u8>, String)> {
        runtime().block_on(async {
            match self.client().get_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    Some((out.body.collect().await.unwrap().into_bytes().to_vec(), etag))
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => None,
                Err(e) => panic!("GetObject {key}: {e:?}"),
            }
        })
    }

    /// The journal's records, parsed, in order.
    pub fn journal(&self, name: &str) -> Vec<Value> {
        self.journal_keys(name).iter().map(|k| serde_json::from_slice(&self.get(k).unwrap().0).unwrap()).collect()
    }

    /// The journal as one text (one record a line), to search for IDs.
    pub fn journal_text(&self, name: &str) -> String {
        self.journal_keys(name).iter().map(|k| String::from_utf8(self.get(k).unwrap().0).unwrap() + "\n").collect()
    }

    pub fn lock_key(&self, name: &str) -> String {
        format!("{}/lock.json", self.base(name))
    }

    /// The lock object's body and ETag, if there is one.
    pub fn lock(&self, name: &str) -> Option<(Value, String)> {
        self.get(&self.lock_key(name)).map(|(b, e)| (serde_json::from_slice(&b).unwrap(), e))
    }
}

/// One machine's view: its own directory with the runbook, its own HOME and
/// XDG_STATE_HOME, the state shared through S3.
pub struct Machine {
    pub ws: Workspace,
    pub home: tempfile::TempDir,
    /// USER, as the lock names its holder.
    pub user: String,
}

impl Machine {
    pub fn new() -> Machine {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let user = format!("user{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        Machine { ws: Workspace::new(), home: tempfile::tempdir().unwrap(), user }
    }

    /// The runbook's text written into this machine's directory.
    pub fn runbook(&self, name: &str, text: &str) -> PathBuf {
        self.ws.runbook(name, text)
    }

    pub fn xdg_state(&self) -> PathBuf {
        self.home.path().join("xdg-state")
    }

    /// Where this machine's run logs go with S3 state.
    pub fn log_dir(&self) -> PathBuf {
        self.xdg_state().join("dualstack/logs")
    }

    /// The binary with the state in `s3`: EC2/ELBv2 to `endpoint`, S3 to
    /// the state's tool endpoint, this machine's HOME.
    pub fn dualstack(&self, endpoint: &str, s3: &S3State) -> Command {
        let mut c = dualstack_at(endpoint);
        c.env("AWS_ENDPOINT_URL_S3", &s3.tool_endpoint)
            .env("DUALSTACK_STATE", s3.url())
            .env("HOME", self.home.path())
            .env("USER", &self.user)
            .env("XDG_STATE_HOME", self.xdg_state())
            // This machine's own VPC locks (a flock per VPC in its temporary
            // directory).
            .env("DUALSTACK_MACHINE_LOCKS", self.home.path().join("vpc-locks"))
            .env_remove("DUALSTACK_LOCK_TTL")
            .current_dir(self.ws.dir.path());
        c
    }
}
