"""Tests for correction n of the emulator launcher (network ACLs, Route 53,
ELBv2 hosted zones; launcher.py section n, dns_nacl_model.py).

As in test_corrections.py, each departure is tested twice: against the
corrected launcher, asserting AWS's documented behaviour, and against the same
launcher with --pristine, asserting that plain moto departs from it. What moto
already gets right is checked on both (the ``either`` fixture). One corrected
and one pristine launcher run per module; every test starts from
POST /_emulator/reset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from typing import Any

import boto3
import pytest
from botocore.config import Config

from test_corrections import (  # the shared harness and its fixtures
    Emulator,
    assert_error,
    aws,
    code_of,
    corrected_server,
    either,
    error_of,
    moto,
    new_subnet,
    new_vpc,
    pristine_server,
    status_of,
)

ALB_ZONE = "Z35SXDOTRQ7X7K"  # us-east-1, application load balancers
NLB_ZONE = "Z26RNL4JYFTOTI"  # us-east-1, network load balancers
MOTO_ZONE = "Z2P70J7EXAMPLE"  # moto's placeholder


# The launchers and their fixtures are test_corrections.py's (imported above).


def regional(emu: Emulator, service: str, region: str) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=emu.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


# ---------------------------------------------------------------------------
# Network ACL helpers
# ---------------------------------------------------------------------------


def default_acl(ec2: Any, vpc_id: str) -> str:
    (acl,) = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["true"]}]
    )["NetworkAcls"]
    return acl["NetworkAclId"]


def acl_of(ec2: Any, acl_id: str) -> dict[str, Any]:
    return ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]


def entries(ec2: Any, acl_id: str) -> list[tuple[str, int, str, str]]:
    """(direction, rule number, action, CIDR) in the order DescribeNetworkAcls lists them."""
    return [
        ("out" if e["Egress"] else "in", e["RuleNumber"], e["RuleAction"], e.get("CidrBlock") or e.get("Ipv6CidrBlock"))
        for e in acl_of(ec2, acl_id)["Entries"]
    ]


V4_DEFAULTS = [("out", 100, "allow", "0.0.0.0/0"), ("out", 32767, "deny", "0.0.0.0/0")]
V4_DEFAULTS_IN = [("in", 100, "allow", "0.0.0.0/0"), ("in", 32767, "deny", "0.0.0.0/0")]


def entry(ec2: Any, acl_id: str, number: int, egress: bool = False, **kwargs: Any) -> Any:
    kwargs.setdefault("Protocol", "-1")
    kwargs.setdefault("RuleAction", "allow")
    if "CidrBlock" not in kwargs and "Ipv6CidrBlock" not in kwargs:
        kwargs["CidrBlock"] = "0.0.0.0/0"
    return ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number, Egress=egress, **kwargs)


def ipv4_only_vpc(emu: Emulator) -> tuple[str, str, str]:
    """(vpc_id, default ACL, a custom ACL), no IPv6 block yet."""
    vpc_id, _ = new_vpc(emu.ec2, ipv6=False)
    custom = emu.ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    return vpc_id, default_acl(emu.ec2, vpc_id), custom


# ---------------------------------------------------------------------------
# n. Network ACLs: AWS's default entries
# ---------------------------------------------------------------------------


def test_n_ipv6_block_adds_ipv6_defaults_where_a_direction_is_untouched(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id, acl, custom = ipv4_only_vpc(aws)
    assert entries(ec2, acl) == V4_DEFAULTS + V4_DEFAULTS_IN
    # AWS: a custom ACL denies everything until entries are added.
    assert entries(ec2, custom) == [("out", 32767, "deny", "0.0.0.0/0"), ("in", 32767, "deny", "0.0.0.0/0")]

    # Modify ingress (and put it back as it was): the direction stays "modified".
    entry(ec2, acl, 50, Protocol="6", PortRange={"From": 22, "To": 22}, RuleAction="deny")
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Egress=False)
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)

    assert entries(ec2, acl) == [
        ("out", 100, "allow", "0.0.0.0/0"),
        ("out", 101, "allow", "::/0"),
        ("out", 32767, "deny", "0.0.0.0/0"),
        ("out", 32768, "deny", "::/0"),
        ("in", 100, "allow", "0.0.0.0/0"),
        ("in", 32767, "deny", "0.0.0.0/0"),
        ("in", 32768, "deny", "::/0"),
    ]
    # Custom ACLs get the IPv6 catch-all deny, never an allow.
    assert entries(ec2, custom) == [
        ("out", 32767, "deny", "0.0.0.0/0"),
        ("out", 32768, "deny", "::/0"),
        ("in", 32767, "deny", "0.0.0.0/0"),
        ("in", 32768, "deny", "::/0"),
    ]
    later = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]
    assert [(e["Egress"], e["RuleNumber"]) for e in later["Entries"]] == [
        (True, 32767),
        (True, 32768),
        (False, 32767),
        (False, 32768),
    ]


def test_n_vpc_created_with_ipv6_starts_with_both_families(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    acl = acl_of(ec2, default_acl(ec2, vpc_id))
    assert acl["IsDefault"] is True
    assert entries(ec2, acl["NetworkAclId"]) == [
        ("out", 100, "allow", "0.0.0.0/0"),
        ("out", 101, "allow", "::/0"),
        ("out", 32767, "deny", "0.0.0.0/0"),
        ("out", 32768, "deny", "::/0"),
        ("in", 100, "allow", "0.0.0.0/0"),
        ("in", 101, "allow", "::/0"),
        ("in", 32767, "deny", "0.0.0.0/0"),
        ("in", 32768, "deny", "::/0"),
    ]
    ipv6 = [e for e in acl["Entries"] if e["RuleNumber"] == 101]
    assert all("CidrBlock" not in e and e["Protocol"] == "-1" for e in ipv6)


def test_n_pristine_acls_get_no_ipv6_entries_and_custom_ones_none(moto: Emulator) -> None:
    ec2 = moto.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    assert sorted(entries(ec2, default_acl(ec2, vpc_id))) == sorted(V4_DEFAULTS + V4_DEFAULTS_IN)
    custom = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]
    assert custom["Entries"] == []


# ---------------------------------------------------------------------------
# n. Network ACLs: rendering
# ---------------------------------------------------------------------------


def rendering_setup(emu: Emulator) -> tuple[str, str, str]:
    ec2 = emu.ec2
    vpc_id, _ = new_vpc(ec2)
    subnet_id, _ = new_subnet(ec2, vpc_id, "10.0.1.0/24")
    acl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    (current,) = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])[
        "NetworkAcls"
    ]
    (assoc,) = [a for a in current["Associations"] if a["SubnetId"] == subnet_id]
    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl)
    entry(ec2, acl, 10, Protocol="1", IcmpTypeCode={"Type": 8, "Code": -1})
    entry(ec2, acl, 11, Protocol="58", Ipv6CidrBlock="::/0", IcmpTypeCode={"Type": 128, "Code": 0})
    entry(ec2, acl, 20, Protocol="tcp", PortRange={"From": 443, "To": 443}, CidrBlock="10.1.2.3/16")
    entry(ec2, acl, 30, Protocol="17", PortRange={"From": 1024, "To": 65535}, Ipv6CidrBlock="2001:DB8:0::/32")
    return vpc_id, subnet_id, acl


def user_entries(ec2: Any, acl: str) -> dict[int, dict[str, Any]]:
    return {e["RuleNumber"]: e for e in acl_of(ec2, acl)["Entries"] if e["RuleNumber"] < 32767}


def test_n_entries_render_as_aws(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id, subnet_id, acl = rendering_setup(aws)
    described = acl_of(ec2, acl)
    assert described["IsDefault"] is False and described["VpcId"] == vpc_id
    assert [a["SubnetId"] for a in described["Associations"]] == [subnet_id]
    got = user_entries(ec2, acl)
    assert got[10] == {
        "CidrBlock": "0.0.0.0/0",
        "Egress": False,
        "IcmpTypeCode": {"Code": -1, "Type": 8},
        "Protocol": "1",
        "RuleAction": "allow",
        "RuleNumber": 10,
    }
    assert got[11] == {
        "Egress": False,
        "IcmpTypeCode": {"Code": 0, "Type": 128},
        "Ipv6CidrBlock": "::/0",
        "Protocol": "58",
        "RuleAction": "allow",
        "RuleNumber": 11,
    }
    assert (got[20]["Protocol"], got[20]["CidrBlock"], got[20]["PortRange"]) == ("6", "10.1.0.0/16", {"From": 443, "To": 443})
    assert (got[30]["Protocol"], got[30]["Ipv6CidrBlock"]) == ("17", "2001:db8::/32")
    assert "CidrBlock" not in got[30] and "IcmpTypeCode" not in got[30]
    found = ec2.describe_network_acls(Filters=[{"Name": "entry.ipv6-cidr", "Values": ["2001:db8::/32"]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in found] == [acl]


def test_n_pristine_drops_icmp_and_keeps_protocol_names(moto: Emulator) -> None:
    _, _, acl = rendering_setup(moto)
    got = user_entries(moto.ec2, acl)
    assert "IcmpTypeCode" not in got[10] and "IcmpTypeCode" not in got[11]
    assert got[20]["Protocol"] == "tcp" and got[20]["CidrBlock"] == "10.1.2.3/16"


# ---------------------------------------------------------------------------
# n. Network ACLs: entry calls
# ---------------------------------------------------------------------------


def test_n_numbers_are_shared_by_both_families_per_direction(either: Emulator) -> None:
    ec2 = either.ec2
    _, _, acl = ipv4_only_vpc(either)
    entry(ec2, acl, 100)
    err = assert_error("NetworkAclEntryAlreadyExists", entry, ec2, acl, 100, Ipv6CidrBlock="::/0")
    assert "100" in err.response["Error"]["Message"]
    entry(ec2, acl, 100, egress=True, Ipv6CidrBlock="::/0")  # the other direction has its own numbers


def test_n_missing_entries_are_not_found(aws: Emulator) -> None:
    ec2 = aws.ec2
    _, _, acl = ipv4_only_vpc(aws)
    entry(ec2, acl, 100)
    assert_error("InvalidNetworkAclEntry.NotFound", ec2.delete_network_acl_entry, NetworkAclId=acl, RuleNumber=100, Egress=True)
    assert_error(
        "InvalidNetworkAclEntry.NotFound",
        ec2.replace_network_acl_entry,
        NetworkAclId=acl,
        RuleNumber=110,
        Egress=False,
        Protocol="-1",
        RuleAction="deny",
        CidrBlock="0.0.0.0/0",
    )
    ec2.replace_network_acl_entry(
        NetworkAclId=acl, RuleNumber=100, Egress=False, Protocol="-1", RuleAction="deny", Ipv6CidrBlock="::/0"
    )
    assert user_entries(ec2, acl)[100]["Ipv6CidrBlock"] == "::/0"
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False)
    assert user_entries(ec2, acl) == {}


def test_n_pristine_missing_entries_are_a_500(moto: Emulator) -> None:
    _, _, acl = ipv4_only_vpc(moto)
    with pytest.raises(Exception):  # StopIteration: an HTML 500 botocore cannot parse
        moto.ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=True)
    assert moto.control("GET", "calls")["calls"][-1]["status"] == 500


BAD_ENTRIES = [
    ("InvalidParameterValue", dict(RuleNumber=0)),
    ("InvalidParameterValue", dict(RuleNumber=32767)),
    ("InvalidParameterValue", dict(RuleNumber=40000)),
    ("InvalidParameterCombination", dict(CidrBlock="0.0.0.0/0", Ipv6CidrBlock="::/0")),
    ("MissingParameter", dict(CidrBlock=None)),
    ("MissingParameter", dict(Protocol="58", CidrBlock=None, Ipv6CidrBlock="::/0")),
    ("MissingParameter", dict(Protocol="1")),
    ("InvalidParameterValue", dict(CidrBlock="10.0.0.0/33")),
    ("InvalidParameterValue", dict(Protocol="bogus")),
]


def bad_entry(ec2: Any, acl: str, number: int, **change: Any) -> Any:
    kwargs: dict[str, Any] = {
        "NetworkAclId": acl,
        "RuleNumber": number,
        "Egress": False,
        "Protocol": "-1",
        "RuleAction": "allow",
        "CidrBlock": "0.0.0.0/0",
        **change,
    }
    return ec2.create_network_acl_entry(**{k: v for k, v in kwargs.items() if v is not None})


def test_n_entry_parameters_are_checked(aws: Emulator) -> None:
    ec2 = aws.ec2
    _, _, acl = ipv4_only_vpc(aws)
    for number, (code, change) in enumerate(BAD_ENTRIES, start=1):
        err = assert_error(code, bad_entry, ec2, acl, number, **change)
        if change.get("Protocol") in ("1", "58"):
            assert err.response["Error"]["Message"] == "The request must contain the parameter icmpTypeCode.type"
    assert user_entries(ec2, acl) == {}
    assert_error("InvalidParameterValue", ec2.delete_network_acl_entry, NetworkAclId=acl, RuleNumber=32767, Egress=False)
    assert_error(
        "InvalidNetworkAclID.NotFound", entry, ec2, "acl-00000000000000000", 10
    )


def test_n_pristine_accepts_bad_entries(moto: Emulator) -> None:
    ec2 = moto.ec2
    _, _, acl = ipv4_only_vpc(moto)
    for number, (_, change) in enumerate(BAD_ENTRIES[:7], start=1):
        bad_entry(ec2, acl, number, **change)  # the out-of-range numbers too


def test_n_entry_quota_per_direction_and_family(aws: Emulator) -> None:
    ec2 = aws.ec2
    _, acl, _ = ipv4_only_vpc(aws)  # the default ACL: 100 and * per direction
    assert aws.control("GET", "nacl-config") == {"entry_quota": 20}
    for number in range(1, 19):  # 100, the * deny and 18 more: 20
        entry(ec2, acl, number)
    err = assert_error("NetworkAclEntryLimitExceeded", entry, ec2, acl, 19)
    assert "maximum number of network acl entries" in err.response["Error"]["Message"]
    entry(ec2, acl, 19, Ipv6CidrBlock="::/0")  # IPv6 counts apart
    entry(ec2, acl, 19, egress=True)  # egress too
    # A replace within the family is no new entry; moving one to a full family is.
    ec2.replace_network_acl_entry(NetworkAclId=acl, RuleNumber=1, Egress=False, Protocol="-1", RuleAction="deny", CidrBlock="10.0.0.0/8")
    assert aws.control("POST", "nacl-config", {"entry_quota": 2}) == {"entry_quota": 2}
    assert_error(
        "NetworkAclEntryLimitExceeded",
        ec2.replace_network_acl_entry,
        NetworkAclId=acl,
        RuleNumber=1,
        Egress=False,
        Protocol="-1",
        RuleAction="allow",
        Ipv6CidrBlock="::/0",
    )
    aws.control("POST", "reset")
    assert aws.control("GET", "nacl-config") == {"entry_quota": 20}


def test_n_pristine_has_no_entry_quota(moto: Emulator) -> None:
    _, acl, _ = ipv4_only_vpc(moto)
    for number in range(1, 26):
        entry(moto.ec2, acl, number)


# ---------------------------------------------------------------------------
# n. ELBv2 hosted zones
# ---------------------------------------------------------------------------


def balancer(emu: Emulator, region: str, name: str, kind: str = "application") -> dict[str, Any]:
    ec2, elbv2 = regional(emu, "ec2", region), regional(emu, "elbv2", region)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "c"))
    ]
    return elbv2.create_load_balancer(Name=name, Subnets=subnets, Type=kind)["LoadBalancers"][0]


def test_n_load_balancers_report_aws_hosted_zones(aws: Emulator) -> None:
    for region, alb, nlb in [
        ("us-east-1", ALB_ZONE, NLB_ZONE),
        ("us-west-2", "Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
        ("eu-west-1", "Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
        ("ap-northeast-1", "Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
    ]:
        app = balancer(aws, region, "app")
        net = balancer(aws, region, "net", "network")
        assert (app["CanonicalHostedZoneId"], net["CanonicalHostedZoneId"]) == (alb, nlb), region
        assert app["DNSName"] == f"app-1.{region}.elb.amazonaws.com"
        described = regional(aws, "elbv2", region).describe_load_balancers(LoadBalancerArns=[app["LoadBalancerArn"]])
        assert described["LoadBalancers"][0]["CanonicalHostedZoneId"] == alb
    # A region not in the table: a deterministic id of AWS's shape.
    first = balancer(aws, "ap-southeast-3", "one")["CanonicalHostedZoneId"]
    assert balancer(aws, "ap-southeast-3", "two")["CanonicalHostedZoneId"] == first
    assert first.startswith("Z") and len(first) == 14 and first.isalnum() and first != MOTO_ZONE


def test_n_pristine_load_balancers_report_a_placeholder_zone(moto: Emulator) -> None:
    assert balancer(moto, "us-east-1", "app")["CanonicalHostedZoneId"] == MOTO_ZONE
    assert balancer(moto, "us-east-1", "net", "network")["CanonicalHostedZoneId"] == MOTO_ZONE


# ---------------------------------------------------------------------------
# n. Route 53
# ---------------------------------------------------------------------------


def zone(emu: Emulator, name: str = "example.com") -> str:
    return emu.client("route53").create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]


def change(emu: Emulator, zone_id: str, *changes: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    batch = {"Changes": [{"Action": action, "ResourceRecordSet": rrs} for action, rrs in changes]}
    return emu.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)["ChangeInfo"]


def records(emu: Emulator, zone_id: str) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    listed = emu.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {(r["Name"], r["Type"], r.get("SetIdentifier")): r for r in listed}


WWW = {"Name": "www.example.com", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}


def alias_to(lb: dict[str, Any], name: str = "redash.example.com", rtype: str = "A", **target: Any) -> dict[str, Any]:
    alias = {"HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": "dualstack." + lb["DNSName"], "EvaluateTargetHealth": True}
    alias.update(target)
    return {"Name": name, "Type": rtype, "AliasTarget": alias}


def test_n_route53_create_and_delete_must_match(aws: Emulator) -> None:
    zone_id = zone(aws)
    change(aws, zone_id, ("CREATE", WWW))
    for other in (WWW, dict(WWW, ResourceRecords=[{"Value": "192.0.2.11"}]), dict(WWW, Name="WWW.Example.COM.")):
        err = assert_error("InvalidChangeBatch", change, aws, zone_id, ("CREATE", other))
        assert "[name='www.example.com.', type='A'] but it already exists" in err.response["Error"]["Message"]
    weighted = {"Name": "w.example.com", "Type": "A", "SetIdentifier": "blue", "Weight": 100, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    change(aws, zone_id, ("CREATE", weighted), ("CREATE", dict(weighted, SetIdentifier="green", Weight=0)))
    err = assert_error("InvalidChangeBatch", change, aws, zone_id, ("CREATE", weighted))
    assert "set-identifier='blue'" in err.response["Error"]["Message"]

    for wrong in (dict(WWW, TTL=60), dict(WWW, ResourceRecords=[{"Value": "192.0.2.99"}]), dict(weighted, Weight=5)):
        err = assert_error("InvalidChangeBatch", change, aws, zone_id, ("DELETE", wrong))
        assert "but the values provided do not match the current values" in err.response["Error"]["Message"]
    err = assert_error("InvalidChangeBatch", change, aws, zone_id, ("DELETE", dict(WWW, Name="nope.example.com")))
    assert err.response["Error"]["Message"] == (
        "Tried to delete resource record set [name='nope.example.com.', type='A'] but it was not found"
    )
    # A batch is one transaction: its good first change is not applied either.
    assert_error("InvalidChangeBatch", change, aws, zone_id, ("DELETE", weighted), ("CREATE", WWW))
    assert ("w.example.com.", "A", "blue") in records(aws, zone_id)
    change(aws, zone_id, ("DELETE", weighted), ("DELETE", dict(WWW, Name="www.EXAMPLE.com.")))
    assert set(records(aws, zone_id)) == {
        ("example.com.", "NS", None),
        ("example.com.", "SOA", None),
        ("w.example.com.", "A", "green"),
    }
    err = assert_error("InvalidChangeBatch", change, aws, zone_id, ("CREATE", dict(WWW, Name="www.example.org")))
    assert "is not permitted in zone example.com." in err.response["Error"]["Message"]


def test_n_route53_alias_rules(aws: Emulator) -> None:
    lb = balancer(aws, "us-east-1", "redash")
    zone_id = zone(aws)
    err = assert_error("InvalidInput", change, aws, zone_id, ("CREATE", dict(alias_to(lb), TTL=60)))
    assert "but found more than one in Change with [Action=CREATE, Name=redash.example.com., Type=A" in err.response["Error"]["Message"]
    err = assert_error("InvalidChangeBatch", change, aws, zone_id, ("CREATE", alias_to(lb, HostedZoneId="Z1H1FL5HABSF5")))
    assert err.response["Error"]["Message"] == (
        f"Tried to create an alias that targets dualstack.{lb['DNSName']}., type A in zone Z1H1FL5HABSF5, "
        "but the alias target name does not lie within the target zone"
    )
    assert_error("InvalidChangeBatch", change, aws, zone_id, ("UPSERT", alias_to(lb, rtype="AAAA", HostedZoneId=NLB_ZONE)))
    # The load balancer's own zone: with or without dualstack., any case, trailing dot or not.
    change(
        aws,
        zone_id,
        ("CREATE", alias_to(lb)),
        ("CREATE", alias_to(lb, rtype="AAAA", DNSName="DualStack." + lb["DNSName"].upper() + ".")),
        ("CREATE", alias_to(lb, name="plain.example.com", DNSName=lb["DNSName"], EvaluateTargetHealth=False)),
        # not a load balancer of the account: accepted unchecked
        ("CREATE", alias_to(lb, name="cdn.example.com", HostedZoneId="Z2FDTNDATAQYW2", DNSName="d111111abcdef8.cloudfront.net")),
    )
    listed = records(aws, zone_id)
    assert listed[("redash.example.com.", "AAAA", None)]["AliasTarget"] == {
        "HostedZoneId": ALB_ZONE,
        "DNSName": f"dualstack.{lb['DNSName']}.",
        "EvaluateTargetHealth": True,
    }
    assert "TTL" not in listed[("redash.example.com.", "A", None)]
    err = assert_error(
        "InvalidChangeBatch", change, aws, zone_id, ("DELETE", alias_to(lb, EvaluateTargetHealth=False))
    )
    assert "do not match" in err.response["Error"]["Message"]
    change(aws, zone_id, ("DELETE", alias_to(lb, DNSName="dualstack." + lb["DNSName"] + ".")))
    assert ("redash.example.com.", "A", None) not in records(aws, zone_id)


def test_n_pristine_route53_departures(moto: Emulator) -> None:
    lb = balancer(moto, "us-east-1", "redash")
    zone_id = zone(moto)
    change(moto, zone_id, ("CREATE", WWW))
    info = change(moto, zone_id, ("CREATE", dict(WWW, ResourceRecords=[{"Value": "192.0.2.11"}])))  # a duplicate
    assert info["Status"] == "INSYNC"
    assert moto.client("route53").get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    assert moto.client("route53").get_change(Id="C0000000000NEVERISSUED")["ChangeInfo"]["Status"] == "INSYNC"
    change(moto, zone_id, ("CREATE", dict(alias_to(lb, name="ttl.example.com"), TTL=60)))  # TTL with an alias
    change(moto, zone_id, ("CREATE", alias_to(lb, HostedZoneId="Z1H1FL5HABSF5")))  # a zone not the balancer's
    change(moto, zone_id, ("DELETE", alias_to(lb, EvaluateTargetHealth=False)))  # values not matching
    err = assert_error("InvalidInput", change, moto, zone_id, ("DELETE", dict(WWW, TTL=60)))
    assert "found none" in err.response["Error"]["Message"]
    listed = moto.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [r["Name"] for r in listed].count("www.example.com.") == 2
    assert not [r for r in listed if r["Name"] == "redash.example.com."]
    (alias,) = [r for r in listed if r["Name"] == "ttl.example.com."]
    assert alias["AliasTarget"]["DNSName"] == "dualstack." + lb["DNSName"]  # no trailing dot
    (soa,) = [r for r in listed if r["Type"] == "SOA"]
    assert soa["ResourceRecords"][0]["Value"].startswith("{'Value': ")  # a Python repr
    upper = zone(moto, "Upper.Example.com")
    err = assert_error("InvalidChangeBatch", change, moto, upper, ("CREATE", dict(WWW, Name="www.upper.example.com")))
    assert "is not permitted in zone Upper.Example.com." in err.response["Error"]["Message"]


def test_n_route53_names_and_records_render_as_aws(aws: Emulator) -> None:
    client = aws.client("route53")
    created = client.create_hosted_zone(Name="Upper.Example.com", CallerReference="upper")
    assert created["HostedZone"]["Name"] == "upper.example.com."
    zone_id = created["HostedZone"]["Id"]
    weighted = {"Name": "*.Upper.Example.com", "Type": "A", "SetIdentifier": "blue", "Weight": 100, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    change(aws, zone_id, ("CREATE", dict(WWW, Name="WWW.upper.example.com")), ("CREATE", weighted))
    listed = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [(r["Name"], r["Type"]) for r in listed] == [
        ("upper.example.com.", "NS"),
        ("upper.example.com.", "SOA"),
        ("\\052.upper.example.com.", "A"),
        ("www.upper.example.com.", "A"),
    ]
    ns, soa, star, _ = listed
    servers = client.get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"]
    assert [v["Value"] for v in ns["ResourceRecords"]] == [s + "." for s in servers]
    assert soa["ResourceRecords"] == [{"Value": f"{servers[0]}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}]
    assert (star["SetIdentifier"], star["Weight"], star["TTL"]) == ("blue", 100, 60)


def test_n_route53_changes_are_pending_then_insync(aws: Emulator) -> None:
    client = aws.client("route53")
    created = client.create_hosted_zone(Name="example.com", CallerReference="c")
    assert created["ChangeInfo"]["Status"] == "PENDING"
    zone_id = created["HostedZone"]["Id"]
    info = change(aws, zone_id, ("CREATE", WWW))
    assert info["Status"] == "PENDING" and info["Id"].startswith("/change/C") and len(info["Id"]) == 28
    assert info["Id"] != created["ChangeInfo"]["Id"]
    assert [client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] for _ in range(3)] == ["PENDING", "INSYNC", "INSYNC"]

    assert aws.control("POST", "dns-config", {"pending_change_reads": 2}) == {"pending_change_reads": 2}
    info = change(aws, zone_id, ("UPSERT", dict(WWW, TTL=60)))
    assert [client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] for _ in range(3)] == ["PENDING", "PENDING", "INSYNC"]
    aws.control("POST", "dns-config", {"pending_change_reads": 0})
    info = change(aws, zone_id, ("DELETE", dict(WWW, TTL=60)))
    assert info["Status"] == "PENDING"
    assert client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"

    err = error_of(client.get_change, Id="C0000000000NEVERISSUED")
    assert (code_of(err), status_of(err)) == ("NoSuchChange", 404)
    aws.control("POST", "reset")
    assert aws.control("GET", "dns-config") == {"pending_change_reads": 1}
    err = error_of(client.get_change, Id=info["Id"])  # reset forgets the changes
    assert code_of(err) == "NoSuchChange"


def test_n_route53_calls_are_logged_by_action(aws: Emulator) -> None:
    zone_id = zone(aws)
    aws.control("POST", "calls/clear")
    info = change(aws, zone_id, ("CREATE", WWW))
    aws.client("route53").get_change(Id=info["Id"])
    calls = aws.control("GET", "calls")["calls"]
    assert [(c["service"], c["action"], c["mutating"]) for c in calls] == [
        ("route53", "ChangeResourceRecordSets", True),
        ("route53", "GetChange", False),
    ]


# ---------------------------------------------------------------------------
# Control endpoints and flags of correction n
# ---------------------------------------------------------------------------


def test_n_control_endpoints(aws: Emulator, moto: Emulator) -> None:
    for method, path, body, status in [
        ("POST", "nacl-config", {"entry_quota": 0}, 400),
        ("POST", "nacl-config", {"entry_quota": "20"}, 400),
        ("POST", "nacl-config", {"quota": 20}, 400),
        ("POST", "dns-config", {"pending_change_reads": -1}, 400),
        ("POST", "dns-config", {"pending_reads": 1}, 400),
        ("DELETE", "dns-config", None, 405),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            aws.control(method, path, body)
        assert info.value.code == status, (method, path, body)
    for path in ("nacl-config", "dns-config"):
        with pytest.raises(urllib.error.HTTPError) as info:
            moto.control("GET", path)
        assert info.value.code == 409
    # /_emulator/config keeps its fixed answer.
    assert aws.control("GET", "config") == {"pristine": False, "associating_reads": 1, "initial_health_reads": 1}


def test_n_command_line_flags() -> None:
    emulator = Emulator("--nacl-entry-quota", "3", "--change-pending-reads", "0")
    try:
        assert emulator.control("GET", "nacl-config") == {"entry_quota": 3}
        assert emulator.control("POST", "dns-config", {"pending_change_reads": 4}) == {"pending_change_reads": 4}
        emulator.control("POST", "reset")
        assert emulator.control("GET", "dns-config") == {"pending_change_reads": 0}
        _, acl, _ = ipv4_only_vpc(emulator)  # 100 and *: one more fits
        entry(emulator.ec2, acl, 1)
        assert_error("NetworkAclEntryLimitExceeded", entry, emulator.ec2, acl, 2)
        zone_id = zone(emulator)
        info = change(emulator, zone_id, ("CREATE", WWW))
        assert emulator.client("route53").get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    finally:
        assert emulator.stop() == 0


# ---------------------------------------------------------------------------
# The topology fixture's --nacl and --zone
# ---------------------------------------------------------------------------


def test_topology_fixture_nacl_and_zone(aws: Emulator) -> None:
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "topology.py")
    region = "ap-northeast-1"
    run = subprocess.run(
        [sys.executable, script, aws.url, "--region", region, "--load-balancer", "--nacl", "--zone"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    ids = json.loads(run.stdout)
    ec2 = regional(aws, "ec2", region)
    acl = ec2.describe_network_acls(NetworkAclIds=[ids["nacl"]])["NetworkAcls"][0]
    assert {t["Key"]: t["Value"] for t in acl["Tags"]} == {"Name": "public-acl"}
    assert sorted(a["SubnetId"] for a in acl["Associations"]) == sorted(ids["subnets"].values())
    assert [
        (e["Egress"], e["RuleNumber"], e["Protocol"], e.get("PortRange"), e.get("IcmpTypeCode"))
        for e in acl["Entries"]
        if e["RuleNumber"] < 32767
    ] == [
        (True, 100, "-1", None, None),
        (False, 100, "6", {"From": 80, "To": 80}, None),
        (False, 110, "6", {"From": 443, "To": 443}, None),
        (False, 120, "6", {"From": 1024, "To": 65535}, None),
        (False, 130, "1", None, {"Code": -1, "Type": 8}),
    ]
    listed = records(aws, ids["zone"])
    assert listed[("redash.example.com.", "A", None)]["AliasTarget"] == {
        "HostedZoneId": "Z14GRHDCWA56QT",
        "DNSName": f"dualstack.redash-1.{region}.elb.amazonaws.com.",
        "EvaluateTargetHealth": True,
    }
    assert listed[("www.example.com.", "A", None)]["ResourceRecords"] == [{"Value": "192.0.2.10"}]
    refused = subprocess.run([sys.executable, script, aws.url, "--zone"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--zone needs --load-balancer or --ecs" in refused.stderr
