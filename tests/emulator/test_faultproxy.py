"""Tests for the fault-injecting proxy (tests/emulator/faultproxy.py).

One launcher (the corrected emulator) and one proxy in front of it run per
module (subprocesses on loopback, --port 0, ready lines parsed). boto3 talks
to the proxy (``via``), with SDK retries off so every injected fault surfaces
as is, and straight to the launcher (``direct``) to check what was really
applied. Every test starts from POST /_proxy/reset and POST /_emulator/reset.
"""

from __future__ import annotations

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
from botocore.exceptions import ClientError, HTTPClientError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import faultproxy  # noqa: E402

LAUNCHER = os.path.join(HERE, "launcher.py")
PROXY = os.path.join(HERE, "faultproxy.py")
EMULATOR_READY = re.compile(r"^dualstack-emulator listening on (http://127\.0\.0\.1:\d+)$")
PROXY_READY = re.compile(r"^dualstack-faultproxy listening on (http://127\.0\.0\.1:\d+)$")
REGION = "us-east-1"


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------


def start(args: list[str], ready: re.Pattern[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # never let an undrained pipe block the server
        text=True,
    )
    watchdog = threading.Timer(30, proc.kill)  # don't hang if it dies before its line
    watchdog.start()
    try:
        line = proc.stdout.readline().rstrip("\n")
    finally:
        watchdog.cancel()
    match = ready.match(line)
    assert match, f"unexpected ready line: {line!r}"
    return proc, match.group(1)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # No SDK retries: injected throttles, 5xx and drops must surface as-is. (botocore's
        # "max_attempts" counts retries, not attempts: {"max_attempts": 1} would retry once.)
        # S3 path-style at the endpoint, as the tool addresses it.
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            read_timeout=30,
            connect_timeout=5,
            s3={"addressing_style": "path"},
        ),
    )


def http(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Stack:
    def __init__(self) -> None:
        self.emulator, self.emulator_url = start([LAUNCHER, "--port", "0"], EMULATOR_READY)
        try:
            self.proxy, self.proxy_url = start([PROXY, "--upstream", self.emulator_url, "--port", "0"], PROXY_READY)
        except BaseException:
            stop(self.emulator)
            raise
        self.via_ec2 = client("ec2", self.proxy_url)
        self.via_elbv2 = client("elbv2", self.proxy_url)
        self.direct_ec2 = client("ec2", self.emulator_url)
        self.direct_elbv2 = client("elbv2", self.emulator_url)
        self.via_s3 = client("s3", self.proxy_url)
        self.direct_s3 = client("s3", self.emulator_url)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http(f"{self.proxy_url}/_proxy/{path}", method, body)
        assert status == 200, f"{method} /_proxy/{path}: {status} {answer}"
        return answer

    def scenario(self, **scenario: Any) -> dict[str, Any]:
        return self.control("POST", "scenario", scenario)

    def calls(self) -> list[dict[str, Any]]:
        return self.control("GET", "calls")["calls"]

    def outcomes(self) -> list[tuple[str, str | None, int | None]]:
        return [(c["action"], c["outcome"], c["status"]) for c in self.calls()]

    def vpcs_with(self, cidr: str) -> list[str]:
        """VPC ids with that CIDR, read straight from the emulator."""
        return [v["VpcId"] for v in self.direct_ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == cidr]

    def wait_held(self) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            hold = self.control("GET", "hold")
            if hold["held"]:
                return hold
            time.sleep(0.02)
        raise AssertionError("no call was held")


@pytest.fixture(scope="module")
def stack() -> Any:
    running = Stack()
    yield running
    stop(running.proxy)
    stop(running.emulator)


@pytest.fixture
def net(stack: Stack) -> Stack:
    stack.control("POST", "reset")
    status, _ = http(f"{stack.emulator_url}/_emulator/reset", "POST")
    assert status == 200
    return stack


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    """(AWS error code, HTTP status) of a call expected to fail."""
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


class Background:
    """A call run on its own thread (it will be held by the proxy)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as err:  # noqa: BLE001
            self.error = err

    def join(self) -> "Background":
        self.thread.join(30)
        assert not self.thread.is_alive(), "the held call never finished"
        return self


# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------


def test_classify_by_version() -> None:
    assert faultproxy.classify("", b"Action=CreateRoute&Version=2016-11-15") == ("ec2", "CreateRoute")
    assert faultproxy.classify("", b"Action=DescribeRules&Version=2015-12-01") == ("elbv2", "DescribeRules")
    auth = "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host"
    assert faultproxy.classify("Action=ListQueues", b"", auth) == ("sqs", "ListQueues")
    assert faultproxy.classify("", b"") == ("unknown", None)
    # Route 53 is REST: the method and path name the action.
    assert faultproxy.classify("", b"<xml/>", "", "", "POST", "/2013-04-01/hostedzone/Z1/rrset") == ("route53", "ChangeResourceRecordSets")
    assert faultproxy.classify("", b"", "", "", "GET", "/2013-04-01/hostedzone/Z1/rrset?maxitems=100") == ("route53", "ListResourceRecordSets")
    assert faultproxy.classify("", b"", "", "", "GET", "/2013-04-01/change/C1") == ("route53", "GetChange")


def test_new_ids_are_those_absent_from_the_request() -> None:
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
    rule = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
        "listener-rule/app/lb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
    )
    answer = (
        f"<x><RuleArn>{rule}</RuleArn><TargetGroupArn>{tg}</TargetGroupArn>"
        "<a>eigw-0123456789abcdef0</a><b>sgr-0abc1234</b><c>subnet-cidr-assoc-0f00</c>"
        "<d>vpc-cidr-assoc-0e00</d><e>vpc-0123</e></x>"
    ).encode()
    request = b"Action=CreateRule&TargetGroupArn=" + tg.replace(":", "%3A").replace("/", "%2F").encode()
    assert faultproxy.new_ids(answer, request) == {
        rule: "rule",
        "eigw-0123456789abcdef0": "eigw",
        "sgr-0abc1234": "sgr",
        "subnet-cidr-assoc-0f00": "subnet_assoc",
        "vpc-cidr-assoc-0e00": "vpc_assoc",
    }


# ---------------------------------------------------------------------------
# Process, forwarding, control API
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_stdout_line_options_and_clean_exit(stack: Stack, tmp_path: Any, sig: int) -> None:
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps({"throttle_rate": 0.5, "only_actions": ["CreateRoute"]}))
    proc, url = start(
        [PROXY, "--upstream", stack.emulator_url, "--latency-ms", "25", "--seed", "9"]
        + ["--scenario", str(scenario_file)],
        PROXY_READY,
    )
    try:
        status, scenario = http(f"{url}/_proxy/scenario")
        assert status == 200
        assert scenario["latency_ms"] == 25 and scenario["seed"] == 9
        assert scenario["throttle_rate"] == 0.5 and scenario["only_actions"] == ["CreateRoute"]
        http(f"{url}/_proxy/scenario", "POST", {})
        _, scenario = http(f"{url}/_proxy/scenario")
        assert scenario["latency_ms"] == 25 and scenario["throttle_rate"] == 0.0
        http(f"{url}/_proxy/reset", "POST")  # back to the command line's scenario
        _, scenario = http(f"{url}/_proxy/scenario")
        assert scenario["throttle_rate"] == 0.5
    finally:
        assert stop(proc, sig) == 0
    assert proc.stdout.read() == ""


def test_forwards_and_counts(net: Stack) -> None:
    vpc = net.via_ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    assert net.vpcs_with("10.10.0.0/16") == [vpc]  # really applied upstream
    assert [v["VpcId"] for v in net.via_ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]] == [vpc]
    assert net.via_elbv2.describe_load_balancers()["LoadBalancers"] == []
    status, emulator_calls = http(f"{net.proxy_url}/_emulator/calls")  # passed through, not counted
    assert status == 200 and "calls" in emulator_calls

    keys = ("seq", "service", "action", "mutating", "outcome", "status", "applied")
    assert net.calls() == [
        dict(zip(keys, (1, "ec2", "CreateVpc", True, "forwarded", 200, True))),
        dict(zip(keys, (2, "ec2", "DescribeVpcs", False, "forwarded", 200, False))),
        dict(zip(keys, (3, "elbv2", "DescribeLoadBalancers", False, "forwarded", 200, False))),
    ]
    assert net.control("GET", "stats") == {
        "by_action": {
            "ec2:CreateVpc": {"calls": 1, "applied": 1, "faults": 0},
            "ec2:DescribeVpcs": {"calls": 1, "applied": 0, "faults": 0},
            "elbv2:DescribeLoadBalancers": {"calls": 1, "applied": 0, "faults": 0},
        },
        "total": 3,
        "mutating": 1,
        "applied_mutating": 1,
        "faults": 0,
    }
    net.control("POST", "calls/clear")
    assert net.calls() == []
    assert net.control("GET", "stats")["total"] == 0
    net.via_ec2.describe_vpcs()
    assert net.calls()[0]["seq"] == 1


def test_control_api_rejects_bad_input(net: Stack) -> None:
    base = f"{net.proxy_url}/_proxy"
    for bad in (
        {"throttle_rat": 1.0},
        {"throttle_rate": 1.5},
        {"server_error_status": 502},
        {"lose_response": {"mutating": "twice"}},
        {"lose_response": {"mutating": "once", "mode": "hang"}},
        {"throttle_burst": {"after": -1, "count": 1}},
        {"only_actions": "CreateRoute"},
    ):
        status, answer = http(f"{base}/scenario", "POST", bad)
        assert status == 400 and "error" in answer, bad
    assert http(f"{base}/hold", "POST", {"mutation": 0})[0] == 400
    assert http(f"{base}/hold", "POST", {"mutation": 1, "when": "during"})[0] == 400
    assert http(f"{base}/nope")[0] == 404
    assert http(f"{base}/calls", "DELETE")[0] == 405
    scenario = net.control("GET", "scenario")
    assert scenario["throttle_rate"] == 0.0 and scenario["lose_response"] is None  # nothing was set
    assert net.control("GET", "hold") == {"armed": False, "held": False, "action": None, "mutation": None, "when": None}


# ---------------------------------------------------------------------------
# Throttling and server errors
# ---------------------------------------------------------------------------


def test_throttle_rate_one_throttles_unforwarded(net: Stack) -> None:
    net.scenario(throttle_rate=1.0)
    assert error_of(lambda: net.via_ec2.create_vpc(CidrBlock="10.11.0.0/16")) == ("RequestLimitExceeded", 503)
    assert error_of(lambda: net.via_elbv2.describe_load_balancers()) == ("Throttling", 400)
    assert net.vpcs_with("10.11.0.0/16") == []  # not applied
    assert net.outcomes() == [("CreateVpc", "throttled", 503), ("DescribeLoadBalancers", "throttled", 400)]
    stats = net.control("GET", "stats")
    assert (stats["faults"], stats["applied_mutating"]) == (2, 0)


def test_throttle_rate_is_seeded(net: Stack) -> None:
    def run() -> list[bool]:
        net.scenario(seed=42, throttle_rate=0.3)
        pattern = []
        for _ in range(100):
            try:
                net.via_ec2.describe_vpcs()
                pattern.append(False)
            except ClientError as err:
                assert err.response["Error"]["Code"] == "RequestLimitExceeded"
                pattern.append(True)
        return pattern

    first = run()
    assert 15 <= sum(first) <= 45
    assert run() == first
    assert [o == "throttled" for _, o, _ in net.outcomes()].count(True) == 2 * sum(first)


def test_throttle_burst(net: Stack) -> None:
    net.scenario(throttle_burst={"after": 3, "count": 2})
    results = []
    for i in range(8):
        call = net.via_ec2.describe_vpcs if i % 2 == 0 else net.via_elbv2.describe_load_balancers
        try:
            call()
            results.append(None)
        except ClientError as err:
            results.append(err.response["Error"]["Code"])
    # Calls 4 (elbv2) and 5 (ec2) are throttled, in each service's own terms.
    assert results == [None, None, None, "Throttling", "RequestLimitExceeded", None, None, None]


@pytest.mark.parametrize(
    "status, ec2_code, elbv2_code",
    [(500, "InternalError", "InternalFailure"), (503, "ServiceUnavailable", "ServiceUnavailable")],
)
def test_server_error_is_not_applied(net: Stack, status: int, ec2_code: str, elbv2_code: str) -> None:
    net.scenario(server_error_rate=1.0, server_error_status=status)
    assert error_of(lambda: net.via_ec2.create_vpc(CidrBlock="10.12.0.0/16")) == (ec2_code, status)
    assert error_of(lambda: net.via_elbv2.describe_target_groups()) == (elbv2_code, status)
    assert net.vpcs_with("10.12.0.0/16") == []
    assert [o for _, o, _ in net.outcomes()] == ["server_error", "server_error"]


# ---------------------------------------------------------------------------
# Lost responses
# ---------------------------------------------------------------------------


def test_lose_response_500_once(net: Stack) -> None:
    net.scenario(lose_response={"mutating": "once", "mode": "500"})
    assert error_of(lambda: net.via_ec2.create_vpc(CidrBlock="10.13.0.0/16")) == ("InternalError", 500)
    assert len(net.vpcs_with("10.13.0.0/16")) == 1  # applied, though the client heard a 500
    net.via_ec2.describe_vpcs()  # reads are never lost
    net.via_ec2.create_vpc(CidrBlock="10.13.0.0/16")  # the identical request passes
    assert len(net.vpcs_with("10.13.0.0/16")) == 2
    assert error_of(lambda: net.via_ec2.create_vpc(CidrBlock="10.14.0.0/16"))[0] == "InternalError"  # a new one is lost
    assert net.outcomes() == [
        ("CreateVpc", "lost_500", 500),
        ("DescribeVpcs", "forwarded", 200),
        ("CreateVpc", "forwarded", 200),
        ("CreateVpc", "lost_500", 500),
    ]
    stats = net.control("GET", "stats")
    assert stats["by_action"]["ec2:CreateVpc"] == {"calls": 3, "applied": 3, "faults": 2}


def test_lose_response_500_elbv2(net: Stack) -> None:
    vpc = net.direct_ec2.create_vpc(CidrBlock="10.15.0.0/16")["Vpc"]["VpcId"]
    net.scenario(lose_response={"mutating": 1.0, "mode": "500"})
    code = error_of(lambda: net.via_elbv2.create_target_group(Name="lost", Protocol="HTTP", Port=80, VpcId=vpc))
    assert code == ("InternalFailure", 500)
    assert [g["TargetGroupName"] for g in net.direct_elbv2.describe_target_groups()["TargetGroups"]] == ["lost"]


def test_lose_response_drop(net: Stack) -> None:
    net.scenario(lose_response={"mutating": 1.0, "mode": "drop"})
    with pytest.raises(HTTPClientError):  # botocore's ConnectionClosedError
        net.via_ec2.create_vpc(CidrBlock="10.16.0.0/16")
    assert len(net.vpcs_with("10.16.0.0/16")) == 1  # applied all the same
    net.via_ec2.describe_vpcs()  # the next call gets a new connection
    assert net.outcomes() == [("CreateVpc", "dropped", None), ("DescribeVpcs", "forwarded", 200)]
    assert net.control("GET", "stats")["applied_mutating"] == 1


def test_only_actions_limits_faults(net: Stack) -> None:
    vpc = net.via_ec2.create_vpc(CidrBlock="10.17.0.0/16")["Vpc"]["VpcId"]
    net.scenario(
        lose_response={"mutating": 1.0},
        throttle_burst={"after": 0, "count": 1},
        only_actions=["CreateSecurityGroup"],
    )
    net.via_ec2.create_vpc(CidrBlock="10.18.0.0/16")  # not in only_actions: untouched
    make = lambda: net.via_ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc)  # noqa: E731
    assert error_of(make) == ("RequestLimitExceeded", 503)  # the burst counts only CreateSecurityGroup
    assert error_of(make) == ("InternalError", 500)  # applied, answer lost
    assert [o for _, o, _ in net.outcomes()] == ["forwarded", "forwarded", "throttled", "lost_500"]


# ---------------------------------------------------------------------------
# Not found after create
# ---------------------------------------------------------------------------


def test_not_found_after_create_target_group(net: Stack) -> None:
    vpc = net.direct_ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    net.scenario(not_found_after_create={"reads": 2})
    arn = net.via_elbv2.create_target_group(Name="fresh", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    by_arn = lambda: net.via_elbv2.describe_target_groups(TargetGroupArns=[arn])  # noqa: E731
    assert net.via_elbv2.describe_target_groups(Names=["fresh"])["TargetGroups"]  # does not name the ARN
    assert error_of(by_arn) == ("TargetGroupNotFound", 400)
    assert error_of(by_arn) == ("TargetGroupNotFound", 400)
    assert by_arn()["TargetGroups"][0]["TargetGroupArn"] == arn
    assert by_arn()["TargetGroups"][0]["TargetGroupArn"] == arn
    assert [o for _, o, _ in net.outcomes()] == ["forwarded", "forwarded"] + ["not_found"] * 2 + ["forwarded"] * 2


def test_not_found_after_create_egress_only_gateway(net: Stack) -> None:
    vpc = net.direct_ec2.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    net.scenario(not_found_after_create={"reads": 1})
    gateway = net.via_ec2.create_egress_only_internet_gateway(VpcId=vpc)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"
    ]
    def read() -> Any:
        return net.via_ec2.describe_egress_only_internet_gateways(EgressOnlyInternetGatewayIds=[gateway])

    assert error_of(read) == ("InvalidGatewayID.NotFound", 400)
    assert [g["EgressOnlyInternetGatewayId"] for g in read()["EgressOnlyInternetGateways"]] == [gateway]


# ---------------------------------------------------------------------------
# Holds
# ---------------------------------------------------------------------------


def test_hold_before_discards(net: Stack) -> None:
    net.control("POST", "hold", {"mutation": 1, "when": "before"})
    held = Background(lambda: client("ec2", net.proxy_url).create_vpc(CidrBlock="10.30.0.0/16"))
    assert net.wait_held()["action"] == "CreateVpc"
    assert net.via_ec2.describe_vpcs()["Vpcs"]  # other calls go through meanwhile
    assert net.vpcs_with("10.30.0.0/16") == []  # held before being forwarded
    assert net.control("POST", "release", {}) == {"released": True}
    assert isinstance(held.join().error, HTTPClientError)  # connection closed, no answer
    assert net.vpcs_with("10.30.0.0/16") == []  # discarded, never applied
    assert net.outcomes() == [("CreateVpc", "discarded", None), ("DescribeVpcs", "forwarded", 200)]
    assert net.control("GET", "hold")["armed"] is False


def test_hold_before_forward_on_release(net: Stack) -> None:
    net.control("POST", "hold", {"mutation": 1, "when": "before"})
    held = Background(lambda: client("ec2", net.proxy_url).create_vpc(CidrBlock="10.31.0.0/16"))
    net.wait_held()
    assert net.vpcs_with("10.31.0.0/16") == []
    net.control("POST", "release", {"forward": True})
    assert held.join().error is None
    assert net.vpcs_with("10.31.0.0/16") == [held.result["Vpc"]["VpcId"]]


def test_hold_after_applies_then_delivers(net: Stack) -> None:
    net.control("POST", "hold", {"mutation": 2, "when": "after"})
    net.via_ec2.create_vpc(CidrBlock="10.32.0.0/16")  # the 1st mutating call passes
    held = Background(lambda: client("ec2", net.proxy_url).create_vpc(CidrBlock="10.33.0.0/16"))
    assert net.wait_held() == {"armed": True, "held": True, "action": "CreateVpc", "mutation": 2, "when": "after"}
    applied = net.vpcs_with("10.33.0.0/16")
    assert len(applied) == 1  # applied upstream while the answer is held
    assert net.via_ec2.describe_vpcs(VpcIds=applied)["Vpcs"]
    assert held.thread.is_alive()
    net.control("POST", "release", {})
    assert held.join().error is None
    assert held.result["Vpc"]["VpcId"] == applied[0]  # the real answer, delivered
    assert [o for _, o, _ in net.outcomes()] == ["forwarded", "forwarded", "forwarded"]
    assert net.control("GET", "stats")["applied_mutating"] == 2


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------


def test_latency_is_added_per_call_and_overlaps(net: Stack) -> None:
    clients = [client("ec2", net.proxy_url) for _ in range(4)]

    def together() -> float:
        barrier = threading.Barrier(5)

        def one(c: Any) -> None:
            barrier.wait()
            c.describe_vpcs()

        threads = [threading.Thread(target=one, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        barrier.wait()
        began = time.monotonic()
        for t in threads:
            t.join()
        return time.monotonic() - began

    together()  # warm up: connections open, clients loaded
    baseline = together()
    net.scenario(latency_ms=100)
    began = time.monotonic()
    net.via_ec2.describe_vpcs()
    assert time.monotonic() - began >= 0.1
    elapsed = together()
    assert 0.1 <= elapsed < 0.25 + baseline, (elapsed, baseline)  # 4 serialized calls would take >= 0.4


def test_classify_names_json_protocol_actions() -> None:
    from faultproxy import classify

    auth = "AWS4-HMAC-SHA256 Credential=AK/20260101/ap-northeast-1/ecs/aws4_request, SignedHeaders=host, Signature=x"
    assert classify("", b"{}", auth, "AmazonEC2ContainerServiceV20141113.ListClusters") == ("ecs", "ListClusters")
    assert classify("", b"Action=DescribeVpcs&Version=2016-11-15", "", "")[1] == "DescribeVpcs"


# ---------------------------------------------------------------------------
# S3 (the tool's journal and lease lock)
# ---------------------------------------------------------------------------

BUCKET = "dualstack-state"
LOCK = "runs/prod-vpc/lock.json"
JOURNAL = "runs/prod-vpc/journal/00000000000000000001.json"
CONFLICT = "A conflicting conditional operation is currently in progress against this resource. Please try again."


def raw_s3_error(s3: Any, call: Callable[[], Any]) -> tuple[int, bytes]:
    """(status, raw body) of a failing S3 call."""
    seen: dict[str, Any] = {}

    def capture(http_response: Any, **_: Any) -> None:
        seen["status"], seen["body"] = http_response.status_code, http_response.content

    s3.meta.events.register("after-call", capture)
    try:
        with pytest.raises(ClientError):
            call()
    finally:
        s3.meta.events.unregister("after-call", capture)
    return seen["status"], seen["body"]


def keys_in(net: Stack) -> list[str]:
    """The bucket's keys, read straight from the emulator."""
    return [o["Key"] for o in net.direct_s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_classify_names_s3_rest_calls() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"
    path = f"/{BUCKET}/{JOURNAL}"
    for method, target, query, action in (
        ("PUT", path, "", "PutObject"),
        ("GET", path, "", "GetObject"),
        ("HEAD", path, "", "HeadObject"),
        ("DELETE", path, "", "DeleteObject"),
        ("GET", f"/{BUCKET}", "list-type=2&prefix=runs%2F", "ListObjectsV2"),
        ("PUT", f"/{BUCKET}", "", "CreateBucket"),
        ("HEAD", f"/{BUCKET}", "", "HeadBucket"),
    ):
        # The body of a PutObject is never read as a query: a journal may hold anything.
        body = b"Action=CreateVpc&Version=2016-11-15" if method == "PUT" else b""
        assert faultproxy.classify(query, body, auth, "", method, target) == ("s3", action), (method, target)
    assert faultproxy.s3_request("", auth, "PUT", path, {"If-None-Match": "*"}).conditional is True
    assert faultproxy.s3_request("", auth, "PUT", path, {}).conditional is False
    assert faultproxy.s3_request("", auth, "DELETE", path, {"If-Match": '"e"'}).conditional is True
    assert faultproxy.s3_request("", "", "GET", path) is None  # unsigned, no S3 host: not S3


def test_s3_calls_are_forwarded_and_counted(net: Stack) -> None:
    net.via_s3.create_bucket(Bucket=BUCKET)
    etag = net.via_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"lease", IfNoneMatch="*")["ETag"]
    assert net.via_s3.get_object(Bucket=BUCKET, Key=LOCK)["Body"].read() == b"lease"
    assert net.via_s3.head_object(Bucket=BUCKET, Key=LOCK)["ETag"] == etag
    assert [o["Key"] for o in net.via_s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["Contents"]] == [LOCK]
    net.via_s3.delete_object(Bucket=BUCKET, Key=LOCK, IfMatch=etag)
    assert keys_in(net) == []
    assert [(c["service"], c["action"], c["mutating"], c["outcome"], c["status"], c["applied"]) for c in net.calls()] == [
        ("s3", "CreateBucket", True, "forwarded", 200, True),
        ("s3", "PutObject", True, "forwarded", 200, True),
        ("s3", "GetObject", False, "forwarded", 200, False),
        ("s3", "HeadObject", False, "forwarded", 200, False),
        ("s3", "ListObjectsV2", False, "forwarded", 200, False),
        ("s3", "DeleteObject", True, "forwarded", 204, True),
    ]
    stats = net.control("GET", "stats")
    assert stats["by_action"] == {
        "s3:CreateBucket": {"calls": 1, "applied": 1, "faults": 0},
        "s3:PutObject": {"calls": 1, "applied": 1, "faults": 0},
        "s3:GetObject": {"calls": 1, "applied": 0, "faults": 0},
        "s3:HeadObject": {"calls": 1, "applied": 0, "faults": 0},
        "s3:ListObjectsV2": {"calls": 1, "applied": 0, "faults": 0},
        "s3:DeleteObject": {"calls": 1, "applied": 1, "faults": 0},
    }
    assert (stats["total"], stats["mutating"], stats["applied_mutating"]) == (6, 3, 3)


def test_s3_throttling_is_slowdown(net: Stack) -> None:
    net.direct_s3.create_bucket(Bucket=BUCKET)
    net.scenario(throttle_rate=1.0)
    status, body = raw_s3_error(net.via_s3, lambda: net.via_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"l"))
    assert status == 503
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message><RequestId>"
    )
    assert error_of(lambda: net.via_s3.head_object(Bucket=BUCKET, Key=LOCK)) == ("503", 503)  # HEAD: no body
    assert error_of(lambda: net.via_s3.list_objects_v2(Bucket=BUCKET)) == ("SlowDown", 503)
    assert keys_in(net) == []  # not applied
    assert net.outcomes() == [("PutObject", "throttled", 503), ("HeadObject", "throttled", 503), ("ListObjectsV2", "throttled", 503)]


@pytest.mark.parametrize("status, code", [(500, "InternalError"), (503, "ServiceUnavailable")])
def test_s3_server_errors_in_s3_shape(net: Stack, status: int, code: str) -> None:
    net.direct_s3.create_bucket(Bucket=BUCKET)
    net.scenario(server_error_rate=1.0, server_error_status=status)
    answer, body = raw_s3_error(net.via_s3, lambda: net.via_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"l"))
    assert answer == status and f"<Error><Code>{code}</Code>".encode() in body
    assert keys_in(net) == []


def test_conditional_conflict_first_n(net: Stack) -> None:
    net.direct_s3.create_bucket(Bucket=BUCKET)
    assert net.scenario(conditional_conflict={"first": 2})["conditional_conflict"] == {"first": 2, "rate": 0.0}
    create = lambda: net.via_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"lease", IfNoneMatch="*")  # noqa: E731
    status, body = raw_s3_error(net.via_s3, create)
    assert status == 409
    assert f"<Error><Code>ConditionalRequestConflict</Code><Message>{CONFLICT}</Message>".encode() in body
    assert keys_in(net) == []  # answered before forwarding: not applied
    net.via_s3.put_object(Bucket=BUCKET, Key=JOURNAL, Body=b"{}")  # unconditional: passes, not counted
    etag = net.direct_s3.head_object(Bucket=BUCKET, Key=JOURNAL)["ETag"]
    # A conditional delete is a conditional write too (the 2nd).
    assert error_of(lambda: net.via_s3.delete_object(Bucket=BUCKET, Key=JOURNAL, IfMatch=etag)) == (
        "ConditionalRequestConflict",
        409,
    )
    assert keys_in(net) == [JOURNAL]
    create()  # the retry (3rd) goes through
    assert error_of(create) == ("PreconditionFailed", 412)  # and the emulator's own condition holds
    assert net.outcomes() == [
        ("PutObject", "conflict", 409),
        ("PutObject", "forwarded", 200),
        ("DeleteObject", "conflict", 409),
        ("PutObject", "forwarded", 200),
        ("PutObject", "forwarded", 412),
    ]
    stats = net.control("GET", "stats")
    assert stats["by_action"]["s3:PutObject"] == {"calls": 4, "applied": 2, "faults": 1}
    assert stats["by_action"]["s3:DeleteObject"] == {"calls": 1, "applied": 0, "faults": 1}


def test_conditional_conflict_rate_and_only_actions(net: Stack) -> None:
    net.direct_s3.create_bucket(Bucket=BUCKET)
    etag = net.direct_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"lease")["ETag"]
    net.scenario(conditional_conflict={"rate": 1.0}, only_actions=["DeleteObject"])
    net.via_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"lease", IfMatch=etag)  # not in only_actions
    assert error_of(lambda: net.via_s3.delete_object(Bucket=BUCKET, Key=LOCK, IfMatch=etag))[1] == 409
    assert keys_in(net) == [LOCK]
    for bad in ({"conditional_conflict": {"first": -1}}, {"conditional_conflict": {"rate": 2}},
                {"conditional_conflict": {"count": 1}}, {"conditional_conflict": 3}):
        status, answer = http(f"{net.proxy_url}/_proxy/scenario", "POST", bad)
        assert status == 400 and "error" in answer, bad


def test_lose_response_s3_put_once(net: Stack) -> None:
    net.direct_s3.create_bucket(Bucket=BUCKET)
    net.scenario(lose_response={"mutating": "once", "mode": "500"})
    create = lambda: net.via_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"lease", IfNoneMatch="*")  # noqa: E731
    status, body = raw_s3_error(net.via_s3, create)
    assert status == 500 and b"<Error><Code>InternalError</Code>" in body
    assert keys_in(net) == [LOCK]  # applied, though the client heard a 500
    # The SDK's retry of the same request: the lock exists now, the tool must read it to know it is its own.
    assert error_of(create) == ("PreconditionFailed", 412)
    # Another key (another path) is another request: its answer is lost once too.
    assert error_of(lambda: net.via_s3.put_object(Bucket=BUCKET, Key=JOURNAL, Body=b"lease", IfNoneMatch="*"))[1] == 500
    assert [o for _, o, _ in net.outcomes()] == ["lost_500", "forwarded", "lost_500"]
    assert net.control("GET", "stats")["by_action"]["s3:PutObject"] == {"calls": 3, "applied": 2, "faults": 2}


def test_lose_response_s3_delete(net: Stack) -> None:
    net.direct_s3.create_bucket(Bucket=BUCKET)
    etag = net.direct_s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"lease")["ETag"]
    net.scenario(lose_response={"mutating": 1.0, "mode": "drop"})
    with pytest.raises(HTTPClientError):  # connection closed without an answer
        net.via_s3.delete_object(Bucket=BUCKET, Key=LOCK, IfMatch=etag)
    assert keys_in(net) == []  # released all the same
    net.scenario()
    assert error_of(lambda: net.via_s3.delete_object(Bucket=BUCKET, Key=LOCK, IfMatch=etag)) == ("NoSuchKey", 404)
    assert net.outcomes() == [("DeleteObject", "dropped", None), ("DeleteObject", "forwarded", 404)]
