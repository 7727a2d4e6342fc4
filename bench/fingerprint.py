"""A canonical fingerprint of everything the dual-stack migration touches in one VPC.

Used by the benchmark to prove that the hand-written AWS CLI script
(bench/incident-awscli.sh) really does what `dualstack apply` does: after
each run the emulator's state is read with plain boto3 describe calls
(straight to the emulator, not through the fault proxy, and not with the
tool's own code) and reduced to a sorted list of lines; the two lists must
be equal.

Identifiers and the random parts of addresses are left out so that two runs
on two freshly seeded topologies compare equal:

* the VPC's IPv6 block is written as ``/56 <state>``; a subnet block as
  ``#n:<state>``, n being its /64 number inside the VPC block;
* a route to the VPC's own IPv6 block is ``<vpc ipv6 block>``, gateway IDs as
  their kind (``igw``, ``eigw``);
* a security-group rule that references a group names the group;
* load balancers, listeners, rules and target groups by name (listener
  ``<lb>:<port>``, rule by priority), forward weights as ``<group>=<weight>``;
* target groups with their protocol, port, target type and health check
  settings (so a copy that forgot one shows), targets as ``<ipv6>:<port>`` or
  their IPv4 address, and each backend
  interface by how many IPv6 addresses it has.

It mirrors the fingerprint of the Rust tests (tests/support/mod.rs), which
this module does not import.
"""

from __future__ import annotations

import ipaddress

import boto3


def clients(endpoint: str, region: str = "ap-northeast-1"):
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("ec2", **kw), boto3.client("elbv2", **kw)


def _pages(client, op: str, key: str, **kw) -> list:
    if client.can_paginate(op):
        out = []
        for page in client.get_paginator(op).paginate(**kw):
            out.extend(page.get(key, []))
        return out
    return getattr(client, op)(**kw).get(key, [])


def _name(tags) -> str | None:
    for t in tags or []:
        if t.get("Key") == "Name":
            return t.get("Value")
    return None


def _relative(cidr: str, vpc_block: str | None) -> str:
    """A subnet /64 as `#n` inside the VPC block, else as written."""
    try:
        net = ipaddress.IPv6Network(cidr)
        vpc = ipaddress.IPv6Network(vpc_block) if vpc_block else None
    except ValueError:
        return cidr
    if vpc is not None and net.prefixlen == 64 and net.subnet_of(vpc):
        return f"#{(int(net.network_address) - int(vpc.network_address)) >> 64}"
    return cidr


def _forward(actions, names: dict[str, str]) -> list[str]:
    out = []
    for a in actions or []:
        groups = (a.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            for g in groups:
                out.append(f"{names.get(g['TargetGroupArn'], g['TargetGroupArn'])}={g.get('Weight', 1)}")
        elif a.get("TargetGroupArn"):
            out.append(f"{names.get(a['TargetGroupArn'], a['TargetGroupArn'])}=1")
    return sorted(out)


def fingerprint(endpoint: str, vpc_name: str = "redash", region: str = "ap-northeast-1") -> list[str]:
    """The sorted canonical lines describing VPC `vpc_name` (its Name tag)."""
    ec2, elb = clients(endpoint, region)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [vpc_name]}])["Vpcs"]
    if len(vpcs) != 1:
        raise RuntimeError(f"expected one VPC named {vpc_name}, found {len(vpcs)}")
    vpc = vpcs[0]
    vpc_id = vpc["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    out: list[str] = []

    vpc_block = None
    for a in vpc.get("Ipv6CidrBlockAssociationSet", []):
        state = (a.get("Ipv6CidrBlockState") or {}).get("State", "")
        if state == "disassociated":
            continue
        vpc_block = a.get("Ipv6CidrBlock")
        out.append(f"vpc ipv6 /{(vpc_block or '').rsplit('/', 1)[-1]} {state}")

    for s in _pages(ec2, "describe_subnets", "Subnets", Filters=in_vpc):
        blocks = sorted(
            f"{_relative(a.get('Ipv6CidrBlock', ''), vpc_block)}:{(a.get('Ipv6CidrBlockState') or {}).get('State', '')}"
            for a in s.get("Ipv6CidrBlockAssociationSet", [])
            if (a.get("Ipv6CidrBlockState") or {}).get("State") != "disassociated"
        )
        dns = s.get("PrivateDnsNameOptionsOnLaunch") or {}
        out.append(
            f"subnet {_name(s.get('Tags')) or '?'} ipv6={blocks} assign={bool(s.get('AssignIpv6AddressOnCreation'))} "
            f"dns64={bool(s.get('EnableDns64'))} aaaa={bool(dns.get('EnableResourceNameDnsAAAARecord'))}"
        )

    for t in _pages(ec2, "describe_route_tables", "RouteTables", Filters=in_vpc):
        name = _name(t.get("Tags")) or "main"
        for r in t.get("Routes", []):
            dest = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") or "?"
            if dest == vpc_block:
                dest = "<vpc ipv6 block>"
            target = r.get("GatewayId") or r.get("EgressOnlyInternetGatewayId") or r.get("NatGatewayId") or "?"
            target = "eigw" if target.startswith("eigw-") else "igw" if target.startswith("igw-") else target
            out.append(f"route {name} {dest} -> {target}")

    for g in ec2.describe_egress_only_internet_gateways().get("EgressOnlyInternetGateways", []):
        if any(a.get("VpcId") == vpc_id for a in g.get("Attachments", [])):
            out.append("egress-only gateway")

    groups = _pages(ec2, "describe_security_groups", "SecurityGroups", Filters=in_vpc)
    group_names = {g["GroupId"]: g["GroupName"] for g in groups}
    for g in groups:
        for direction, perms in (("in", g.get("IpPermissions", [])), ("out", g.get("IpPermissionsEgress", []))):
            for p in perms:
                ports = f"{p.get('IpProtocol')}:{p.get('FromPort')}-{p.get('ToPort')}"
                for r in p.get("IpRanges", []):
                    out.append(f"sg {g['GroupName']} {direction} {ports} {r.get('CidrIp')}")
                for r in p.get("Ipv6Ranges", []):
                    out.append(f"sg {g['GroupName']} {direction} {ports} {r.get('CidrIpv6')}")
                for r in p.get("UserIdGroupPairs", []):
                    out.append(f"sg {g['GroupName']} {direction} {ports} group {group_names.get(r.get('GroupId'), '?')}")

    tgs = _pages(elb, "describe_target_groups", "TargetGroups")
    names = {t["TargetGroupArn"]: t["TargetGroupName"] for t in tgs}
    for lb in _pages(elb, "describe_load_balancers", "LoadBalancers"):
        if lb.get("VpcId") != vpc_id:
            continue
        name = lb["LoadBalancerName"]
        out.append(f"lb {name} {lb.get('Scheme', '?')} {lb.get('IpAddressType', '?')}")
        for listener in _pages(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]):
            port = listener.get("Port")
            out.append(f"listener {name}:{port} default {_forward(listener.get('DefaultActions'), names)}")
            for rule in _pages(elb, "describe_rules", "Rules", ListenerArn=listener["ListenerArn"]):
                if rule.get("IsDefault"):
                    continue
                out.append(f"listener {name}:{port} rule {rule.get('Priority')} {_forward(rule.get('Actions'), names)}")
    for t in tgs:
        if t.get("VpcId") != vpc_id:
            continue
        health = elb.describe_target_health(TargetGroupArn=t["TargetGroupArn"])["TargetHealthDescriptions"]
        targets = sorted(
            f"{'<ipv6>' if ':' in d['Target']['Id'] else d['Target']['Id']}:{d['Target'].get('Port', 0)}" for d in health
        )
        settings = (
            f"{t.get('Protocol')}:{t.get('Port')} {t.get('TargetType')} "
            f"check={t.get('HealthCheckProtocol')}:{t.get('HealthCheckPort')}{t.get('HealthCheckPath', '')} "
            f"{t.get('HealthCheckIntervalSeconds')}s/{t.get('HealthCheckTimeoutSeconds')}s "
            f"{t.get('HealthyThresholdCount')}/{t.get('UnhealthyThresholdCount')} {(t.get('Matcher') or {}).get('HttpCode')}"
        )
        out.append(f"target group {t['TargetGroupName']} {t.get('IpAddressType', '?')} {settings} {targets}")

    for n in _pages(ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=in_vpc):
        if (n.get("Attachment") or {}).get("InstanceId"):
            out.append(f"interface ipv6 addresses: {len(n.get('Ipv6Addresses', []))}")
    return sorted(out)


def listener_weights(endpoint: str, region: str = "ap-northeast-1") -> list[str]:
    """The first load balancer's first listener's default forward as `name=weight`."""
    _, elb = clients(endpoint, region)
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    if not lbs:
        return []
    listeners = elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    if not listeners:
        return []
    names = {t["TargetGroupArn"]: t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]}
    return _forward(listeners[0].get("DefaultActions"), names)


def diff(a: list[str], b: list[str]) -> list[str]:
    """Lines only in a (`-`) or only in b (`+`)."""
    from collections import Counter

    ca, cb = Counter(a), Counter(b)
    return [f"- {x}" for x in sorted((ca - cb).elements())] + [f"+ {x}" for x in sorted((cb - ca).elements())]


if __name__ == "__main__":
    import sys

    for line in fingerprint(sys.argv[1], *(sys.argv[2:3] or [])):
        print(line)
