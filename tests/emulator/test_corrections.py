"""Tests for the dualstack emulator launcher (tests/emulator/launcher.py).

Each correction a-l is tested twice: against the corrected launcher, asserting
AWS's documented behaviour, and against the same launcher with --pristine,
asserting that plain moto departs from it. If a correction were removed, its
first test would fail; if moto fixed the departure upstream, the second would
fail and tell us the correction can go. The control endpoints (calls log,
faults, hold, reset, config, IAM denials) are tested too.

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
    assert aws.control("GET", "config") == {"pristine": False, "associating_reads": 1, "initial_health_reads": 1}


def test_b_associating_reads_flag_and_process_lifecycle() -> None:
    emulator = Emulator("--associating-reads", "2")
    try:
        assert emulator.control("GET", "config") == {
            "pristine": False,
            "associating_reads": 2,
            "initial_health_reads": 1,
        }
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
        assert err.response["Error"]["Message"] == "Request would have succeeded, but DryRun flag is set."
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


def forced_dry_run(client: Any, action: str) -> None:
    """Send `action` with DryRun=true although its API has no DryRun (no SDK
    would: botocore refuses the parameter, the Rust SDK has no setter)."""

    def add_dry_run(params: dict[str, Any], **_: Any) -> None:
        params["body"]["DryRun"] = "true"

    client.meta.events.register_first(f"before-call.ec2.{action}", add_dry_run)


def ipv6_dry_run_setup(emu: Emulator) -> tuple[str, str, str, str]:
    """(IPv4-only VPC, its subnet, route table of a dual-stack VPC, its IGW)."""
    ec2 = emu.ec2
    v4_vpc, _ = new_vpc(ec2, cidr="10.1.0.0/16", ipv6=False)
    subnet_id, _ = new_subnet(ec2, v4_vpc, "10.1.1.0/24")
    _, igw, _, route_table = routing_setup(emu)
    return v4_vpc, subnet_id, route_table, igw


def dry_run_client(emu: Emulator) -> Any:
    """An EC2 client of `emu` whose AssociateVpcCidrBlock and ModifySubnetAttribute
    carry DryRun=true."""
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=emu.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )
    for action in ("AssociateVpcCidrBlock", "ModifySubnetAttribute"):
        forced_dry_run(ec2, action)
    return ec2


def test_i_ipv6_dry_runs_apply_nothing_and_are_not_mutating(aws: Emulator) -> None:
    v4_vpc, subnet_id, route_table, igw = ipv6_dry_run_setup(aws)
    aws.control("POST", "calls/clear")

    err = error_of(
        aws.ec2.create_route, RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", GatewayId=igw, DryRun=True
    )
    assert (code_of(err), status_of(err)) == ("DryRunOperation", 412)
    err = error_of(aws.ec2.create_egress_only_internet_gateway, VpcId=v4_vpc, DryRun=True)
    assert (code_of(err), status_of(err)) == ("DryRunOperation", 412)
    # Actions whose API has no DryRun: AWS rejects the unknown parameter.
    forced = dry_run_client(aws)
    err = error_of(forced.associate_vpc_cidr_block, VpcId=v4_vpc, AmazonProvidedIpv6CidrBlock=True)
    assert (code_of(err), status_of(err)) == ("UnknownParameter", 400)
    assert err.response["Error"]["Message"] == "The parameter DryRun is not recognized"
    err = error_of(forced.modify_subnet_attribute, SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    assert (code_of(err), status_of(err)) == ("UnknownParameter", 400)

    calls = aws.control("GET", "calls")["calls"]
    assert calls == [
        {"service": "ec2", "action": action, "mutating": False, "status": status, "dry_run": True}
        for action, status in [
            ("CreateRoute", 412),
            ("CreateEgressOnlyInternetGateway", 412),
            ("AssociateVpcCidrBlock", 400),
            ("ModifySubnetAttribute", 400),
        ]
    ]
    assert vpc_ipv6(aws.ec2, v4_vpc) == []
    assert default_v6_route(aws.ec2, route_table) == []
    assert subnet_of(aws.ec2, subnet_id)["MapPublicIpOnLaunch"] is False
    gateways = aws.ec2.describe_egress_only_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [v4_vpc]}]
    )["EgressOnlyInternetGateways"]
    assert gateways == []


def test_i_pristine_applies_ipv6_dry_runs(moto: Emulator) -> None:
    v4_vpc, subnet_id, route_table, igw = ipv6_dry_run_setup(moto)
    moto.ec2.create_route(RouteTableId=route_table, DestinationIpv6CidrBlock="::/0", GatewayId=igw, DryRun=True)
    forced = dry_run_client(moto)
    forced.associate_vpc_cidr_block(VpcId=v4_vpc, AmazonProvidedIpv6CidrBlock=True)
    forced.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    assert len(vpc_ipv6(moto.ec2, v4_vpc)) == 1
    assert len(default_v6_route(moto.ec2, route_table)) == 1
    assert subnet_of(moto.ec2, subnet_id)["MapPublicIpOnLaunch"] is True


def test_i_faults_count_dry_runs_only_when_asked(aws: Emulator) -> None:
    _, igw, _, route_table = routing_setup(aws)
    aws.control("POST", "faults", {"action": "CreateRoute", "code": "InternalError"})
    aws.control("POST", "faults", {"action": "CreateRoute", "code": "RequestLimitExceeded", "dry_run": True})
    route = {"RouteTableId": route_table, "DestinationIpv6CidrBlock": "::/0", "GatewayId": igw}
    err = error_of(aws.ec2.create_route, DryRun=True, **route)
    assert (code_of(err), status_of(err)) == ("RequestLimitExceeded", 503)
    err = error_of(aws.ec2.create_route, DryRun=True, **route)  # the plain fault is not due on a dry run
    assert code_of(err) == "DryRunOperation"
    err = error_of(aws.ec2.create_route, **route)
    assert (code_of(err), status_of(err)) == ("InternalError", 500)
    assert default_v6_route(aws.ec2, route_table) == []
    aws.ec2.create_route(**route)
    assert len(default_v6_route(aws.ec2, route_table)) == 1


def test_i_dry_runs_are_not_held(aws: Emulator) -> None:
    _, igw, _, route_table = routing_setup(aws)
    aws.control("POST", "hold", {"mutation": 1, "when": "before"})
    route = {"RouteTableId": route_table, "DestinationIpv6CidrBlock": "::/0", "GatewayId": igw}
    assert code_of(error_of(aws.ec2.create_route, DryRun=True, **route)) == "DryRunOperation"
    assert aws.control("GET", "hold")["held"] is False
    assert aws.control("GET", "hold")["armed"] is True
    aws.control("POST", "release")


# ---------------------------------------------------------------------------
# j. IPv6 addresses of network interfaces and instances
# ---------------------------------------------------------------------------

AMI = "ami-12c6146b"  # one of moto's default images


def ipv6_of_eni(ec2: Any, eni_id: str) -> list[str]:
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    return [a["Ipv6Address"] for a in eni.get("Ipv6Addresses", [])]


def launch(ec2: Any, subnet_id: str) -> dict[str, Any]:
    instance_id = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet_id
    )["Instances"][0]["InstanceId"]
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def assert_usable_address(address: str, block: str) -> None:
    network = ipaddress.ip_network(block)
    parsed = ipaddress.ip_address(address)
    assert parsed in network and str(parsed) == address
    offset = int(parsed) - int(network.network_address)
    assert 4 <= offset < network.num_addresses - 1  # AWS reserves the first four and the last


def test_j_instances_in_assign_on_creation_subnets_get_an_ipv6_address(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id, block, subnet_id, _ = dual_stack_subnet(aws)
    plain, _ = new_subnet(ec2, vpc_id, "10.0.2.0/24")
    ec2.modify_subnet_attribute(SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": True})

    instance = launch(ec2, subnet_id)
    (eni,) = instance["NetworkInterfaces"]
    (address,) = [a["Ipv6Address"] for a in eni["Ipv6Addresses"]]
    assert_usable_address(address, sixty_four(block, 0))
    assert ipv6_of_eni(ec2, eni["NetworkInterfaceId"]) == [address]
    # a second instance gets another address; an IPv4-only subnet gives none
    other = launch(ec2, subnet_id)["NetworkInterfaces"][0]["Ipv6Addresses"]
    assert len(other) == 1 and other[0]["Ipv6Address"] != address
    assert launch(ec2, plain)["NetworkInterfaces"][0]["Ipv6Addresses"] == []
    # CreateNetworkInterface in the subnet follows the same rule
    created = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]
    assert len(created["Ipv6Addresses"]) == 1
    # ... and the addresses keep the block in use (correction e)
    ec2.modify_subnet_attribute(SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": False})
    association_id = subnet_ipv6(ec2, subnet_id)[0]["AssociationId"]
    assert_error("InvalidCidrBlock.InUse", ec2.disassociate_subnet_cidr_block, AssociationId=association_id)


def test_j_pristine_launches_instances_without_ipv6(moto: Emulator) -> None:
    _, _, subnet_id, _ = dual_stack_subnet(moto, wait=False)
    moto.ec2.modify_subnet_attribute(SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": True})
    instance = launch(moto.ec2, subnet_id)
    assert instance["NetworkInterfaces"][0]["Ipv6Addresses"] == []


def test_j_assign_and_unassign_ipv6_addresses(aws: Emulator) -> None:
    ec2 = aws.ec2
    vpc_id, block, subnet_id, _ = dual_stack_subnet(aws)
    subnet_block = sixty_four(block, 0)
    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    assert ipv6_of_eni(ec2, eni) == []  # AssignIpv6AddressOnCreation is false

    first = ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)
    assert first["NetworkInterfaceId"] == eni
    (address,) = first["AssignedIpv6Addresses"]
    assert_usable_address(address, subnet_block)
    (second,) = ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)["AssignedIpv6Addresses"]
    chosen = str(ipaddress.ip_network(subnet_block).network_address + 0x99)
    assert ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=[chosen])["AssignedIpv6Addresses"] == [chosen]
    assert sorted(ipv6_of_eni(ec2, eni)) == sorted([address, second, chosen])

    # an address must come from the subnet's own block
    elsewhere = str(ipaddress.ip_network(sixty_four(block, 1)).network_address + 5)
    for outside in (elsewhere, "2001:db8::5"):
        assert_error("InvalidParameterValue", ec2.assign_ipv6_addresses, NetworkInterfaceId=eni, Ipv6Addresses=[outside])

    answer = ec2.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=[address, chosen])
    assert sorted(answer["UnassignedIpv6Addresses"]) == sorted([address, chosen])
    assert ipv6_of_eni(ec2, eni) == [second]

    # no associated block (none, or still associating): nothing to assign from
    plain, _ = new_subnet(ec2, vpc_id, "10.0.2.0/24")
    pending, _ = new_subnet(ec2, vpc_id, "10.0.3.0/24", block, index=3, wait=False)
    for bare in (plain, pending):
        bare_eni = ec2.create_network_interface(SubnetId=bare)["NetworkInterface"]["NetworkInterfaceId"]
        assert_error("InvalidParameterValue", ec2.assign_ipv6_addresses, NetworkInterfaceId=bare_eni, Ipv6AddressCount=1)
        assert_error("InvalidParameterValue", ec2.create_network_interface, SubnetId=bare, Ipv6AddressCount=1)
        assert ipv6_of_eni(ec2, bare_eni) == []


def test_j_pristine_assign_ipv6_departures(moto: Emulator) -> None:
    ec2 = moto.ec2
    vpc_id, _, subnet_id, _ = dual_stack_subnet(moto, wait=False)
    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)
    # answers every address of the interface, accepts one outside the subnet
    answer = ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=["2001:db8::5"])
    assert len(answer["AssignedIpv6Addresses"]) == 2
    plain, _ = new_subnet(ec2, vpc_id, "10.0.2.0/24")
    bare_eni = ec2.create_network_interface(SubnetId=plain)["NetworkInterface"]["NetworkInterfaceId"]
    with pytest.raises(Exception):  # IndexError in moto: an HTML 500
        ec2.assign_ipv6_addresses(NetworkInterfaceId=bare_eni, Ipv6AddressCount=1)
    assert moto.control("GET", "calls")["calls"][-1]["status"] == 500


def test_j_instance_types_report_ipv6_support(either: Emulator) -> None:
    """No departure: moto's instance type data matches AWS (checked on both servers)."""
    names = ["m3.medium", "m1.small", "t1.micro", "t3.micro", "m5.large", "c5.large"]
    types = either.ec2.describe_instance_types(InstanceTypes=names)["InstanceTypes"]
    support = {t["InstanceType"]: t["NetworkInfo"]["Ipv6Supported"] for t in types}
    assert support == {
        "m3.medium": False,
        "m1.small": False,
        "t1.micro": False,
        "t3.micro": True,
        "m5.large": True,
        "c5.large": True,
    }


# ---------------------------------------------------------------------------
# k. ELBv2 target groups and forward actions
# ---------------------------------------------------------------------------


def load_balancer(emu: Emulator, ip_type: str = "ipv4", name: str = "lb") -> tuple[str, str, str]:
    """(vpc_id, vpc_block, load_balancer_arn) on two dual-stack subnets."""
    wait = not emu.control("GET", "config")["pristine"]  # pristine never shows "associated"
    vpc_id, block = new_vpc(emu.ec2, wait=wait)
    subnets = [
        new_subnet(emu.ec2, vpc_id, f"10.0.{i}.0/24", block, index=i, wait=wait, az=az)[0]
        for i, az in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    arn = emu.elbv2.create_load_balancer(Name=name, Subnets=subnets, IpAddressType=ip_type)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    return vpc_id, block, arn


def target_group(emu: Emulator, vpc_id: str, name: str, ip_type: str = "ipv4", **extra: Any) -> str:
    return emu.elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="ip", IpAddressType=ip_type, **extra
    )["TargetGroups"][0]["TargetGroupArn"]


def weighted(*groups: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "Type": "forward",
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arn, "Weight": w} for arn, w in groups]},
        }
    ]


def forward_to(arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": arn}]


def listener(emu: Emulator, lb_arn: str, actions: list[dict[str, Any]], port: int = 80) -> str:
    return emu.elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port, DefaultActions=actions)[
        "Listeners"
    ][0]["ListenerArn"]


def default_actions(emu: Emulator, listener_arn: str) -> list[dict[str, Any]]:
    return emu.elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"]


def rule(emu: Emulator, listener_arn: str, actions: list[dict[str, Any]], priority: int = 10) -> str:
    return emu.elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=priority,
        Conditions=[{"Field": "path-pattern", "Values": [f"/p{priority}"]}],
        Actions=actions,
    )["Rules"][0]["RuleArn"]


def rule_actions(emu: Emulator, rule_arn: str) -> list[dict[str, Any]]:
    return emu.elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]["Actions"]


def v6_address(vpc_block: str, index: int = 1, host: int = 10) -> str:
    return str(ipaddress.ip_network(sixty_four(vpc_block, index)).network_address + host)


def test_k_ipv6_target_groups_names_and_tags(either: Emulator) -> None:
    """No departure: moto already matches AWS (checked on both servers)."""
    elbv2 = either.elbv2
    vpc_id, _ = new_vpc(either.ec2, ipv6=False)
    arn = target_group(either, vpc_id, "web-v6", "ipv6", Tags=[{"Key": "side", "Value": "green"}])
    (group,) = elbv2.describe_target_groups(Names=["web-v6"])["TargetGroups"]
    assert (group["TargetGroupArn"], group["IpAddressType"], group["TargetType"]) == (arn, "ipv6", "ip")
    assert re.match(r"^arn:aws:elasticloadbalancing:us-east-1:\d{12}:targetgroup/web-v6/[0-9a-f]{16}$", arn)

    def tags() -> dict[str, str]:
        (description,) = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        assert description["ResourceArn"] == arn
        return {t["Key"]: t["Value"] for t in description["Tags"]}

    assert tags() == {"side": "green"}
    elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "owner", "Value": "dualstack"}, {"Key": "side", "Value": "blue"}])
    assert tags() == {"side": "blue", "owner": "dualstack"}
    elbv2.remove_tags(ResourceArns=[arn], TagKeys=["owner"])
    assert tags() == {"side": "blue"}
    assert_error("ValidationError", target_group, either, vpc_id, "x" * 33)
    target_group(either, vpc_id, "x" * 32)


def test_k_register_targets_checks_the_address_family(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    vpc_id, block, _ = load_balancer(aws)
    v6 = target_group(aws, vpc_id, "tg-v6", "ipv6")
    v4 = target_group(aws, vpc_id, "tg-v4")
    address6 = v6_address(block)
    for arn, targets in [
        (v6, [{"Id": "10.0.1.5"}]),
        (v6, [{"Id": address6}, {"Id": "10.0.1.5"}]),  # one bad target: nothing is registered
        (v4, [{"Id": address6}]),
        (v4, [{"Id": "i-0123456789abcdef0"}]),
    ]:
        err = assert_error("ValidationError", elbv2.register_targets, TargetGroupArn=arn, Targets=targets)
        assert "IPv" in str(err)
    for arn in (v4, v6):
        assert elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"] == []
    elbv2.register_targets(TargetGroupArn=v6, Targets=[{"Id": address6}])
    elbv2.register_targets(TargetGroupArn=v4, Targets=[{"Id": "10.0.1.5"}])


def test_k_pristine_registers_any_address_family(moto: Emulator) -> None:
    vpc_id, block, _ = load_balancer(moto)
    v6 = target_group(moto, vpc_id, "tg-v6", "ipv6")
    moto.elbv2.register_targets(TargetGroupArn=v6, Targets=[{"Id": "10.0.1.5"}])
    ids = [d["Target"]["Id"] for d in moto.elbv2.describe_target_health(TargetGroupArn=v6)["TargetHealthDescriptions"]]
    assert ids == ["10.0.1.5"]


def health(emu: Emulator, arn: str, **kwargs: Any) -> list[tuple[Any, ...]]:
    descriptions = emu.elbv2.describe_target_health(TargetGroupArn=arn, **kwargs)["TargetHealthDescriptions"]
    return [
        (d["Target"]["Id"], d["Target"].get("Port"), d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in descriptions
    ]


def test_k_targets_are_keyed_by_id_and_port(aws: Emulator) -> None:
    aws.control("POST", "config", {"initial_health_reads": 0})
    vpc_id, block, _ = load_balancer(aws)
    arn = target_group(aws, vpc_id, "tg-v6", "ipv6")
    address = v6_address(block)
    aws.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": address, "Port": 8080}, {"Id": address, "Port": 8081}])
    aws.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": address}])  # the group's port, 80
    assert sorted(health(aws, arn)) == [
        (address, 80, "healthy", None),
        (address, 8080, "healthy", None),
        (address, 8081, "healthy", None),
    ]
    aws.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": address, "Port": 8080}])
    aws.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": address}])
    assert_error("InvalidTarget", aws.elbv2.deregister_targets, TargetGroupArn=arn, Targets=[{"Id": address}])
    health(aws, arn)  # the draining read
    assert health(aws, arn) == [(address, 8081, "healthy", None)]


def test_k_pristine_keeps_one_port_per_target(moto: Emulator) -> None:
    vpc_id, _, _ = load_balancer(moto)
    arn = target_group(moto, vpc_id, "tg-v4")
    moto.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.5", "Port": 8080}, {"Id": "10.0.1.5", "Port": 8081}])
    assert health(moto, arn) == [("10.0.1.5", 8081, "healthy", None)]


def test_k_create_target_group_is_idempotent(aws: Emulator) -> None:
    vpc_id, _ = new_vpc(aws.ec2, ipv6=False)
    arn = target_group(aws, vpc_id, "web", "ipv6")
    assert target_group(aws, vpc_id, "web", "ipv6") == arn  # same settings: the same group
    assert target_group(aws, vpc_id, "web", "ipv6", HealthCheckPath="/") == arn  # the default, given
    assert_error("DuplicateTargetGroupName", target_group, aws, vpc_id, "web", "ipv4")
    assert_error("DuplicateTargetGroupName", target_group, aws, vpc_id, "web", "ipv6", HealthCheckPath="/health")
    assert_error(
        "DuplicateTargetGroupName",
        aws.elbv2.create_target_group,
        Name="web", Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="ip", IpAddressType="ipv6",
    )
    assert [g["TargetGroupArn"] for g in aws.elbv2.describe_target_groups()["TargetGroups"]] == [arn]
    assert_error("ValidationError", target_group, aws, vpc_id, "other", "dualstack")


def test_k_pristine_rejects_an_identical_create(moto: Emulator) -> None:
    vpc_id, _ = new_vpc(moto.ec2, ipv6=False)
    target_group(moto, vpc_id, "web", "ipv6")
    assert_error("DuplicateTargetGroupName", target_group, moto, vpc_id, "web", "ipv6")


def test_k_ipv6_target_groups_need_a_dualstack_load_balancer(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    vpc_id, _, lb = load_balancer(aws)  # ipv4
    blue = target_group(aws, vpc_id, "blue")
    green = target_group(aws, vpc_id, "green", "ipv6")
    assert_error("ValidationError", listener, aws, lb, forward_to(green))
    assert_error("ValidationError", listener, aws, lb, weighted((blue, 100), (green, 0)))
    main = listener(aws, lb, forward_to(blue))
    path = rule(aws, main, forward_to(blue))
    assert_error("ValidationError", elbv2.modify_listener, ListenerArn=main, DefaultActions=weighted((blue, 100), (green, 0)))
    assert_error("ValidationError", rule, aws, main, weighted((blue, 1), (green, 0)), priority=20)
    assert_error("ValidationError", elbv2.modify_rule, RuleArn=path, Actions=forward_to(green))
    assert default_actions(aws, main)[0]["TargetGroupArn"] == blue  # nothing changed

    elbv2.set_ip_address_type(LoadBalancerArn=lb, IpAddressType="dualstack")
    elbv2.modify_listener(ListenerArn=main, DefaultActions=weighted((blue, 100), (green, 0)))
    elbv2.modify_rule(RuleArn=path, Actions=forward_to(green))
    # back to ipv4 only once nothing forwards to the ipv6 group any more
    assert_error("ValidationError", elbv2.set_ip_address_type, LoadBalancerArn=lb, IpAddressType="ipv4")
    elbv2.modify_listener(ListenerArn=main, DefaultActions=forward_to(blue))
    assert_error("ValidationError", elbv2.set_ip_address_type, LoadBalancerArn=lb, IpAddressType="ipv4")
    elbv2.delete_rule(RuleArn=path)
    elbv2.set_ip_address_type(LoadBalancerArn=lb, IpAddressType="ipv4")
    elbv2.delete_target_group(TargetGroupArn=green)


def test_k_pristine_forwards_to_ipv6_groups_on_ipv4_load_balancers(moto: Emulator) -> None:
    vpc_id, _, lb = load_balancer(moto)
    green = target_group(moto, vpc_id, "green", "ipv6")
    main = listener(moto, lb, forward_to(green))
    rule(moto, main, forward_to(green))
    assert describe_lb(moto, lb)["IpAddressType"] == "ipv4"


def test_k_forward_actions_render_as_aws(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    vpc_id, _, lb = load_balancer(aws, "dualstack")
    blue = target_group(aws, vpc_id, "blue")
    green = target_group(aws, vpc_id, "green", "ipv6")
    single = {
        "Type": "forward",
        "TargetGroupArn": blue,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": blue, "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }
    main = listener(aws, lb, forward_to(blue))
    assert default_actions(aws, main) == [single]
    one_group = listener(aws, lb, weighted((blue, 1)), port=81)
    assert default_actions(aws, one_group) == [single]

    elbv2.modify_listener(ListenerArn=main, DefaultActions=weighted((blue, 90), (green, 10)))
    (action,) = default_actions(aws, main)
    assert "TargetGroupArn" not in action
    assert action["ForwardConfig"] == {
        "TargetGroups": [{"TargetGroupArn": blue, "Weight": 90}, {"TargetGroupArn": green, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False},
    }
    rules = elbv2.describe_rules(ListenerArn=main)["Rules"]
    assert [(r["Priority"], r["IsDefault"], r["Actions"]) for r in rules] == [("default", True, [action])]
    assert re.match(r"^arn:aws:elasticloadbalancing:.*:listener-rule/app/lb/[0-9a-f]{16}/[0-9a-f]{16}/[0-9a-f]{16}$", rules[0]["RuleArn"])

    path = rule(aws, main, forward_to(green))
    assert rule_actions(aws, path)[0]["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": green, "Weight": 1}]
    assert rule_actions(aws, path)[0]["TargetGroupArn"] == green


def test_k_pristine_renders_single_forward_without_forward_config(moto: Emulator) -> None:
    vpc_id, _, lb = load_balancer(moto)
    blue = target_group(moto, vpc_id, "blue")
    main = listener(moto, lb, forward_to(blue))
    assert default_actions(moto, main) == [{"Type": "forward", "TargetGroupArn": blue}]


def test_k_weighted_forward_modify_replaces_and_in_use_groups(either: Emulator) -> None:
    """No departure: moto already matches AWS (checked on both servers)."""
    elbv2 = either.elbv2
    vpc_id, _, lb = load_balancer(either)
    blue = target_group(either, vpc_id, "blue")
    green = target_group(either, vpc_id, "green")
    spare = target_group(either, vpc_id, "spare")
    main = listener(either, lb, weighted((blue, 100), (green, 0)))
    assert default_actions(either, main)[0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": blue, "Weight": 100},
        {"TargetGroupArn": green, "Weight": 0},
    ]
    # ModifyListener replaces the whole DefaultActions list
    answer = elbv2.modify_listener(ListenerArn=main, DefaultActions=weighted((blue, 0), (green, 100)))
    (action,) = answer["Listeners"][0]["DefaultActions"]
    assert action["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": blue, "Weight": 0},
        {"TargetGroupArn": green, "Weight": 100},
    ]
    assert "TargetGroupArn" not in action
    assert default_actions(either, main) == [action]

    path = rule(either, main, weighted((spare, 3), (green, 0)))
    answer = elbv2.modify_rule(RuleArn=path, Actions=weighted((spare, 0), (green, 7)))
    expected = [{"TargetGroupArn": spare, "Weight": 0}, {"TargetGroupArn": green, "Weight": 7}]
    assert answer["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"] == expected
    assert rule_actions(either, path)[0]["ForwardConfig"]["TargetGroups"] == expected

    for used in (blue, green, spare):  # weight 0 still counts as used
        assert_error("ResourceInUse", elbv2.delete_target_group, TargetGroupArn=used)
    elbv2.delete_rule(RuleArn=path)
    elbv2.delete_target_group(TargetGroupArn=spare)
    elbv2.modify_listener(ListenerArn=main, DefaultActions=forward_to(green))
    elbv2.delete_target_group(TargetGroupArn=blue)


def test_k_load_balancer_arns_follow_listeners_and_rules(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    vpc_id, _, lb = load_balancer(aws)
    blue = target_group(aws, vpc_id, "blue")
    green = target_group(aws, vpc_id, "green")

    def attached() -> dict[str, list[str]]:
        groups = elbv2.describe_target_groups()["TargetGroups"]
        return {g["TargetGroupName"]: g.get("LoadBalancerArns", []) for g in groups}

    main = listener(aws, lb, forward_to(blue))
    listener(aws, lb, forward_to(blue), port=81)
    path = rule(aws, main, weighted((blue, 1), (green, 0)))
    assert attached() == {"blue": [lb], "green": [lb]}
    by_lb = elbv2.describe_target_groups(LoadBalancerArn=lb)["TargetGroups"]
    assert [g["TargetGroupName"] for g in by_lb] == ["blue", "green"]
    elbv2.delete_rule(RuleArn=path)
    assert attached() == {"blue": [lb], "green": []}
    elbv2.modify_listener(ListenerArn=main, DefaultActions=forward_to(green))
    assert attached() == {"blue": [lb], "green": [lb]}
    # ModifyListener checks that the groups exist, as CreateListener does
    missing = blue.replace("/blue/", "/gone/")
    assert_error("TargetGroupNotFound", elbv2.modify_listener, ListenerArn=main, DefaultActions=forward_to(missing))
    elbv2.delete_load_balancer(LoadBalancerArn=lb)
    assert attached() == {"blue": [], "green": []}


def test_k_pristine_load_balancer_arns_departures(moto: Emulator) -> None:
    elbv2 = moto.elbv2
    vpc_id, _, lb = load_balancer(moto)
    blue = target_group(moto, vpc_id, "blue")
    green = target_group(moto, vpc_id, "green")
    main = listener(moto, lb, forward_to(blue))
    rule(moto, main, forward_to(blue))
    assert elbv2.describe_target_groups(Names=["blue"])["TargetGroups"][0]["LoadBalancerArns"] == [lb, lb]
    elbv2.modify_listener(ListenerArn=main, DefaultActions=forward_to(green))
    assert elbv2.describe_target_groups(Names=["green"])["TargetGroups"][0].get("LoadBalancerArns", []) == []
    missing = blue.replace("/blue/", "/gone/")
    elbv2.modify_listener(ListenerArn=main, DefaultActions=forward_to(missing))  # accepted


# ---------------------------------------------------------------------------
# l. Target health
# ---------------------------------------------------------------------------


def health_setup(emu: Emulator) -> tuple[str, str, str]:
    """(ipv6 target group ARN, two IPv6 addresses of the VPC); a dualstack load balancer forwards to the group."""
    vpc_id, block, lb = load_balancer(emu, "dualstack")
    arn = target_group(emu, vpc_id, "green", "ipv6")
    listener(emu, lb, forward_to(arn))
    return arn, v6_address(block, 1, 10), v6_address(block, 2, 11)


INITIAL = ("initial", "Elb.RegistrationInProgress")
HEALTHY = ("healthy", None)
DRAINING = ("draining", "Target.DeregistrationInProgress")


def states_of(emu: Emulator, arn: str, **kwargs: Any) -> dict[str, tuple[str, str | None]]:
    return {f"{t}:{p}": (s, r) for t, p, s, r in health(emu, arn, **kwargs)}


def test_l_new_targets_are_initial_then_healthy(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    arn, one, two = health_setup(aws)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": one}])
    (description,) = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert description == {
        "Target": {"Id": one, "Port": 80},
        "HealthCheckPort": "80",
        "TargetHealth": {
            "State": "initial",
            "Reason": "Elb.RegistrationInProgress",
            "Description": "Target registration is in progress",
        },
    }
    assert states_of(aws, arn) == {f"{one}:80": HEALTHY}
    assert elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]["TargetHealth"] == {
        "State": "healthy"
    }

    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": two, "Port": 8080}])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": one}])  # already registered: no change
    # a read that does not include a target does not count for it
    assert states_of(aws, arn, Targets=[{"Id": one}]) == {f"{one}:80": HEALTHY}
    assert states_of(aws, arn) == {f"{one}:80": HEALTHY, f"{two}:8080": INITIAL}
    assert states_of(aws, arn, Targets=[{"Id": two, "Port": 8080}]) == {f"{two}:8080": HEALTHY}

    assert aws.control("POST", "config", {"initial_health_reads": 3})["initial_health_reads"] == 3
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": two, "Port": 9090}])
    seen = [states_of(aws, arn, Targets=[{"Id": two, "Port": 9090}])[f"{two}:9090"] for _ in range(4)]
    assert seen == [INITIAL, INITIAL, INITIAL, HEALTHY]
    aws.control("POST", "config", {"initial_health_reads": 0})
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": two, "Port": 7070}])
    assert states_of(aws, arn, Targets=[{"Id": two, "Port": 7070}]) == {f"{two}:7070": HEALTHY}
    aws.control("POST", "reset")
    assert aws.control("GET", "config")["initial_health_reads"] == 1


def test_l_deregistered_targets_drain_once_then_disappear(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    arn, one, two = health_setup(aws)
    aws.control("POST", "config", {"initial_health_reads": 0})
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": one}, {"Id": two}])
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": one}])
    assert states_of(aws, arn) == {f"{one}:80": DRAINING, f"{two}:80": HEALTHY}
    assert states_of(aws, arn) == {f"{two}:80": HEALTHY}
    assert states_of(aws, arn, Targets=[{"Id": one}]) == {f"{one}:80": ("unused", "Target.NotRegistered")}
    # registering again starts over
    aws.control("POST", "config", {"initial_health_reads": 1})
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": one}])
    assert states_of(aws, arn)[f"{one}:80"] == INITIAL


def test_l_pristine_targets_are_healthy_at_once(moto: Emulator) -> None:
    elbv2 = moto.elbv2
    vpc_id, _, _ = load_balancer(moto)
    arn = target_group(moto, vpc_id, "blue")
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.5"}, {"Id": "10.0.1.6"}])
    (first, _) = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert first["TargetHealth"] == {"State": "healthy"}
    assert first["HealthCheckPort"] == "traffic-port"
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.5"}])
    assert health(moto, arn) == [("10.0.1.6", 80, "healthy", None)]  # no draining read


def test_l_target_health_overrides(aws: Emulator) -> None:
    elbv2 = aws.elbv2
    arn, one, two = health_setup(aws)
    aws.control("POST", "config", {"initial_health_reads": 0})
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": one}, {"Id": one, "Port": 8080}])

    answer = aws.control("POST", "target-health", {"target_group": "green", "target": "*", "state": "unhealthy"})
    assert answer == {"overrides": 1, "target_groups": [arn]}
    unhealthy = ("unhealthy", "Target.FailedHealthChecks")
    assert states_of(aws, arn) == {f"{one}:80": unhealthy, f"{one}:8080": unhealthy}
    # "*" covers targets registered later too
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": two}])
    assert states_of(aws, arn)[f"{two}:80"] == unhealthy

    # a specific target (by ARN, on one port) beats "*"; reason/description as given
    aws.control(
        "POST",
        "target-health",
        {"target_group": arn, "target": one, "port": 8080, "state": "unhealthy", "reason": "Target.Timeout",
         "description": "Request timed out"},
    )
    aws.control("POST", "target-health", {"target_group": arn, "target": two, "state": "healthy"})
    descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    by_target = {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"] for d in descriptions}
    assert by_target == {
        (one, 80): {"State": "unhealthy", "Reason": "Target.FailedHealthChecks", "Description": "Health checks failed"},
        (one, 8080): {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"},
        (two, 80): {"State": "healthy"},
    }
    listed = aws.control("GET", "target-health")["overrides"]
    assert [(o["target_group"], o["target"], o["port"], o["state"]) for o in listed] == [
        ("green", "*", None, "unhealthy"),
        (arn, one, 8080, "unhealthy"),
        (arn, two, None, "healthy"),
    ]
    # a later override for the same target replaces it
    aws.control("POST", "target-health", {"target_group": arn, "target": two, "state": "unused"})
    assert states_of(aws, arn)[f"{two}:80"] == ("unused", "Target.NotInUse")
    assert len(aws.control("GET", "target-health")["overrides"]) == 3

    # "*" does not hide draining
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": one}])
    assert states_of(aws, arn)[f"{one}:80"] == DRAINING

    assert aws.control("POST", "target-health/clear") == {"ok": True}
    assert aws.control("GET", "target-health") == {"overrides": []}
    assert states_of(aws, arn) == {f"{one}:8080": HEALTHY, f"{two}:80": HEALTHY}

    aws.control("POST", "target-health", {"target_group": "green", "target": "*", "state": "unavailable"})
    aws.control("POST", "reset")
    assert aws.control("GET", "target-health") == {"overrides": []}


def test_l_target_health_control_errors(aws: Emulator, moto: Emulator) -> None:
    for body in (
        {"target": "*", "state": "healthy"},
        {"target_group": "g", "state": "healthy"},
        {"target_group": "g", "target": "*", "state": "sick"},
        {"target_group": "g", "target": "*", "state": "healthy", "port": "80"},
    ):
        with pytest.raises(urllib.error.HTTPError) as info:
            aws.control("POST", "target-health", body)
        assert info.value.code == 400, body
    with pytest.raises(urllib.error.HTTPError) as info:
        aws.control("POST", "config", {"initial_health_reads": -1})
    assert info.value.code == 400
    # an override for a group that does not exist (yet) is accepted
    assert aws.control("POST", "target-health", {"target_group": "later", "target": "*", "state": "healthy"}) == {
        "overrides": 1,
        "target_groups": [],
    }
    with pytest.raises(urllib.error.HTTPError) as info:
        moto.control("POST", "target-health", {"target_group": "g", "target": "*", "state": "healthy"})
    assert info.value.code == 409


def test_l_initial_health_reads_flag() -> None:
    emulator = Emulator("--initial-health-reads", "2")
    try:
        assert emulator.control("GET", "config") == {
            "pristine": False,
            "associating_reads": 1,
            "initial_health_reads": 2,
        }
        arn, one, _ = health_setup(emulator)
        emulator.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": one}])
        assert [states_of(emulator, arn)[f"{one}:80"] for _ in range(3)] == [INITIAL, INITIAL, HEALTHY]
    finally:
        assert emulator.stop() == 0


# ---------------------------------------------------------------------------
# IAM denial emulation (/_emulator/deny)
# ---------------------------------------------------------------------------


def test_deny_ec2_action_with_and_without_dry_run(aws: Emulator) -> None:
    v4_vpc, subnet_id, route_table, igw = ipv6_dry_run_setup(aws)
    assert aws.control("POST", "deny", {"actions": ["ec2:CreateRoute"]}) == {"actions": ["ec2:CreateRoute"]}
    aws.control("POST", "calls/clear")
    route = {"RouteTableId": route_table, "DestinationIpv6CidrBlock": "::/0", "GatewayId": igw}

    for dry_run in (True, False):
        err = error_of(aws.ec2.create_route, DryRun=dry_run, **route)
        assert (code_of(err), status_of(err)) == ("UnauthorizedOperation", 403)
        assert err.response["Error"]["Message"] == "You are not authorized to perform this operation."
    assert default_v6_route(aws.ec2, route_table) == []

    # Other actions are allowed: a dry run still answers DryRunOperation, a real call applies.
    err = error_of(aws.ec2.create_egress_only_internet_gateway, VpcId=v4_vpc, DryRun=True)
    assert code_of(err) == "DryRunOperation"
    aws.ec2.associate_vpc_cidr_block(VpcId=v4_vpc, AmazonProvidedIpv6CidrBlock=True)
    assert len(vpc_ipv6(aws.ec2, v4_vpc)) == 1

    calls = [c for c in aws.control("GET", "calls")["calls"] if c["action"] == "CreateRoute"]
    assert calls == [
        {"service": "ec2", "action": "CreateRoute", "mutating": False, "status": 403, "dry_run": True, "denied": True},
        {"service": "ec2", "action": "CreateRoute", "mutating": False, "status": 403, "denied": True},
    ]
    assert subnet_id


def test_deny_elbv2_action(aws: Emulator) -> None:
    subnets = load_balancer_subnets(aws, ipv6=True)
    arn = aws.elbv2.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    aws.control("POST", "deny", {"actions": ["elasticloadbalancing:SetIpAddressType"]})
    err = error_of(aws.elbv2.set_ip_address_type, LoadBalancerArn=arn, IpAddressType="dualstack")
    assert (code_of(err), status_of(err)) == ("AccessDenied", 403)
    assert err.response["Error"]["Message"] == (
        "User: arn:aws:iam::123456789012:user/test is not authorized to perform: "
        "elasticloadbalancing:SetIpAddressType"
    )
    assert err.response["Error"]["Type"] == "Sender"  # ELBv2's error shape
    assert describe_lb(aws, arn)["IpAddressType"] == "ipv4"
    assert aws.control("GET", "calls")["calls"][-2] == {
        "service": "elasticloadbalancing",
        "action": "SetIpAddressType",
        "mutating": False,
        "status": 403,
        "denied": True,
    }

    # reset allows it again
    assert aws.control("GET", "deny") == {"actions": ["elasticloadbalancing:SetIpAddressType"]}
    aws.control("POST", "reset")
    assert aws.control("GET", "deny") == {"actions": []}
    subnets = load_balancer_subnets(aws, ipv6=True)
    arn = aws.elbv2.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    assert aws.elbv2.set_ip_address_type(LoadBalancerArn=arn, IpAddressType="dualstack")["IpAddressType"] == "dualstack"


def test_deny_wildcards_service_match_and_clear(aws: Emulator) -> None:
    vpc_id, _ = new_vpc(aws.ec2, ipv6=False)
    answer = aws.control("POST", "deny", {"actions": ["EC2:create*", "elasticloadbalancing:DescribeTags"]})
    assert answer == {"actions": ["EC2:create*", "elasticloadbalancing:DescribeTags"]}
    aws.control("POST", "deny", {"actions": ["ec2:CREATE*", "ec2:DeleteVpc"]})  # duplicates are kept once
    assert aws.control("GET", "deny")["actions"] == ["EC2:create*", "elasticloadbalancing:DescribeTags", "ec2:DeleteVpc"]
    assert code_of(error_of(aws.ec2.create_vpc, CidrBlock="10.9.0.0/16")) == "UnauthorizedOperation"
    assert code_of(error_of(aws.ec2.create_internet_gateway)) == "UnauthorizedOperation"
    assert code_of(error_of(aws.ec2.delete_vpc, VpcId=vpc_id)) == "UnauthorizedOperation"
    aws.ec2.describe_tags()  # ec2:DescribeTags is another action
    assert code_of(error_of(aws.elbv2.describe_tags, ResourceArns=["arn:aws:elasticloadbalancing:x"])) == "AccessDenied"
    assert [v["VpcId"] for v in aws.ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc_id] == [vpc_id]

    assert aws.control("POST", "deny/clear") == {"ok": True}
    assert aws.control("GET", "deny") == {"actions": []}
    aws.ec2.delete_vpc(VpcId=vpc_id)


def test_pristine_honours_denials(moto: Emulator) -> None:
    moto.control("POST", "deny", {"actions": ["ec2:CreateVpc"]})
    for dry_run in (True, False):
        err = error_of(moto.ec2.create_vpc, CidrBlock="10.0.0.0/16", DryRun=dry_run)
        assert (code_of(err), status_of(err)) == ("UnauthorizedOperation", 403)
    assert moto.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"] == []


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
    assert moto.control("GET", "config") == {"pristine": True, "associating_reads": 1, "initial_health_reads": 1}
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
        ("POST", "deny", {}, 400),
        ("POST", "deny", {"actions": []}, 400),
        ("POST", "deny", {"actions": ["CreateRoute"]}, 400),
        ("POST", "deny", {"actions": [42]}, 400),
        ("GET", "deny/clear", None, 405),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            aws.control(method, path, body)
        assert info.value.code == code, (method, path)


def test_calls_log_names_json_protocol_actions(aws: Emulator) -> None:
    """ECS speaks a JSON protocol: its action is in the X-Amz-Target header,
    not an Action parameter, and the calls log must still name it."""
    aws.control("POST", "calls/clear")
    ecs = aws.client("ecs")
    ecs.list_clusters()
    ecs.create_cluster(clusterName="logged")
    calls = [c for c in aws.control("GET", "calls")["calls"] if c["service"] == "ecs"]
    assert [c["action"] for c in calls] == ["ListClusters", "CreateCluster"]


def test_denied_ecs_action_answers_in_the_json_protocol(aws: Emulator) -> None:
    """ECS speaks JSON: a denied action is AccessDeniedException (HTTP 400)
    that botocore parses, not an XML body."""
    aws.control("POST", "deny", {"actions": ["ecs:ListClusters"]})
    try:
        err = assert_error("AccessDeniedException", aws.client("ecs").list_clusters)
        assert status_of(err) == 400
        assert "ecs:ListClusters" in err.response["Error"]["Message"]
    finally:
        aws.control("POST", "deny/clear")
