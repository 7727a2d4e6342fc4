//! Permissions in the rehearsal: the least-privilege IAM policy a runbook
//! needs (`plan --iam-policy`), and its EC2 calls sent with `DryRun`
//! (`plan --check-permissions`), which AWS answers `DryRunOperation` when
//! the caller may make the call and `UnauthorizedOperation` when not,
//! applying nothing.
//!
//! Not every call can be rehearsed: AssociateVpcCidrBlock,
//! AssociateSubnetCidrBlock, ModifySubnetAttribute, AssignIpv6Addresses and
//! their undo have no
//! `DryRun` parameter, and ELBv2 and ECS have no dry run at all. Those are reported as
//! such (the policy still lists them), never sent.

use serde::Serialize;

use crate::aws::{AwsError, Ec2};
use crate::engine::events::{Event, EventSink};
use crate::plan::Plan;
use crate::runbook::Runbook;
use crate::steps::StepCx;

/// EC2 actions a runbook makes that have no `DryRun` parameter.
pub const NO_DRY_RUN: &[&str] = &[
    "ec2:AssociateVpcCidrBlock",
    "ec2:DisassociateVpcCidrBlock",
    "ec2:AssociateSubnetCidrBlock",
    "ec2:DisassociateSubnetCidrBlock",
    "ec2:ModifySubnetAttribute",
    "ec2:AssignIpv6Addresses",
    "ec2:UnassignIpv6Addresses",
];

/// What every run reads (plan, apply, verify, gates), whatever its steps.
pub const READS: &[&str] = &[
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeEgressOnlyInternetGateways",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeNetworkInterfaces",
    // The run's marker on its VPC.
    "ec2:DescribeTags",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "ecs:ListAccountSettings",
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
    "route53:ListHostedZones",
    "route53:ListResourceRecordSets",
    "route53:GetChange",
];

/// The IAM policy document for exactly the actions `rb` needs: its steps'
/// changes and their undo, and the reads. Resources are `*`: most of these
/// EC2 and ELBv2 actions cannot be narrowed to one VPC by resource ARN alone.
pub fn iam_policy(rb: &Runbook, state: &crate::state::StateUrl) -> serde_json::Value {
    let mut writes: Vec<&str> = rb.steps.iter().flat_map(|s| s.spec.step().iam_actions()).collect();
    writes.sort();
    writes.dedup();
    let mut statements = vec![serde_json::json!({ "Sid": "ReadState", "Effect": "Allow", "Action": READS, "Resource": "*" })];
    for (sid, service) in [("Ec2Changes", "ec2:"), ("LoadBalancerChanges", "elasticloadbalancing:"), ("EcsChanges", "ecs:"), ("DnsChanges", "route53:")] {
        let actions: Vec<&str> = writes.iter().copied().filter(|a| a.starts_with(service)).collect();
        if !actions.is_empty() {
            statements.push(serde_json::json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*" }));
        }
    }
    // The marker: only its two tags, only on VPCs.
    statements.push(serde_json::json!({
        "Sid": "RunMarker",
        "Effect": "Allow",
        "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
        "Resource": "arn:aws:ec2:*:*:vpc/*",
        "Condition": { "ForAllValues:StringEquals": { "aws:TagKeys": [crate::engine::marker::RUN_TAG, crate::engine::marker::STATE_TAG] } }
    }));
    if let crate::state::StateUrl::S3 { bucket, prefix } = state {
        let base = if prefix.is_empty() { rb.name.clone() } else { format!("{prefix}/{}", rb.name) };
        statements.push(serde_json::json!({
            "Sid": "StateObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/{base}/*")
        }));
        statements.push(serde_json::json!({
            "Sid": "StateList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": format!("arn:aws:s3:::{bucket}"),
            "Condition": { "StringLike": { "s3:prefix": format!("{base}/*") } }
        }));
    }
    serde_json::json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The rehearsal's answer for one action.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// AWS answered `DryRunOperation`.
    Allowed,
    /// AWS answered `UnauthorizedOperation` (or another access error).
    Denied { code: String, message: String },
    /// The API has no dry run; not sent.
    NoDryRun,
    /// Sent, but AWS answered something else (an argument that names a
    /// resource the run creates first, say).
    Unchecked { reason: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct Permission {
    pub action: String,
    /// The first change of the plan that makes this call.
    pub example: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

struct Quiet;
impl EventSink for Quiet {
    fn emit(&self, _: Event) {}
}

fn classify(e: &AwsError) -> Verdict {
    match e.code() {
        "DryRunOperation" => Verdict::Allowed,
        AwsError::NO_DRY_RUN => Verdict::NoDryRun,
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => Verdict::Denied { code: e.code().to_string(), message: e.message.clone() },
        _ => Verdict::Unchecked { reason: e.to_string() },
    }
}

/// Send each distinct EC2 call of `plan` once, through `dry_ec2` (a client
/// whose mutating calls carry `DryRun`). ELBv2 calls are listed, not sent.
pub async fn rehearse(plan: &Plan, dry_ec2: &dyn Ec2, aws: crate::aws::Aws<'_>, vpc_id: &str) -> Vec<Permission> {
    let mut out: Vec<Permission> = Vec::new();
    let waiter = crate::aws::wait::Waiter::default();
    for step in &plan.steps {
        for change in &step.calls {
            let d = change.describe();
            if out.iter().any(|p| p.action == d.call) {
                continue;
            }
            let example = format!("{}: {}", d.resource, d.attribute);
            if !d.call.starts_with("ec2:") || NO_DRY_RUN.contains(&d.call) {
                out.push(Permission { action: d.call.to_string(), example, verdict: Verdict::NoDryRun });
                continue;
            }
            let cx = StepCx { ec2: dry_ec2, elb: aws.elb, ecs: aws.ecs, dns: aws.dns, events: &Quiet, step: &step.step, vpc_id, run_id: "rehearsal", waiter: &waiter };
            let verdict = match change.apply(&cx).await {
                // A dry run never succeeds: AWS answers with an error either way.
                Ok(_) => Verdict::Unchecked { reason: "AWS applied nothing and answered without DryRunOperation".into() },
                Err(crate::steps::StepError::Aws(e)) => classify(&e),
                Err(other) => Verdict::Unchecked { reason: other.to_string() },
            };
            out.push(Permission { action: d.call.to_string(), example, verdict });
        }
    }
    if plan.change_count() > 0 {
        // The run's marker, set before its first change (its removal is a
        // DeleteTags of the same tags: granted with it in --iam-policy).
        let tags = [(crate::engine::marker::RUN_TAG.to_string(), "rehearsal".to_string()), (crate::engine::marker::STATE_TAG.to_string(), "rehearsal".to_string())];
        let verdict = match dry_ec2.tag_vpc(vpc_id, &tags).await {
            Ok(()) => Verdict::Unchecked { reason: "AWS applied nothing and answered without DryRunOperation".into() },
            Err(e) => classify(&e),
        };
        out.push(Permission { action: "ec2:CreateTags".into(), example: format!("{vpc_id}: the run's marker"), verdict });
    }
    out
}

pub fn render_text(perms: &[Permission]) -> String {
    let mut out = String::from("\nPermissions (EC2 calls sent with DryRun; nothing applied)\n");
    for p in perms {
        let v = match &p.verdict {
            Verdict::Allowed => "allowed".to_string(),
            Verdict::Denied { code, message } => format!("DENIED ({code}: {message})"),
            Verdict::NoDryRun => "not rehearsable (the API has no DryRun): grant it as in --iam-policy".to_string(),
            Verdict::Unchecked { reason } => format!("not checked: {reason}"),
        };
        out.push_str(&format!("  {:<50} {v}\n", p.action));
    }
    out
}
