#!/usr/bin/env python3
"""A large VPC for the benchmark, and the runbook that makes it dual-stack.

What it builds (boto3 straight to the emulator's URL, not through the fault
proxy: seeding is set-up, timed separately and kept out of every figure):

* VPC ``large`` (10.0.0.0/16) with an internet gateway;
* ``subnets`` subnets ``large-s001``... (/26 each, spread over zones a, c, d);
* ``route_tables`` route tables ``large-rt01``... each with 0.0.0.0/0 to the
  gateway, the subnets associated round-robin;
* ``groups`` security groups ``large-sg001``... each with one IPv4-open
  ingress rule (tcp 80 for the first ``load_balancers`` groups, which the
  ALBs use, tcp 8000+i for the others, from 0.0.0.0/0) besides AWS's default
  egress rule (all traffic to 0.0.0.0/0), so ``mirror_open_ipv4`` adds two
  IPv6 twins per group;
* ``load_balancers`` internet-facing ALBs ``large-lb01``... each in two
  subnets of different zones with one of the groups, an HTTP:80 listener
  forwarding to two ip target groups ``large-lbNN-a`` (weight 100) and
  ``large-lbNN-b`` (weight 0), HTTP:80, no targets registered (so no backend
  instances are needed and target health is vacuously healthy).

The runbook (`runbook`) has the shape of the incident's, at this scale:
``vpc_ipv6_cidr``; ``subnet_ipv6`` over the subnets with ``index`` 1, 2, ...
and both flags; ``ipv6_default_route`` over every route table via the
internet gateway; ``security_group_ipv6`` over every group with
``mirror_open_ipv4``; one ``load_balancer_ip_type`` step per ALB; one
``target_group_ipv6`` step per listener (idle side first, shift 10/50/100,
bake 0s).

An Amazon-provided VPC block is a /56, which holds /64 number 0 to 255 only,
so at most 255 subnets can get ``index`` 1..n; `runbook(..., literal=True)`
writes index 1..subnets regardless (what the benchmark's brief asked for) so
that the benchmark can record what the tool says about it. With more than 255
subnets the normal runbook gives the first 255 a block and leaves the others
IPv4-only (still read by ``plan``, as they would be in a real account).

Usage: large_vpc.py ENDPOINT_URL [--subnets 300 --route-tables 30 --groups 200
--load-balancers 20] [--runbook FILE] prints the seeding time and writes the
runbook.
"""

from __future__ import annotations

import argparse
import ipaddress
import time
from dataclasses import dataclass

import boto3

REGION = "ap-northeast-1"
ZONES = ("a", "c", "d")
MAX_INDEX = 255  # /64 numbers in an Amazon-provided /56: 0..255


@dataclass
class Sizes:
    subnets: int = 300
    route_tables: int = 30
    groups: int = 200
    load_balancers: int = 20

    @property
    def target_groups(self) -> int:
        return 2 * self.load_balancers

    @property
    def resources(self) -> int:
        """What `plan` has to look at: subnets + route tables + groups + LBs + TGs."""
        return self.subnets + self.route_tables + self.groups + self.load_balancers + self.target_groups


def subnet_name(i: int) -> str:
    return f"large-s{i + 1:03d}"


def seed(endpoint: str, sizes: Sizes, name: str = "large") -> dict:
    """Build the VPC; returns counts and the seconds it took."""
    if sizes.load_balancers * 2 > min(sizes.subnets, MAX_INDEX):
        raise ValueError("each load balancer needs two subnets with an IPv6 block")
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    ec2, elb = boto3.client("ec2", **kw), boto3.client("elbv2", **kw)
    t0 = time.perf_counter()

    def tags(kind, value):
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": value}]}]

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags("vpc", name))["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway(TagSpecifications=tags("internet-gateway", f"{name}-igw"))["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    base = ipaddress.IPv4Network("10.0.0.0/16")
    blocks = base.subnets(new_prefix=26)
    subnets = []
    for i in range(sizes.subnets):
        sid = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=str(next(blocks)),
            AvailabilityZone=f"{REGION}{ZONES[i % len(ZONES)]}",
            TagSpecifications=tags("subnet", subnet_name(i)),
        )["Subnet"]["SubnetId"]
        subnets.append(sid)

    tables = []
    for j in range(sizes.route_tables):
        rtb = ec2.create_route_table(VpcId=vpc, TagSpecifications=tags("route-table", f"{name}-rt{j + 1:02d}"))["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        tables.append(rtb)
    if tables:
        for i, sid in enumerate(subnets):
            ec2.associate_route_table(RouteTableId=tables[i % len(tables)], SubnetId=sid)

    groups = []
    for g in range(sizes.groups):
        gname = f"{name}-sg{g + 1:03d}"
        gid = ec2.create_security_group(GroupName=gname, Description=gname, VpcId=vpc, TagSpecifications=tags("security-group", gname))["GroupId"]
        port = 80 if g < sizes.load_balancers else 8000 + g  # the ALBs' groups open their listener port
        ec2.authorize_security_group_ingress(
            GroupId=gid, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        groups.append(gid)

    for k in range(sizes.load_balancers):
        lb_name = f"{name}-lb{k + 1:02d}"
        lb = elb.create_load_balancer(
            Name=lb_name,
            Subnets=[subnets[2 * k], subnets[2 * k + 1]],
            SecurityGroups=[groups[k % len(groups)]] if groups else [],
            Scheme="internet-facing",
            Type="application",
        )["LoadBalancers"][0]["LoadBalancerArn"]
        arns = []
        for side in ("a", "b"):
            arns.append(
                elb.create_target_group(
                    Name=f"{lb_name}-{side}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip", HealthCheckPath="/ping"
                )["TargetGroups"][0]["TargetGroupArn"]
            )
        forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": arns[0], "Weight": 100}, {"TargetGroupArn": arns[1], "Weight": 0}]}}
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[forward])

    return {"vpc": vpc, "seconds": time.perf_counter() - t0}


def runbook(sizes: Sizes, name: str = "large", literal: bool = False) -> str:
    """The runbook for `seed`'s VPC (see the module docstring)."""
    with_block = sizes.subnets if literal else min(sizes.subnets, MAX_INDEX)
    lines = [
        "# Generated by bench/large_vpc.py: the incident's migration at scale.",
        "version: 1",
        f"name: {name}-vpc",
        f"region: {REGION}",
        f"vpc: {name}",
        "steps:",
        "  - id: vpc-ipv6",
        "    vpc_ipv6_cidr: {}",
        "  - id: subnets",
        "    subnet_ipv6:",
        "      subnets:",
    ]
    lines += [f"        - {{ subnet: {subnet_name(i)}, index: {i + 1} }}" for i in range(with_block)]
    lines += [
        "      assign_ipv6_on_creation: true",
        "      dns64: false",
        "      aaaa_records_on_launch: true",
    ]
    if sizes.route_tables:
        lines += [
            "  - id: routes",
            "    ipv6_default_route:",
            f"      route_tables: [{', '.join(f'{name}-rt{j + 1:02d}' for j in range(sizes.route_tables))}]",
            "      via: internet_gateway",
        ]
    if sizes.groups:
        lines += [
            "  - id: security-groups",
            "    security_group_ipv6:",
            f"      groups: [{', '.join(f'{name}-sg{g + 1:03d}' for g in range(sizes.groups))}]",
            "      mirror_open_ipv4: true",
        ]
    for k in range(sizes.load_balancers):
        lines += [
            f"  - id: lb{k + 1:02d}",
            f"    load_balancer_ip_type: {{ load_balancer: {name}-lb{k + 1:02d}, ip_address_type: dualstack }}",
        ]
    for k in range(sizes.load_balancers):
        lb = f"{name}-lb{k + 1:02d}"
        lines += [
            f"  - id: tg{k + 1:02d}",
            "    target_group_ipv6:",
            f'      listener: "{lb}:80"',
            f"      target_groups: [{lb}-b, {lb}-a]",
            "      shift: [10, 50, 100]",
            "      bake: 0s",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("endpoint")
    p.add_argument("--subnets", type=int, default=300)
    p.add_argument("--route-tables", type=int, default=30)
    p.add_argument("--groups", type=int, default=200)
    p.add_argument("--load-balancers", type=int, default=20)
    p.add_argument("--runbook", default="large-vpc.yaml")
    a = p.parse_args()
    sizes = Sizes(a.subnets, a.route_tables, a.groups, a.load_balancers)
    out = seed(a.endpoint, sizes)
    with open(a.runbook, "w") as f:
        f.write(runbook(sizes))
    print(f"seeded {out['vpc']} in {out['seconds']:.1f}s; runbook {a.runbook}")


if __name__ == "__main__":
    main()
