"""Tests for the dualstack emulator launcher (tests/emulator/launcher.py).

Each correction a-i is tested twice: against the corrected launcher, asserting
AWS's documented behaviour, and against the same launcher with --pristine,
asserting that plain moto departs from it. If a correction were removed, its
first test would fail; if moto fixed the departure upstream, the second would
fail and tell us the correction can go. The control endpoints (calls log,
faults, hold, reset, config) are tested too.

One corrected and one pristine launcher run per module (subprocesses on
loopback, --port 0, ready line parsed); every test starts from
POST /_emulator/reset.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")
READY = re.compile(r"^dualstack-emulator listening on http://127\.0\.0\.1:(\d+)$")
REGION = "us-east-1"


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------


class Emulator:
    """A launcher subprocess plus boto3 clients and control-API helpers."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, LAUNCHER, "--host", "127.0.0.1", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # never let an undrained pipe block the server
            text=True,
        )
        # Don't hang forever if the launcher dies before printing its line.
        watchdog = threading.Timer(30, self.proc.kill)
        watchdog.start()
        try:
            self.ready_line = self.proc.stdout.readline().rstrip("\n")
        finally:
            watchdog.cancel()
        match = READY.match(self.ready_line)
        assert match, f"unexpected ready line: {self.ready_line!r}"
        self.url = f"http://127.0.0.1:{match.group(1)}"
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                region_name=REGION,
                endpoint_url=self.url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                # No SDK retries: injected 500s and released holds must surface as-is.
                config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
            )
        return self._clients[service]

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def elbv2(self) -> Any:
        return self.client("elbv2")

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def corrected_server() -> Any:
    emulator = Emulator()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def pristine_server() -> Any:
    emulator = Emulator("--pristine")
    yield emulator
    emulator.stop()


@pytest.fixture
def aws(corrected_server: Emulator) -> Emulator:
    corrected_server.control("POST", "reset")
    return corrected_server


@pytest.fixture
def moto(pristine_server: Emulator) -> Emulator:
    pristine_server.control("POST", "reset")
    return pristine_server


@pytest.fixture(params=["corrected", "pristine"])
def either(request: Any) -> Emulator:
    """For behaviour moto already gets right: checked on both."""
    name = "aws" if request.param == "corrected" else "moto"
    return request.getfixturevalue(name)


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value


def code_of(err: ClientError) -> str:
    return err.response["Error"]["Code"]


def status_of(err: ClientError) -> int:
    return err.response["ResponseMetadata"]["HTTPStatusCode"]


def assert_error(code: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> ClientError:
    err = error_of(call, *args, **kwargs)
    assert code_of(err) == code, err
    assert status_of(err) == 400
    return err


# -- EC2 scenario helpers ----------------------------------------------------


def vpc_ipv6(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    return ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0].get("Ipv6CidrBlockAssociationSet", [])


def subnet_of(ec2: Any, subnet_id: str) -> dict[str, Any]:
    return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]


def subnet_ipv6(ec2: Any, subnet_id: str) -> list[dict[str, Any]]:
    return subnet_of(ec2, subnet_id).get("Ipv6CidrBlockAssociationSet", [])


def wait_state(read: Callable[[], list[dict[str, Any]]], state: str, reads: int = 10) -> None:
    """What the tool's waiter does: poll until the only association has `state`."""
    for _ in range(reads):
        if [a["Ipv6CidrBlockState"]["State"] for a in read()] == [state]:
            return
    raise AssertionError(f"never saw {state}")


def new_vpc(ec2: Any, cidr: str = "10.0.0.0/16", ipv6: bool = True, wait: bool = True) -> tuple[str, str | None]:
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    if not ipv6:
        return vpc_id, None
    block = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)[
        "Ipv6CidrBlockAssociation"
    ]["Ipv6CidrBlock"]
    if wait:
        wait_state(lambda: vpc_ipv6(ec2, vpc_id), "associated")
    return vpc_id, block


def sixty_four(vpc_block: str, index: int) -> str:
    return str(list(ipaddress.ip_network(vpc_block).subnets(new_prefix=64))[index])


def new_subnet(
    ec2: Any,
    vpc_id: str,
    cidr: str,
    vpc_block: str | None = None,
    index: int = 0,
    wait: bool = True,
    az: str = "us-east-1a",
) -> tuple[str, str | None]:
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
    if vpc_block is None:
        return subnet_id, None
    association_id = ec2.associate_subnet_cidr_block(
        SubnetId=subnet_id, Ipv6CidrBlock=sixty_four(vpc_block, index)
    )["Ipv6CidrBlockAssociation"]["AssociationId"]
    if wait:
        wait_state(lambda: subnet_ipv6(ec2, subnet_id), "associated")
    return subnet_id, association_id


def dual_stack_subnet(emu: Emulator, wait: bool = True) -> tuple[str, str, str, str]:
    """(vpc_id, vpc_block, subnet_id, subnet_association_id)."""
    vpc_id, block = new_vpc(emu.ec2)
    subnet_id, association_id = new_subnet(emu.ec2, vpc_id, "10.0.1.0/24", block, wait=wait)
    return vpc_id, block, subnet_id, association_id


# ---------------------------------------------------------------------------
# a. IPv6 association rendering
# ---------------------------------------------------------------------------


def test_a_subnet_association_state_is_a_plain_string(aws: Emulator) -> None:
    _, block, subnet_id, association_id = dual_stack_subnet(aws)
    (association,) = subnet_ipv6(aws.ec2, subnet_id)
    assert association["AssociationId"] == association_id
    assert association["AssociationId"].startswith("subnet-cidr-assoc-")
    assert association["Ipv6CidrBlock"] == sixty_four(block, 0)
    assert association["Ipv6CidrBlockState"]["State"] == "associated"


def test_a_pristine_renders_subnet_state_as_python_repr(moto: Emulator) -> None:
    _, _, subnet_id, _ = dual_stack_subnet(moto, wait=False)
    (association,) = subnet_ipv6(moto.ec2, subnet_id)
    assert association["Ipv6CidrBlockState"]["State"] == "{'State': 'associated'}"


def test_a_vpc_block_is_an_amazon_slash_56_with_border_group(aws: Emulator) -> None:
    vpc_id = aws.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    answer = aws.ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    for association in (answer["Ipv6CidrBlockAssociation"], vpc_ipv6(aws.ec2, vpc_id)[0]):
        block = association["Ipv6CidrBlock"]
        assert ipaddress.ip_network(block).prefixlen == 56
        assert str(ipaddress.ip_network(block)) == block  # canonical text form
        assert association["Ipv6Pool"] == "Amazon"
        assert association["NetworkBorderGroup"] == REGION
        assert association["AssociationId"].startswith("vpc-cidr-assoc-")


def test_a_pristine_vpc_association_lacks_border_group(moto: Emulator) -> None:
    vpc_id = moto.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    answer = moto.ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    assert "NetworkBorderGroup" not in answer["Ipv6CidrBlockAssociation"]
    assert "NetworkBorderGroup" not in vpc_ipv6(moto.ec2, vpc_id)[0]


def test_a_subnet_ipv6_filters(aws: Emulator) -> None:
    vpc_id, block, subnet_id, association_id = dual_stack_subnet(aws)
    new_subnet(aws.ec2, vpc_id, "10.0.2.0/24")  # IPv4-only sibling
    for name, value in [
        ("ipv6-cidr-block-association.ipv6-cidr-block", sixty_four(block, 0)),
        ("ipv6-cidr-block-association.association-id", association_id),
        ("ipv6-cidr-block-association.state", "associated"),
    ]:
        found = aws.ec2.describe_subnets(Filters=[{"Name": name, "Values": [value]}])["Subnets"]
        assert [s["SubnetId"] for s in found] == [subnet_id], name


def test_a_pristine_lacks_subnet_ipv6_filters(moto: Emulator) -> None:
    dual_stack_subnet(moto, wait=False)
    # moto raises FilterNotImplementedError: an HTML 500 page botocore cannot parse.
    with pytest.raises(Exception):
        moto.ec2.describe_subnets(
            Filters=[{"Name": "ipv6-cidr-block-association.state", "Values": ["associated"]}]
        )
    assert moto.control("GET", "calls")["calls"][-1]["status"] == 500


def test_a_subnet_block_must_be_a_free_64_of_the_vpc(aws: Emulator) -> None:
    vpc_id, block, _, _ = dual_stack_subnet(aws)
    other, _ = new_subnet(aws.ec2, vpc_id, "10.0.2.0/24")
    taken = sixty_four(block, 0)
    outside = "2001:db8::/64"
    too_small = str(ipaddress.ip_network(sixty_four(block, 5)).subnets(new_prefix=80).__next__())
    assert_error("InvalidSubnet.Conflict", aws.ec2.associate_subnet_cidr_block, SubnetId=other, Ipv6CidrBlock=taken)
    assert_error("InvalidSubnet.Range", aws.ec2.associate_subnet_cidr_block, SubnetId=other, Ipv6CidrBlock=outside)
    assert_error("InvalidSubnet.Range", aws.ec2.associate_subnet_cidr_block, SubnetId=other, Ipv6CidrBlock=too_small)
    aws.ec2.associate_subnet_cidr_block(SubnetId=other, Ipv6CidrBlock=sixty_four(block, 1))
    # a single IPv6 block per subnet
    assert_error(
        "InvalidParameterValue", aws.ec2.associate_subnet_cidr_block, SubnetId=other, Ipv6CidrBlock=sixty_four(block, 2)
    )


def test_a_pristine_accepts_any_subnet_block(moto: Emulator) -> None:
    vpc_id, block, _, _ = dual_stack_subnet(moto, wait=False)
    other, _ = new_subnet(moto.ec2, vpc_id, "10.0.2.0/24")
    moto.ec2.associate_subnet_cidr_block(SubnetId=other, Ipv6CidrBlock=sixty_four(block, 0))
    moto.ec2.associate_subnet_cidr_block(SubnetId=other, Ipv6CidrBlock="2001:db8::/64")
    assert len(subnet_ipv6(moto.ec2, other)) == 2  # two blocks on one subnet


# ---------------------------------------------------------------------------
# b. Asynchronous association and disassociation
# ---------------------------------------------------------------------------


def states(associations: list[dict[str, Any]]) -> list[str]:
    return [a["Ipv6CidrBlockState"]["State"] for a in associations]


def test_b_associations_go_through_associating(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    answer = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "associating"
    assert states(vpc_ipv6(ec2, vpc_id)) == ["associating"]  # first read (N=1)
    assert states(vpc_ipv6(ec2, vpc_id)) == ["associated"]
    block = answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"]

    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    answer = ec2.associate_subnet_cidr_block(SubnetId=subnet_id, Ipv6CidrBlock=sixty_four(block, 0))
    association_id = answer["Ipv6CidrBlockAssociation"]["AssociationId"]
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "associating"
    # A read that does not include the subnet does not count.
    ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": ["vpc-00000000000000000"]}])
    assert states(subnet_ipv6(ec2, subnet_id)) == ["associating"]
    assert states(subnet_ipv6(ec2, subnet_id)) == ["associated"]

    answer = ec2.disassociate_subnet_cidr_block(AssociationId=association_id)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert answer["SubnetId"] == subnet_id
    assert states(subnet_ipv6(ec2, subnet_id)) == ["disassociating"]
    # a blind retry (e.g. after a lost response) finds nothing to disassociate
    assert_error(
        "InvalidSubnetCidrBlockAssociationID.NotFound",
        ec2.disassociate_subnet_cidr_block,
        AssociationId=association_id,
    )
    assert subnet_ipv6(ec2, subnet_id) == []

    vpc_association_id = vpc_ipv6(ec2, vpc_id)[0]["AssociationId"]
    answer = ec2.disassociate_vpc_cidr_block(AssociationId=vpc_association_id)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert states(vpc_ipv6(ec2, vpc_id)) == ["disassociating"]
    error_of(ec2.disassociate_vpc_cidr_block, AssociationId=vpc_association_id)
    assert vpc_ipv6(ec2, vpc_id) == []


def test_b_create_calls_with_ipv6_also_start_associating(aws: Emulator) -> None:
    vpc = aws.ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    assert states(vpc["Ipv6CidrBlockAssociationSet"]) == ["associating"]
    wait_state(lambda: vpc_ipv6(aws.ec2, vpc["VpcId"]), "associated")
    block = vpc_ipv6(aws.ec2, vpc["VpcId"])[0]["Ipv6CidrBlock"]
    subnet = aws.ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24", Ipv6CidrBlock=sixty_four(block, 3)
    )["Subnet"]
    assert states(subnet["Ipv6CidrBlockAssociationSet"]) == ["associating"]
    assert states(subnet_ipv6(aws.ec2, subnet["SubnetId"])) == ["associating"]
    assert states(subnet_ipv6(aws.ec2, subnet["SubnetId"])) == ["associated"]


def test_b_pristine_associates_synchronously(moto: Emulator) -> None:
    ec2 = moto.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    block = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)[
        "Ipv6CidrBlockAssociation"
    ]["Ipv6CidrBlock"]
    assert states(vpc_ipv6(ec2, vpc_id)) == ["associated"]  # no associating read at all
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    answer = ec2.associate_subnet_cidr_block(SubnetId=subnet_id, Ipv6CidrBlock=sixty_four(block, 0))
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "associated"
    answer = ec2.disassociate_subnet_cidr_block(
        AssociationId=answer["Ipv6CidrBlockAssociation"]["AssociationId"]
    )
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociated"


def test_b_zero_associating_reads_is_immediate(aws: Emulator) -> None:
    assert aws.control("POST", "config", {"associating_reads": 0})["associating_reads"] == 0
    ec2 = aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    answer = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "associating"
    assert states(vpc_ipv6(ec2, vpc_id)) == ["associated"]
    block = answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"]
    subnet_id, association_id = new_subnet(ec2, vpc_id, "10.0.1.0/24", block, wait=False)
    assert states(subnet_ipv6(ec2, subnet_id)) == ["associated"]
    answer = ec2.disassociate_subnet_cidr_block(AssociationId=association_id)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert subnet_ipv6(ec2, subnet_id) == []
    # reset restores the command-line value
    aws.control("POST", "reset")
    assert aws.control("GET", "config") == {"pristine": False, "associating_reads": 1}


def test_b_associating_reads_flag_and_process_lifecycle() -> None:
    emulator = Emulator("--associating-reads", "2")
    try:
        assert emulator.control("GET", "config") == {"pristine": False, "associating_reads": 2}
        ec2 = emulator.ec2
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
        assert [states(vpc_ipv6(ec2, vpc_id)) for _ in range(3)] == [
            ["associating"],
            ["associating"],
            ["associated"],
        ]
    finally:
        returncode = emulator.stop()
    assert returncode == 0  # SIGTERM is a clean exit
    assert emulator.proc.stdout.read() == ""  # exactly one line on stdout


# ---------------------------------------------------------------------------
# c. ModifySubnetAttribute stores and renders the IPv6 flags, one per call
# ---------------------------------------------------------------------------


def test_c_ipv6_subnet_flags_are_stored_and_rendered(aws: Emulator) -> None:
    _, _, subnet_id, _ = dual_stack_subnet(aws)
    subnet = subnet_of(aws.ec2, subnet_id)
    assert subnet["EnableDns64"] is False
    assert subnet["AssignIpv6AddressOnCreation"] is False
    assert subnet["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsAAAARecord"] is False
    for attribute in (
        "AssignIpv6AddressOnCreation",
        "EnableDns64",
        "EnableResourceNameDnsAAAARecordOnLaunch",
    ):
        aws.ec2.modify_subnet_attribute(SubnetId=subnet_id, **{attribute: {"Value": True}})
    subnet = subnet_of(aws.ec2, subnet_id)
    assert subnet["AssignIpv6AddressOnCreation"] is True
    assert subnet["EnableDns64"] is True
    assert subnet["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsAAAARecord"] is True
    aws.ec2.modify_subnet_attribute(SubnetId=subnet_id, EnableDns64={"Value": False})
    assert subnet_of(aws.ec2, subnet_id)["EnableDns64"] is False


def test_c_one_attribute_per_call(aws: Emulator) -> None:
    _, _, subnet_id, _ = dual_stack_subnet(aws)
    err = assert_error(
        "InvalidParameterCombination",
        aws.ec2.modify_subnet_attribute,
        SubnetId=subnet_id,
        MapPublicIpOnLaunch={"Value": True},
        EnableDns64={"Value": True},
    )
    assert "mapPublicIpOnLaunch" in str(err) and "enableDns64" in str(err)
    subnet = subnet_of(aws.ec2, subnet_id)
    assert subnet["MapPublicIpOnLaunch"] is False and subnet["EnableDns64"] is False


def test_c_pristine_ignores_dns64_and_aaaa_and_takes_several_attributes(moto: Emulator) -> None:
    _, _, subnet_id, _ = dual_stack_subnet(moto, wait=False)
    moto.ec2.modify_subnet_attribute(SubnetId=subnet_id, EnableDns64={"Value": True})
    moto.ec2.modify_subnet_attribute(
        SubnetId=subnet_id, EnableResourceNameDnsAAAARecordOnLaunch={"Value": True}
    )
    subnet = subnet_of(moto.ec2, subnet_id)
    assert "EnableDns64" not in subnet
    assert subnet["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsAAAARecord"] is False
    moto.ec2.modify_subnet_attribute(
        SubnetId=subnet_id,
        MapPublicIpOnLaunch={"Value": True},
        AssignIpv6AddressOnCreation={"Value": True},
    )
    subnet = subnet_of(moto.ec2, subnet_id)
    assert subnet["MapPublicIpOnLaunch"] is True and subnet["AssignIpv6AddressOnCreation"] is True


# ---------------------------------------------------------------------------
# d. IPv6 flags need an associated block
# ---------------------------------------------------------------------------

IPV6_FLAGS = ("AssignIpv6AddressOnCreation", "EnableDns64", "EnableResourceNameDnsAAAARecordOnLaunch")


def test_d_ipv6_flags_need_an_associated_block(aws: Emulator) -> None:
    vpc_id, block = new_vpc(aws.ec2)
    bare, _ = new_subnet(aws.ec2, vpc_id, "10.0.1.0/24")
    for flag in IPV6_FLAGS:
        err = assert_error(
            "InvalidParameterValue", aws.ec2.modify_subnet_attribute, SubnetId=bare, **{flag: {"Value": True}}
        )
        assert bare in str(err)
        aws.ec2.modify_subnet_attribute(SubnetId=bare, **{flag: {"Value": False}})  # false is fine

    # associating is not enough: the tool must wait for associated
    pending, _ = new_subnet(aws.ec2, vpc_id, "10.0.2.0/24", block, index=1, wait=False)
    for flag in IPV6_FLAGS:
        assert_error(
            "InvalidParameterValue", aws.ec2.modify_subnet_attribute, SubnetId=pending, **{flag: {"Value": True}}
        )
    wait_state(lambda: subnet_ipv6(aws.ec2, pending), "associated")
    for flag in IPV6_FLAGS:
        aws.ec2.modify_subnet_attribute(SubnetId=pending, **{flag: {"Value": True}})


def test_d_pristine_accepts_ipv6_flags_without_a_block(moto: Emulator) -> None:
    vpc_id, _ = new_vpc(moto.ec2, wait=False)
    bare, _ = new_subnet(moto.ec2, vpc_id, "10.0.1.0/24")
    for flag in IPV6_FLAGS:
        moto.ec2.modify_subnet_attribute(SubnetId=bare, **{flag: {"Value": True}})
    assert subnet_of(moto.ec2, bare)["AssignIpv6AddressOnCreation"] is True


# ---------------------------------------------------------------------------
# e. DisassociateSubnetCidrBlock refuses a block in use
# ---------------------------------------------------------------------------


def test_e_subnet_block_in_use_cannot_be_disassociated(aws: Emulator) -> None:
    ec2 = aws.ec2
    _, _, subnet_id, association_id = dual_stack_subnet(aws)
    ec2.modify_subnet_attribute(SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": True})
    assert_error("InvalidCidrBlock.InUse", ec2.disassociate_subnet_cidr_block, AssociationId=association_id)
    ec2.modify_subnet_attribute(SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": False})

    eni = ec2.create_network_interface(SubnetId=subnet_id, Ipv6AddressCount=1)["NetworkInterface"]
    assert eni["Ipv6Addresses"]
    assert_error("InvalidCidrBlock.InUse", ec2.disassociate_subnet_cidr_block, AssociationId=association_id)
    assert states(subnet_ipv6(ec2, subnet_id)) == ["associated"]  # nothing changed

    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    answer = ec2.disassociate_subnet_cidr_block(AssociationId=association_id)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"


def test_e_pristine_disassociates_a_block_in_use(moto: Emulator) -> None:
    ec2 = moto.ec2
    _, _, subnet_id, association_id = dual_stack_subnet(moto, wait=False)
    ec2.modify_subnet_attribute(SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": True})
    ec2.create_network_interface(SubnetId=subnet_id, Ipv6AddressCount=1)
    ec2.disassociate_subnet_cidr_block(AssociationId=association_id)


# ---------------------------------------------------------------------------
# f. DisassociateVpcCidrBlock refuses a block still used by subnets
# ---------------------------------------------------------------------------


def test_f_vpc_block_with_subnet_blocks_cannot_be_disassociated(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id, block, subnet_id, subnet_association = dual_stack_subnet(aws)
    vpc_association = vpc_ipv6(ec2, vpc_id)[0]["AssociationId"]
    assert_error("InvalidCidrBlock.InUse", ec2.disassociate_vpc_cidr_block, AssociationId=vpc_association)

    # an associating block counts as held too
    other, _ = new_subnet(ec2, vpc_id, "10.0.2.0/24", block, index=1, wait=False)
    ec2.disassociate_subnet_cidr_block(AssociationId=subnet_association)
    assert_error("InvalidCidrBlock.InUse", ec2.disassociate_vpc_cidr_block, AssociationId=vpc_association)
    other_association = subnet_ipv6(ec2, other)[0]["AssociationId"]
    ec2.disassociate_subnet_cidr_block(AssociationId=other_association)

    answer = ec2.disassociate_vpc_cidr_block(AssociationId=vpc_association)
    assert answer["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert subnet_id  # (kept for readability of the scenario)


def test_f_pristine_disassociates_a_vpc_block_in_use(moto: Emulator) -> None:
    ec2 = moto.ec2
    vpc_id, _, subnet_id, _ = dual_stack_subnet(moto, wait=False)
    vpc_association = vpc_ipv6(ec2, vpc_id)[0]["AssociationId"]
    ec2.disassociate_vpc_cidr_block(AssociationId=vpc_association)
    assert subnet_ipv6(moto.ec2, subnet_id)  # the subnet still holds its /64


# ---------------------------------------------------------------------------
# g. Routes, egress-only internet gateways, security group rules
# ---------------------------------------------------------------------------


def routing_setup(emu: Emulator) -> tuple[str, str, str, str]:
    ec2 = emu.ec2
    vpc_id, _ = new_vpc(ec2, wait=False)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc_id)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"
    ]
    route_table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    return vpc_id, igw, eigw, route_table


def default_v6_route(ec2: Any, route_table: str) -> list[dict[str, Any]]:
    routes = ec2.describe_route_tables(RouteTableIds=[route_table])["RouteTables"][0]["Routes"]
    return [r for r in routes if r.get("DestinationIpv6CidrBlock") == "::/0"]


def test_g_second_default_ipv6_route_already_exists(aws: Emulator) -> None:
    _, igw, eigw, route_table = routing_setup(aws)
    aws.ec2.create_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
    assert_error(
        "RouteAlreadyExists",
        aws.ec2.create_route,
        RouteTableId=route_table,
        DestinationIpv6CidrBlock="::/0",
        EgressOnlyInternetGatewayId=eigw,
    )
    assert [r.get("GatewayId") for r in default_v6_route(aws.ec2, route_table)] == [igw]


def test_g_pristine_silently_overwrites_a_default_ipv6_route(moto: Emulator) -> None:
    _, igw, eigw, route_table = routing_setup(moto)
    moto.ec2.create_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
    moto.ec2.create_route(
        RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw
    )
    (route,) = default_v6_route(moto.ec2, route_table)
    assert route["EgressOnlyInternetGatewayId"] == eigw


def test_g_egress_only_gateways_filter_by_vpc(aws: Emulator) -> None:
    vpc_id, _, eigw, _ = routing_setup(aws)
    other_vpc, _ = new_vpc(aws.ec2, "10.9.0.0/16", ipv6=False)
    aws.ec2.create_egress_only_internet_gateway(VpcId=other_vpc)

    def by_vpc(vpc: str) -> list[str]:
        gateways = aws.ec2.describe_egress_only_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}]
        )["EgressOnlyInternetGateways"]
        return [g["EgressOnlyInternetGatewayId"] for g in gateways]

    assert by_vpc(vpc_id) == [eigw]
    assert by_vpc("vpc-00000000000000000") == []
    listed = aws.ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
    assert len(listed) == 2
    mine = [g for g in listed if g["EgressOnlyInternetGatewayId"] == eigw][0]
    assert mine["Attachments"] == [{"State": "attached", "VpcId": vpc_id}]


def test_g_pristine_ignores_egress_only_gateway_filters(moto: Emulator) -> None:
    routing_setup(moto)
    gateways = moto.ec2.describe_egress_only_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": ["vpc-00000000000000000"]}]
    )["EgressOnlyInternetGateways"]
    assert len(gateways) == 1


def test_g_ipv6_routes_replace_delete_and_render(either: Emulator) -> None:
    """No departure: moto already matches AWS (checked on both servers)."""
    ec2 = either.ec2
    _, igw, eigw, route_table = routing_setup(either)
    ec2.create_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
    assert default_v6_route(ec2, route_table)[0]["GatewayId"] == igw
    ec2.replace_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    (route,) = default_v6_route(ec2, route_table)
    assert route["EgressOnlyInternetGatewayId"] == eigw and "GatewayId" not in route
    assert route["State"] == "active"
    ec2.delete_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0")
    assert default_v6_route(ec2, route_table) == []
    assert_error(
        "InvalidRoute.NotFound", ec2.delete_route, RouteTableId=route_table, DestinationIpv6CidrBlock="::/0"
    )


def test_g_security_group_rules_with_ipv6_ranges(either: Emulator) -> None:
    """No departure: moto already matches AWS (checked on both servers)."""
    ec2 = either.ec2
    vpc_id, _ = new_vpc(ec2, ipv6=False)
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc_id)["GroupId"]
    permission = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]

    ingress = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permission)["SecurityGroupRules"]
    egress = ec2.authorize_security_group_egress(GroupId=group, IpPermissions=permission)["SecurityGroupRules"]
    assert [r["CidrIpv6"] for r in ingress + egress] == ["::/0", "::/0"]
    assert all(r["SecurityGroupRuleId"].startswith("sgr-") for r in ingress + egress)
    assert_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=permission)
    assert_error("InvalidPermission.Duplicate", ec2.authorize_security_group_egress, GroupId=group, IpPermissions=permission)

    def rule_ids() -> set[str]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        return {r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"]}

    listed = rule_ids()
    assert {ingress[0]["SecurityGroupRuleId"], egress[0]["SecurityGroupRuleId"]} <= listed
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[ingress[0]["SecurityGroupRuleId"]])
    ec2.revoke_security_group_egress(GroupId=group, SecurityGroupRuleIds=[egress[0]["SecurityGroupRuleId"]])
    assert rule_ids() == listed - {ingress[0]["SecurityGroupRuleId"], egress[0]["SecurityGroupRuleId"]}


# ---------------------------------------------------------------------------
# h. ELBv2 IP address types and default scheme
# ---------------------------------------------------------------------------


def load_balancer_subnets(emu: Emulator, ipv6: bool, wait: bool = True) -> list[str]:
    vpc_id, block = new_vpc(emu.ec2, wait=wait)
    return [
        new_subnet(emu.ec2, vpc_id, f"10.0.{i}.0/24", block if ipv6 else None, index=i, wait=wait, az=az)[0]
        for i, az in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]


def describe_lb(emu: Emulator, arn: str) -> dict[str, Any]:
    return emu.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]


def test_h_dualstack_needs_associated_ipv6_on_every_subnet(aws: Emulator) -> None:
    subnets = load_balancer_subnets(aws, ipv6=False)
    arn = aws.elbv2.create_load_balancer(Name="v4only", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    for ip_type in ("dualstack", "dualstack-without-public-ipv4"):
        assert_error("ValidationError", aws.elbv2.set_ip_address_type, LoadBalancerArn=arn, IpAddressType=ip_type)
    assert describe_lb(aws, arn)["IpAddressType"] == "ipv4"
    assert_error(
        "ValidationError", aws.elbv2.create_load_balancer, Name="ds", Subnets=subnets, IpAddressType="dualstack"
    )

    # associating (not yet associated) is not enough either
    pending = load_balancer_subnets(aws, ipv6=True, wait=False)
    arn = aws.elbv2.create_load_balancer(Name="pending", Subnets=pending)["LoadBalancers"][0]["LoadBalancerArn"]
    assert_error("ValidationError", aws.elbv2.set_ip_address_type, LoadBalancerArn=arn, IpAddressType="dualstack")
    for subnet in pending:
        wait_state(lambda: subnet_ipv6(aws.ec2, subnet), "associated")
    assert aws.elbv2.set_ip_address_type(LoadBalancerArn=arn, IpAddressType="dualstack")["IpAddressType"] == "dualstack"
    assert describe_lb(aws, arn)["IpAddressType"] == "dualstack"


def test_h_dualstack_without_public_ipv4_only_for_internet_facing_albs(aws: Emulator) -> None:
    subnets = load_balancer_subnets(aws, ipv6=True)
    create = aws.elbv2.create_load_balancer
    public = create(Name="public", Subnets=subnets)["LoadBalancers"][0]
    assert public["Scheme"] == "internet-facing"  # AWS's default scheme
    internal = create(Name="internal", Subnets=subnets, Scheme="internal")["LoadBalancers"][0]
    network = create(Name="network", Subnets=subnets, Type="network")["LoadBalancers"][0]

    aws.elbv2.set_ip_address_type(LoadBalancerArn=public["LoadBalancerArn"], IpAddressType="dualstack-without-public-ipv4")
    assert describe_lb(aws, public["LoadBalancerArn"])["IpAddressType"] == "dualstack-without-public-ipv4"
    for lb in (internal, network):
        assert_error(
            "ValidationError",
            aws.elbv2.set_ip_address_type,
            LoadBalancerArn=lb["LoadBalancerArn"],
            IpAddressType="dualstack-without-public-ipv4",
        )
        aws.elbv2.set_ip_address_type(LoadBalancerArn=lb["LoadBalancerArn"], IpAddressType="dualstack")
    created = create(Name="direct", Subnets=subnets, IpAddressType="dualstack-without-public-ipv4")
    assert created["LoadBalancers"][0]["IpAddressType"] == "dualstack-without-public-ipv4"


def test_h_pristine_elbv2_departures(moto: Emulator) -> None:
    subnets = load_balancer_subnets(moto, ipv6=False)
    lb = moto.elbv2.create_load_balancer(Name="v4only", Subnets=subnets)["LoadBalancers"][0]
    assert "Scheme" not in lb
    moto.elbv2.set_ip_address_type(LoadBalancerArn=lb["LoadBalancerArn"], IpAddressType="dualstack")
    assert describe_lb(moto, lb["LoadBalancerArn"])["IpAddressType"] == "dualstack"

    subnets = load_balancer_subnets(moto, ipv6=True, wait=False)
    lb = moto.elbv2.create_load_balancer(Name="public", Subnets=subnets, Scheme="internet-facing")["LoadBalancers"][0]
    assert_error(
        "ValidationError",
        moto.elbv2.set_ip_address_type,
        LoadBalancerArn=lb["LoadBalancerArn"],
        IpAddressType="dualstack-without-public-ipv4",
    )


# ---------------------------------------------------------------------------
# i. DryRun never applies anything
# ---------------------------------------------------------------------------


def dry_run_calls(emu: Emulator) -> tuple[list[Callable[[], Any]], Callable[[], Any]]:
    """Dry-run writes on a routing setup, and a snapshot of what they'd change."""
    ec2 = emu.ec2
    vpc_id, igw, eigw, route_table = routing_setup(emu)
    ec2.create_route(RouteTableId=route_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    calls = [
        lambda: ec2.create_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", GatewayId=igw, DryRun=True),
        lambda: ec2.replace_route(RouteTableId=route_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId="nat-0", DryRun=True),
        lambda: ec2.delete_route(RouteTableId=route_table, DestinationCidrBlock="0.0.0.0/0", DryRun=True),
        lambda: ec2.create_egress_only_internet_gateway(VpcId=vpc_id, DryRun=True),
        lambda: ec2.create_vpc(CidrBlock="10.8.0.0/16", DryRun=True),
    ]

    def snapshot() -> Any:
        routes = ec2.describe_route_tables(RouteTableIds=[route_table])["RouteTables"][0]["Routes"]
        gateways = ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
        return routes, len(gateways), len(ec2.describe_vpcs()["Vpcs"])

    assert eigw
    return calls, snapshot


def test_i_dry_run_answers_dry_run_operation_and_applies_nothing(aws: Emulator) -> None:
    calls, snapshot = dry_run_calls(aws)
    before = snapshot()
    for call in calls:
        err = error_of(call)
        assert (code_of(err), status_of(err)) == ("DryRunOperation", 412)
    assert snapshot() == before


def test_i_pristine_applies_dry_run_writes(moto: Emulator) -> None:
    calls, snapshot = dry_run_calls(moto)
    before = snapshot()
    moto_applied = 0
    for call in calls:
        try:
            call()
            moto_applied += 1
        except ClientError as err:
            assert code_of(err) == "DryRunOperation"
    assert moto_applied >= 3 and snapshot() != before


# ---------------------------------------------------------------------------
# Control endpoints
# ---------------------------------------------------------------------------


def test_calls_log(aws: Emulator) -> None:
    aws.ec2.describe_vpcs()
    vpc_id = aws.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    error_of(aws.ec2.delete_vpc, VpcId="vpc-00000000000000000")
    aws.elbv2.describe_load_balancers()
    calls = aws.control("GET", "calls")["calls"]
    assert calls == [
        {"service": "ec2", "action": "DescribeVpcs", "mutating": False, "status": 200},
        {"service": "ec2", "action": "CreateVpc", "mutating": True, "status": 200},
        {"service": "ec2", "action": "DeleteVpc", "mutating": True, "status": 400},
        {"service": "elasticloadbalancing", "action": "DescribeLoadBalancers", "mutating": False, "status": 200},
    ]
    aws.control("POST", "calls/clear")
    assert aws.control("GET", "calls") == {"calls": []}
    assert vpc_id


def test_faults_answer_the_nth_call_without_applying_it(aws: Emulator) -> None:
    _, _, subnet_id, _ = dual_stack_subnet(aws)
    aws.control(
        "POST",
        "faults",
        {"action": "ModifySubnetAttribute", "nth": 2, "code": "InternalError", "message": "injected", "status": 500, "service": "ec2"},
    )
    aws.ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    err = error_of(aws.ec2.modify_subnet_attribute, SubnetId=subnet_id, EnableDns64={"Value": True})
    assert (code_of(err), status_of(err), err.response["Error"]["Message"]) == ("InternalError", 500, "injected")
    assert subnet_of(aws.ec2, subnet_id)["EnableDns64"] is False  # not applied
    aws.ec2.modify_subnet_attribute(SubnetId=subnet_id, EnableDns64={"Value": True})  # fault consumed
    assert subnet_of(aws.ec2, subnet_id)["EnableDns64"] is True
    assert aws.control("GET", "faults") == {"faults": []}
    statuses = [(c["action"], c["status"]) for c in aws.control("GET", "calls")["calls"]]
    assert statuses[-5:-2] == [
        ("ModifySubnetAttribute", 200),
        ("ModifySubnetAttribute", 500),
        ("DescribeSubnets", 200),
    ]


def test_faults_elbv2_xml_service_match_queue_and_clear(aws: Emulator) -> None:
    subnets = load_balancer_subnets(aws, ipv6=True)
    arn = aws.elbv2.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    # Two faults due on the 1st call: the 1st and 2nd calls fail.
    for _ in range(2):
        aws.control("POST", "faults", {"action": "SetIpAddressType", "code": "Throttling", "message": "Rate exceeded"})
    for _ in range(2):
        err = assert_error("Throttling", aws.elbv2.set_ip_address_type, LoadBalancerArn=arn, IpAddressType="dualstack")
        assert err.response["Error"]["Message"] == "Rate exceeded"
    assert describe_lb(aws, arn)["IpAddressType"] == "ipv4"
    aws.elbv2.set_ip_address_type(LoadBalancerArn=arn, IpAddressType="dualstack")

    # DescribeTags exists in both services: the service field decides.
    aws.control("POST", "faults", {"action": "DescribeTags", "service": "elasticloadbalancing", "code": "InternalFailure"})
    aws.ec2.describe_tags()
    err = error_of(aws.elbv2.describe_tags, ResourceArns=[arn])
    assert (code_of(err), status_of(err)) == ("InternalFailure", 500)

    aws.control("POST", "faults", {"action": "DescribeVpcs", "code": "RequestLimitExceeded", "nth": 2})
    (pending,) = aws.control("GET", "faults")["faults"]
    assert (pending["status"], pending["nth"]) == (503, 2)
    aws.control("POST", "faults/clear")
    for _ in range(3):
        aws.ec2.describe_vpcs()


def call_in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as err:  # noqa: BLE001 - the test inspects it
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_held(emu: Emulator) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = emu.control("GET", "hold")
        if status["held"]:
            return status
        time.sleep(0.02)
    raise AssertionError("no request was held")


def tagged_vpcs(ec2: Any, name: str) -> list[dict[str, Any]]:
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]


def create_tagged_vpc(ec2: Any, name: str) -> Any:
    return ec2.create_vpc(
        CidrBlock="10.5.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}],
    )


@pytest.mark.parametrize("when", ["before", "after"])
def test_hold_the_kth_mutating_call(aws: Emulator, when: str) -> None:
    assert aws.control("POST", "hold", {"mutation": 2, "when": when})["armed"] is True
    assert aws.control("GET", "hold")["held"] is False
    aws.ec2.describe_vpcs()  # reads do not count
    aws.ec2.create_vpc(CidrBlock="10.4.0.0/16")  # 1st mutating call passes
    thread, outcome = call_in_thread(lambda: create_tagged_vpc(aws.ec2, "held"))
    status = wait_held(aws)
    assert status["armed"] is True and status["action"] == "CreateVpc"

    # While it is held, other calls are served.
    applied = tagged_vpcs(aws.ec2, "held")
    assert len(applied) == (1 if when == "after" else 0)
    assert aws.control("GET", "calls")["calls"][2] == {
        "service": "ec2",
        "action": "CreateVpc",
        "mutating": True,
        "status": None,
    }
    assert aws.control("POST", "release") == {"released": True}
    thread.join(10)
    assert not thread.is_alive()
    assert status_of(outcome["error"]) == 500
    assert aws.control("GET", "hold") == {"armed": False, "held": False, "action": None, "mutation": None, "when": None}
    assert len(tagged_vpcs(aws.ec2, "held")) == (1 if when == "after" else 0)
    create_tagged_vpc(aws.ec2, "later")  # disarmed: served normally


def test_reset_clears_moto_and_emulator_state(aws: Emulator) -> None:
    vpc_id, _ = new_vpc(aws.ec2, ipv6=False)
    aws.control("POST", "faults", {"action": "CreateVpc"})
    aws.control("POST", "hold", {"mutation": 5})
    assert aws.control("POST", "reset") == {"ok": True}
    assert aws.control("GET", "calls") == {"calls": []}
    assert aws.control("GET", "faults") == {"faults": []}
    assert aws.control("GET", "hold")["armed"] is False
    vpcs = aws.ec2.describe_vpcs()["Vpcs"]
    assert vpc_id not in [v["VpcId"] for v in vpcs]
    aws.ec2.create_vpc(CidrBlock="10.0.0.0/16")  # the fault is gone


def test_reset_releases_a_held_request(aws: Emulator) -> None:
    aws.control("POST", "hold", {"mutation": 1, "when": "before"})
    thread, outcome = call_in_thread(lambda: aws.ec2.create_vpc(CidrBlock="10.0.0.0/16"))
    wait_held(aws)
    aws.control("POST", "reset")
    thread.join(10)
    assert not thread.is_alive() and status_of(outcome["error"]) == 500


def test_pristine_serves_the_control_api(moto: Emulator) -> None:
    assert moto.control("GET", "config") == {"pristine": True, "associating_reads": 1}
    moto.control("POST", "faults", {"action": "CreateVpc", "code": "InternalError"})
    err = error_of(moto.ec2.create_vpc, CidrBlock="10.0.0.0/16")
    assert status_of(err) == 500
    assert moto.control("GET", "calls")["calls"] == [
        {"service": "ec2", "action": "CreateVpc", "mutating": True, "status": 500}
    ]


def test_control_api_errors(aws: Emulator) -> None:
    for method, path, body, code in [
        ("GET", "nope", None, 404),
        ("GET", "reset", None, 405),
        ("POST", "faults", {"nth": 1}, 400),
        ("POST", "hold", {"mutation": 0}, 400),
        ("POST", "hold", {"mutation": 1, "when": "later"}, 400),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            aws.control(method, path, body)
        assert info.value.code == code, (method, path)
