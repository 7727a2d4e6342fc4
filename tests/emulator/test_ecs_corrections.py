"""Tests for the emulator's ECS model (launcher.py correction m, ecs_model.py).

As in test_corrections.py, each part of the model is tested twice: against
the corrected launcher, asserting AWS's documented behaviour, and against the
same launcher with --pristine, asserting that plain moto departs from it. One
corrected and one pristine launcher run per module; every test starts from
POST /_emulator/reset. Most tests shorten the model's timings through
/_emulator/ecs-config (FAST); one checks the defaults.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.error
from typing import Any, Callable

import pytest

from test_corrections import (  # the shared harness and its launchers
    Emulator,
    corrected_server,
    moto,
    pristine_server,
    assert_error,
    error_of,
    sixty_four,
    status_of,
    subnet_ipv6,
    vpc_ipv6,
    wait_state,
)

CLUSTER = "redash"
# Seconds; small so that a failing deployment and its rollback fit in a few seconds.
FAST = {
    "start_seconds": 0.2,
    "health_seconds": 0.2,
    "fail_seconds": 0.4,
    "stop_seconds": 0.15,
    "eni_linger_seconds": 0.6,
    "retry_seconds": 1.0,
}
ATTACHMENT = re.compile(r"^arn:aws:ecs:us-east-1:123456789012:attachment/[0-9a-f-]{36}$")
DEPLOYMENT_ID = re.compile(r"^ecs-svc/\d{19}$")


@pytest.fixture
def aws(corrected_server: Emulator) -> Emulator:
    corrected_server.control("POST", "reset")
    corrected_server.control("POST", "ecs-config", FAST)
    return corrected_server


# ---------------------------------------------------------------------------
# Scenario helpers
# ---------------------------------------------------------------------------


class Net:
    vpc: str
    block: str | None
    subnets: list[str]
    cidrs: dict[str, str]
    route_table: str
    sg: str
    tg: str | None
    lb: str | None


def is_pristine(emu: Emulator) -> bool:
    return emu.control("GET", "config")["pristine"]


def network(
    emu: Emulator,
    ipv6: bool = True,
    assign: bool = True,
    dns64: bool = False,
    lb: bool = True,
    dns_hostnames: bool = True,
    subnets: int = 2,
) -> Net:
    """A VPC 192.168.0.0/16 with `subnets` /24s (an explicit route table),
    a security group, a cluster, and optionally an ALB + ip target group."""
    ec2, wait = emu.ec2, not is_pristine(emu)
    net = Net()
    net.vpc = ec2.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
    if dns_hostnames:
        ec2.modify_vpc_attribute(VpcId=net.vpc, EnableDnsHostnames={"Value": True})
    net.block = None
    if ipv6:
        net.block = ec2.associate_vpc_cidr_block(VpcId=net.vpc, AmazonProvidedIpv6CidrBlock=True)[
            "Ipv6CidrBlockAssociation"
        ]["Ipv6CidrBlock"]
        if wait:
            wait_state(lambda: vpc_ipv6(ec2, net.vpc), "associated")
    net.route_table = ec2.create_route_table(VpcId=net.vpc)["RouteTable"]["RouteTableId"]
    net.subnets, net.cidrs = [], {}
    for i in range(subnets):
        cidr = f"192.168.{i + 1}.0/24"
        subnet = ec2.create_subnet(VpcId=net.vpc, CidrBlock=cidr, AvailabilityZone=f"us-east-1{'abc'[i]}")[
            "Subnet"
        ]["SubnetId"]
        net.subnets.append(subnet)
        net.cidrs[subnet] = cidr
        ec2.associate_route_table(RouteTableId=net.route_table, SubnetId=subnet)
        if ipv6:
            ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=sixty_four(net.block, i))
            if wait:
                wait_state(lambda: subnet_ipv6(ec2, subnet), "associated")
            if assign:
                ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})
            if dns64:
                ec2.modify_subnet_attribute(SubnetId=subnet, EnableDns64={"Value": True})
    net.sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=net.vpc)["GroupId"]
    net.tg = net.lb = None
    if lb:
        elbv2 = emu.elbv2
        net.lb = elbv2.create_load_balancer(Name="redash", Subnets=net.subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        net.tg = elbv2.create_target_group(
            Name="redash-server", Protocol="HTTP", Port=5000, VpcId=net.vpc, TargetType="ip", HealthCheckPath="/ping"
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.create_listener(
            LoadBalancerArn=net.lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": net.tg}]
        )
    emu.client("ecs").create_cluster(clusterName=CLUSTER)
    return net


def task_definition(
    emu: Emulator,
    family: str,
    port: int | None = 5000,
    health_check: bool = False,
    image: str = "redash/redash:10",
    container_memory: int | None = None,
) -> str:
    """A Fargate task definition, memory at task level (as Fargate allows)
    unless `container_memory` (pristine RunTask crashes without it)."""
    container: dict[str, Any] = {"name": "app", "image": image, "essential": True}
    if container_memory:
        container["memory"] = container_memory
    if port:
        container["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
    if health_check:
        container["healthCheck"] = {"command": ["CMD-SHELL", "curl -f http://localhost:5000/ping"], "interval": 5}
    return emu.client("ecs").register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]


def awsvpc(net: Net, subnets: list[str] | None = None) -> dict[str, Any]:
    return {
        "awsvpcConfiguration": {
            "subnets": subnets or net.subnets,
            "securityGroups": [net.sg],
            "assignPublicIp": "ENABLED",
        }
    }


def create_service(
    emu: Emulator,
    net: Net,
    name: str,
    family: str,
    count: int = 2,
    lb: bool = True,
    breaker: tuple[bool, bool] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        cluster=CLUSTER,
        serviceName=name,
        taskDefinition=family,
        desiredCount=count,
        launchType="FARGATE",
        networkConfiguration=awsvpc(net),
    )
    if lb:
        kwargs["loadBalancers"] = [{"targetGroupArn": net.tg, "containerName": "app", "containerPort": 5000}]
    if breaker is not None:
        kwargs["deploymentConfiguration"] = {"deploymentCircuitBreaker": {"enable": breaker[0], "rollback": breaker[1]}}
    kwargs.update(extra)
    return emu.client("ecs").create_service(**kwargs)["service"]


def service(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]


def tasks(emu: Emulator, name: str | None = None, desired: str = "RUNNING") -> list[dict[str, Any]]:
    ecs = emu.client("ecs")
    kwargs: dict[str, Any] = {"cluster": CLUSTER, "desiredStatus": desired}
    if name:
        kwargs["serviceName"] = name
    arns = ecs.list_tasks(**kwargs)["taskArns"]
    return ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []


def until(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def completed(emu: Emulator, name: str) -> dict[str, Any] | None:
    svc = service(emu, name)
    deployments = svc["deployments"]
    if len(deployments) == 1 and deployments[0]["rolloutState"] == "COMPLETED" and svc["runningCount"] == svc["desiredCount"]:
        return svc
    return None


def detail(task: dict[str, Any], name: str) -> str | None:
    (attachment,) = task["attachments"]
    return next((d["value"] for d in attachment["details"] if d["name"] == name), None)


def eni_of(emu: Emulator, task: dict[str, Any]) -> dict[str, Any]:
    (eni,) = emu.ec2.describe_network_interfaces(NetworkInterfaceIds=[detail(task, "networkInterfaceId")])[
        "NetworkInterfaces"
    ]
    return eni


def targets(emu: Emulator, tg: str) -> dict[str, tuple[str, str | None]]:
    found = emu.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return {f"{t['Target']['Id']}:{t['Target']['Port']}": (t["TargetHealth"]["State"], t["TargetHealth"].get("Reason")) for t in found}


def dual_stack_setting(emu: Emulator, value: str) -> None:
    emu.client("ecs").put_account_setting_default(name="dualStackIPv6", value=value)


def in_subnet(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


# ---------------------------------------------------------------------------
# m1. Services launch tasks with an interface in their subnets
# ---------------------------------------------------------------------------


def test_m_service_tasks_get_interfaces_in_their_subnets(aws: Emulator) -> None:
    net = network(aws)  # subnets assign IPv6, but dualStackIPv6 is disabled (AWS's default)
    td = task_definition(aws, "redash-server")
    created = create_service(aws, net, "redash-server", "redash-server")
    (first,) = created["deployments"]
    assert DEPLOYMENT_ID.match(first["id"])
    assert created["pendingCount"] == 2 and created["runningCount"] == 0
    svc = until("the deployment to complete", lambda: completed(aws, "redash-server"))
    assert svc["taskDefinition"] == td
    running = tasks(aws, "redash-server")
    assert len(running) == 2
    assert sorted(detail(t, "subnetId") for t in running) == sorted(net.subnets)  # round robin
    for task in running:
        assert task["group"] == "service:redash-server"
        assert task["startedBy"] == first["id"]
        assert task["launchType"] == "FARGATE" and task["platformVersion"] == "1.4.0"
        assert task["lastStatus"] == task["desiredStatus"] == "RUNNING"
        assert task["taskDefinitionArn"] == td
        assert task["clusterArn"].endswith(f":cluster/{CLUSTER}")
        subnet = detail(task, "subnetId")
        ipv4 = detail(task, "privateIPv4Address")
        assert in_subnet(ipv4, net.cidrs[subnet])
        assert detail(task, "ipv6Address") is None  # the setting is off
        assert detail(task, "privateDnsName") == "ip-" + ipv4.replace(".", "-") + ".ec2.internal"
        assert task["attachments"][0]["type"] == "ElasticNetworkInterface"
        assert task["attachments"][0]["status"] == "ATTACHED"
        (container,) = task["containers"]
        assert container["name"] == "app" and container["lastStatus"] == "RUNNING"
        assert container["networkInterfaces"] == [
            {"attachmentId": task["attachments"][0]["id"], "privateIpv4Address": ipv4}
        ]
        eni = eni_of(aws, task)
        assert eni["SubnetId"] == subnet and eni["PrivateIpAddress"] == ipv4
        assert ATTACHMENT.match(eni["Description"]), eni["Description"]
        assert eni["Description"].endswith(task["attachments"][0]["id"])
        assert eni["RequesterManaged"] is True and eni["Status"] == "in-use"
        assert [g["GroupId"] for g in eni["Groups"]] == [net.sg]
        assert eni["Ipv6Addresses"] == []
        assert eni["Association"]["PublicIp"]  # assignPublicIp ENABLED

    # The setting on: running tasks keep IPv4 only; a new deployment's tasks get IPv6.
    dual_stack_setting(aws, "enabled")
    assert all(detail(t, "ipv6Address") is None for t in tasks(aws, "redash-server"))
    aws.client("ecs").update_service(cluster=CLUSTER, service="redash-server", forceNewDeployment=True)
    until("the new deployment to complete", lambda: completed(aws, "redash-server"))
    for task in tasks(aws, "redash-server"):
        subnet = detail(task, "subnetId")
        address = detail(task, "ipv6Address")
        (block,) = subnet_ipv6(aws.ec2, subnet)
        assert ipaddress.ip_address(address) in ipaddress.ip_network(block["Ipv6CidrBlock"])
        assert eni_of(aws, task)["Ipv6Addresses"] == [{"Ipv6Address": address}]
        assert task["containers"][0]["networkInterfaces"][0]["ipv6Address"] == address
    # Correction e sees the task's address: the block cannot go while it is used.
    subnet = net.subnets[0]
    aws.ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": False})
    assert_error(
        "InvalidCidrBlock.InUse",
        aws.ec2.disassociate_subnet_cidr_block,
        AssociationId=subnet_ipv6(aws.ec2, subnet)[0]["AssociationId"],
    )


def test_m_ipv6_needs_the_subnet_flag_and_platform_1_4(aws: Emulator) -> None:
    dual_stack_setting(aws, "enabled")
    net = network(aws, assign=False, lb=False)
    task_definition(aws, "worker", port=None)
    aws.ec2.modify_subnet_attribute(SubnetId=net.subnets[0], AssignIpv6AddressOnCreation={"Value": True})
    ecs = aws.client("ecs")
    # RunTask: one task per subnet; only the assigning subnet gives IPv6.
    for subnet in net.subnets:
        ecs.run_task(cluster=CLUSTER, taskDefinition="worker", launchType="FARGATE", networkConfiguration=awsvpc(net, [subnet]))
    # Platform 1.3.0 never gets IPv6.
    ecs.run_task(
        cluster=CLUSTER,
        taskDefinition="worker",
        launchType="FARGATE",
        platformVersion="1.3.0",
        networkConfiguration=awsvpc(net, [net.subnets[0]]),
        startedBy="old-platform",
    )
    found = {(detail(t, "subnetId"), t["platformVersion"]): detail(t, "ipv6Address") for t in tasks(aws)}
    assert found[(net.subnets[0], "1.4.0")] is not None
    assert found[(net.subnets[1], "1.4.0")] is None
    assert found[(net.subnets[0], "1.3.0")] is None
    for task in tasks(aws):
        assert task["group"] == "family:worker"
    err = assert_error(
        "InvalidParameterException",
        ecs.run_task,
        cluster=CLUSTER,
        taskDefinition="worker",
        launchType="FARGATE",
        platformVersion="9.9.9",
        networkConfiguration=awsvpc(net),
    )
    assert "platform version" in err.response["Error"]["Message"]


def test_m_pristine_services_launch_no_tasks_and_tasks_get_outside_addresses(moto: Emulator) -> None:
    net = network(moto)
    task_definition(moto, "redash-server", container_memory=512)
    create_service(moto, net, "redash-server", "redash-server")
    time.sleep(0.5)
    svc = service(moto, "redash-server")
    assert svc["runningCount"] == 0 and svc["pendingCount"] == 2
    assert moto.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"] == []
    # RunTask (DNS hostnames on, else it crashes: see m5): an address outside
    # the subnet, no IPv6 although subnet and setting allow it.
    ecs = moto.client("ecs")
    ecs.put_account_setting(name="dualStackIPv6", value="enabled")
    (task,) = ecs.run_task(cluster=CLUSTER, taskDefinition="redash-server", launchType="FARGATE", networkConfiguration=awsvpc(net, [net.subnets[0]]))["tasks"]
    assert not in_subnet(detail(task, "privateIPv4Address"), net.cidrs[net.subnets[0]])
    assert detail(task, "ipv6Address") is None
    assert eni_of(moto, task)["Description"] == "moto ECS"


# ---------------------------------------------------------------------------
# m2. Deployments, target registration, old tasks stopped by the scheduler
# ---------------------------------------------------------------------------


def test_m_deployments_replace_tasks_and_targets_with_default_timings(aws: Emulator) -> None:
    aws.control("POST", "reset")  # the launcher's default timings
    assert aws.control("GET", "ecs-config")["health_seconds"] == 0.5
    net = network(aws)
    task_definition(aws, "redash-server")
    start = time.monotonic()
    create_service(aws, net, "redash-server", "redash-server", breaker=(True, True))
    first = until("the first deployment", lambda: completed(aws, "redash-server"), timeout=5)
    assert time.monotonic() - start < 2.5
    (d,) = first["deployments"]
    assert d["status"] == "PRIMARY" and d["rolloutStateReason"] == f"ECS deployment {d['id']} completed."
    old = {t["taskArn"]: f"{detail(t, 'privateIPv4Address')}:5000" for t in tasks(aws, "redash-server")}
    assert targets(aws, net.tg) == {ip: ("healthy", None) for ip in old.values()}

    ecs = aws.client("ecs")
    updated = ecs.update_service(cluster=CLUSTER, service="redash-server", forceNewDeployment=True)["service"]
    new, previous = updated["deployments"]
    assert DEPLOYMENT_ID.match(new["id"]) and new["id"] != d["id"]
    assert (new["status"], new["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert new["rolloutStateReason"] == f"ECS deployment {new['id']} in progress."
    assert (previous["id"], previous["status"], previous["runningCount"]) == (d["id"], "ACTIVE", 2)
    assert new["pendingCount"] == 2 and new["desiredCount"] == 2 and new["failedTasks"] == 0
    for key in ("taskDefinition", "createdAt", "updatedAt", "launchType", "platformVersion", "networkConfiguration"):
        assert key in new, key
    assert updated["runningCount"] == 2 and updated["pendingCount"] == 2
    assert updated["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert updated["deploymentController"] == {"type": "ECS"}

    # New targets come in as initial while the old ones are still healthy.
    def new_targets_registered() -> dict[str, Any] | None:
        found = targets(aws, net.tg)
        return found if len(found) == 4 else None

    during = until("the new tasks' targets", new_targets_registered, timeout=5)
    assert {k: v for k, v in during.items() if k in old.values()} == {ip: ("healthy", None) for ip in old.values()}
    assert {v for k, v in during.items() if k not in old.values()} == {("initial", "Elb.RegistrationInProgress")}

    after = until("the second deployment", lambda: completed(aws, "redash-server"), timeout=5)
    assert [x["id"] for x in after["deployments"]] == [new["id"]]
    # The old tasks are deregistered (draining), then stopped by the scheduler.
    def old_tasks_stopped() -> list[dict[str, Any]] | None:
        done = [t for t in tasks(aws, "redash-server", "STOPPED") if t["lastStatus"] == "STOPPED"]
        return done if len(done) == 2 else None

    stopped = until("the old tasks to stop", old_tasks_stopped, timeout=5)
    assert {t["taskArn"] for t in stopped} == set(old)
    for task in stopped:
        assert task["stopCode"] == "ServiceSchedulerInitiated"
        assert task["stoppedReason"] == f"Scaling activity initiated by (deployment {new['id']})"
        assert task["desiredStatus"] == "STOPPED" and "stoppedAt" in task and "stoppingAt" in task
    final = targets(aws, net.tg)
    assert not set(final) & set(old.values())
    assert len(final) == 2 and {v for v in final.values()} == {("healthy", None)}
    assert {detail(t, "privateIPv4Address") + ":5000" for t in tasks(aws, "redash-server")} == set(final)
    messages = [e["message"] for e in service(aws, "redash-server")["events"]]
    assert f"(service redash-server) (deployment {new['id']}) deployment completed." in messages
    assert "(service redash-server) has reached a steady state." in messages


def test_m_task_lifecycle_statuses(aws: Emulator) -> None:
    aws.control("POST", "ecs-config", {"start_seconds": 0.6, "stop_seconds": 0.6})
    net = network(aws, lb=False)
    task_definition(aws, "worker", port=None)
    ecs = aws.client("ecs")
    (task,) = ecs.run_task(cluster=CLUSTER, taskDefinition="worker", launchType="FARGATE", networkConfiguration=awsvpc(net))["tasks"]
    seen = [task["lastStatus"]]
    attachments = [task["attachments"][0]["status"]]

    def step(final: str) -> bool:
        (current,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"]
        if current["lastStatus"] != seen[-1]:
            seen.append(current["lastStatus"])
            attachments.append(current["attachments"][0]["status"])
        return current["lastStatus"] == final

    until("RUNNING", lambda: step("RUNNING"))
    ecs.stop_task(cluster=CLUSTER, task=task["taskArn"])
    until("STOPPED", lambda: step("STOPPED"))
    assert seen == ["PROVISIONING", "PENDING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    assert attachments[0] == "PRECREATED" and attachments[2] == "ATTACHED" and attachments[-1] == "DETACHED"
    (stopped,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"]
    assert stopped["stopCode"] == "UserInitiated" and stopped["stoppedReason"] == "Task stopped by user"
    assert stopped["containers"][0]["lastStatus"] == "STOPPED" and stopped["containers"][0]["exitCode"] == 0


def test_m_pristine_update_service_creates_no_deployment(moto: Emulator) -> None:
    net = network(moto)
    task_definition(moto, "redash-server")
    created = create_service(moto, net, "redash-server", "redash-server", breaker=(True, True))
    assert "deploymentConfiguration" not in created  # dropped
    updated = moto.client("ecs").update_service(cluster=CLUSTER, service="redash-server", forceNewDeployment=True)["service"]
    (deployment,) = updated["deployments"]  # the same deployment with a new id, no ACTIVE one
    assert deployment["rolloutState"] == "IN_PROGRESS"
    time.sleep(0.5)
    assert service(moto, "redash-server")["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # never moves
    assert moto.elbv2.describe_target_health(TargetGroupArn=net.tg)["TargetHealthDescriptions"] == []


# ---------------------------------------------------------------------------
# m3. The incident: DNS64 on, no NAT64 route
# ---------------------------------------------------------------------------


def test_m_incident_dns64_without_nat64_fails_health_checked_tasks(aws: Emulator) -> None:
    dual_stack_setting(aws, "enabled")
    net = network(aws, dns64=True)
    task_definition(aws, "redash-server")
    task_definition(aws, "redash-worker", port=None)
    task_definition(aws, "redash-checked", port=None, health_check=True)
    create_service(aws, net, "redash-server", "redash-server")  # no breaker: replaced forever
    create_service(aws, net, "redash-worker", "redash-worker", count=1, lb=False)
    create_service(aws, net, "redash-checked", "redash-checked", count=1, lb=False)

    # The worker (no load balancer, no healthCheck) runs on, IPv6 and all.
    worker = until("the worker", lambda: completed(aws, "redash-worker"))
    assert worker["deployments"][0]["failedTasks"] == 0
    (running,) = tasks(aws, "redash-worker")
    assert detail(running, "ipv6Address") is not None

    # Server tasks: unhealthy in the target group, then stopped with the ELB reason.
    def unhealthy() -> bool:
        return ("unhealthy", "Target.FailedHealthChecks") in targets(aws, net.tg).values()

    until("an unhealthy target", unhealthy)
    def four_failed() -> list[dict[str, Any]] | None:
        done = tasks(aws, "redash-server", "STOPPED")
        return done if len(done) >= 4 else None

    failed = until("server tasks to fail", four_failed)
    for task in failed:
        assert task["stopCode"] == "ServiceSchedulerInitiated"
        assert task["stoppedReason"] == f"Task failed ELB health checks in (target-group {net.tg})"
    svc = service(aws, "redash-server")
    (deployment,) = svc["deployments"]
    assert deployment["rolloutState"] == "IN_PROGRESS" and deployment["failedTasks"] >= 4
    assert any("is unhealthy in (target-group" in e["message"] for e in svc["events"])
    assert len(tasks(aws, "redash-server")) == 2  # replacements keep coming

    # The container health check fails the same way.
    checked = until(
        "the checked service's task to fail",
        lambda: tasks(aws, "redash-checked", "STOPPED"),
    )
    assert checked[0]["stoppedReason"] == "Task failed container health checks"
    assert checked[0]["stopCode"] == "ServiceSchedulerInitiated"
    assert checked[0]["healthStatus"] == "UNHEALTHY"
    assert checked[0]["containers"][0]["healthStatus"] == "UNHEALTHY"

    # A NAT64 route (64:ff9b::/96 -> NAT gateway) heals the path: the deployment completes.
    ec2 = aws.ec2
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net.subnets[0], AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=net.route_table, DestinationIpv6CidrBlock="64:ff9b::/96", NatGatewayId=nat)
    until("the server to complete", lambda: completed(aws, "redash-server"))
    healthy = until("the checked service", lambda: completed(aws, "redash-checked"))
    assert healthy["deployments"][0]["failedTasks"] >= 1
    (task,) = tasks(aws, "redash-checked")
    assert task["healthStatus"] == "HEALTHY"


def test_m_pristine_has_no_incident(moto: Emulator) -> None:
    moto.client("ecs").put_account_setting(name="dualStackIPv6", value="enabled")
    net = network(moto, dns64=True)
    task_definition(moto, "redash-server")
    create_service(moto, net, "redash-server", "redash-server", breaker=(True, True))
    time.sleep(0.5)
    (deployment,) = service(moto, "redash-server")["deployments"]
    assert (deployment["rolloutState"], deployment["failedTasks"]) == ("IN_PROGRESS", 0)
    assert moto.client("ecs").list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"] == []


# ---------------------------------------------------------------------------
# m4. Circuit breaker and rollback
# ---------------------------------------------------------------------------


def test_m_circuit_breaker_fails_and_the_rollback_fails_the_same_way(aws: Emulator) -> None:
    net = network(aws)  # IPv4 tasks first: the setting is off
    v1 = task_definition(aws, "redash-server")
    create_service(aws, net, "redash-server", "redash-server", breaker=(True, True))
    good = until("the IPv4 deployment", lambda: completed(aws, "redash-server"))["deployments"][0]
    ipv4_tasks = {t["taskArn"] for t in tasks(aws, "redash-server")}
    # The incident: dual-stack on, DNS64 on, no NAT64; a new revision is deployed.
    dual_stack_setting(aws, "enabled")
    for subnet in net.subnets:
        aws.ec2.modify_subnet_attribute(SubnetId=subnet, EnableDns64={"Value": True})
    v2 = task_definition(aws, "redash-server", image="redash/redash:11")
    ecs = aws.client("ecs")
    new = ecs.update_service(cluster=CLUSTER, service="redash-server", taskDefinition="redash-server")["service"]["deployments"][0]
    assert new["taskDefinition"] == v2

    def rolled_back() -> dict[str, Any] | None:
        svc = service(aws, "redash-server")
        return svc if len(svc["deployments"]) == 3 else None

    svc = until("the rollback", rolled_back)
    rollback, failed, original = svc["deployments"]
    assert (failed["id"], failed["status"], failed["rolloutState"]) == (new["id"], "ACTIVE", "FAILED")
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] >= 3  # threshold min(200, max(3, ceil(2 / 2))) = 3
    assert (rollback["status"], rollback["taskDefinition"]) == ("PRIMARY", v1)
    assert DEPLOYMENT_ID.match(rollback["id"]) and rollback["id"] not in (good["id"], new["id"])
    assert rollback["rolloutStateReason"] == f"ECS deployment circuit breaker: rolling back to deploymentId {good['id']}."
    assert svc["taskDefinition"] == v1
    # The original IPv4 tasks still serve (minimum healthy 100%).
    assert (original["id"], original["status"], original["runningCount"]) == (good["id"], "ACTIVE", 2)
    assert ipv4_tasks <= {t["taskArn"] for t in tasks(aws, "redash-server")}
    # The rollback's tasks land on the same subnets and fail the same way.
    def rollback_failed() -> dict[str, Any] | None:
        d = service(aws, "redash-server")["deployments"][0]
        return d if d["rolloutState"] == "FAILED" else None

    done = until("the rollback to fail", rollback_failed)
    assert done["id"] == rollback["id"] and done["status"] == "PRIMARY" and done["failedTasks"] >= 3
    reasons = {t["stoppedReason"] for t in tasks(aws, "redash-server", "STOPPED") if t["startedBy"] == rollback["id"]}
    assert reasons == {f"Task failed ELB health checks in (target-group {net.tg})"}
    # No second rollback: still three deployments, the IPv4 tasks still running.
    assert [d["id"] for d in service(aws, "redash-server")["deployments"]] == [rollback["id"], new["id"], good["id"]]


def test_m_rollback_completes_once_new_tasks_are_ipv4_again(aws: Emulator) -> None:
    aws.control("POST", "ecs-config", {"fail_seconds": 1.0})
    net = network(aws, dns64=True)
    v1 = task_definition(aws, "redash-server")
    create_service(aws, net, "redash-server", "redash-server", breaker=(True, True))
    good = until("the IPv4 deployment", lambda: completed(aws, "redash-server"))["deployments"][0]
    dual_stack_setting(aws, "enabled")
    task_definition(aws, "redash-server", image="redash/redash:11")
    ecs = aws.client("ecs")
    ecs.update_service(cluster=CLUSTER, service="redash-server", taskDefinition="redash-server")
    # After the first failures (2 of 3), the setting goes back off: the
    # replacements already have IPv6 and fail, the rollback's tasks do not.
    until("two failed tasks", lambda: service(aws, "redash-server")["deployments"][0]["failedTasks"] >= 2)
    dual_stack_setting(aws, "disabled")
    svc = until("the rollback to complete", lambda: completed(aws, "redash-server"))
    (rollback,) = svc["deployments"]
    assert rollback["taskDefinition"] == v1 and rollback["id"] != good["id"]
    assert rollback["rolloutStateReason"] == f"ECS deployment {rollback['id']} completed."
    assert all(detail(t, "ipv6Address") is None for t in tasks(aws, "redash-server"))
    assert all(t["startedBy"] == rollback["id"] for t in tasks(aws, "redash-server"))


def test_m_pristine_circuit_breaker_never_trips(moto: Emulator) -> None:
    net = network(moto)
    task_definition(moto, "redash-server")
    create_service(moto, net, "redash-server", "redash-server", breaker=(True, True))
    assert "deploymentConfiguration" not in service(moto, "redash-server")
    task_definition(moto, "redash-server", image="redash/redash:11")
    updated = moto.client("ecs").update_service(cluster=CLUSTER, service="redash-server", taskDefinition="redash-server")["service"]
    assert len(updated["deployments"]) == 1  # no new deployment, nothing to fail or roll back
    assert updated["deployments"][0]["failedTasks"] == 0


# ---------------------------------------------------------------------------
# m5. Control endpoint /_emulator/ecs-tasks
# ---------------------------------------------------------------------------


def test_m_control_endpoint_forces_task_failures(aws: Emulator) -> None:
    dual_stack_setting(aws, "enabled")
    net = network(aws, assign=False, lb=False)
    aws.ec2.modify_subnet_attribute(SubnetId=net.subnets[0], AssignIpv6AddressOnCreation={"Value": True})
    task_definition(aws, "redash-worker", port=None)
    assert aws.control("POST", "ecs-tasks", {"service": "redash-worker", "fail": "always"}) == {
        "fail": {"redash-worker": "always"}
    }
    create_service(aws, net, "redash-worker", "redash-worker", count=1, lb=False, breaker=(True, False))
    svc = until(
        "the breaker",
        lambda: (lambda s: s if s["deployments"][0]["rolloutState"] == "FAILED" else None)(service(aws, "redash-worker")),
    )
    assert svc["deployments"][0]["failedTasks"] == 3
    crashed = tasks(aws, "redash-worker", "STOPPED")
    assert len(crashed) == 3
    for task in crashed:
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedReason"] == "Essential container in task exited"
    until(
        "STOPPED",
        lambda: aws.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[crashed[0]["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
    )
    (last,) = aws.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[crashed[0]["taskArn"]])["tasks"]
    assert last["containers"][0]["exitCode"] == 1

    # with_ipv6: the task in the IPv6 subnet crashes, the IPv4-only one runs on.
    aws.control("POST", "ecs-tasks", {"service": "redash-mixed", "fail": "with_ipv6"})
    create_service(aws, net, "redash-mixed", "redash-worker", lb=False)
    bad = until("the IPv6 task to crash", lambda: tasks(aws, "redash-mixed", "STOPPED"))
    assert detail(bad[0], "ipv6Address") is not None
    assert bad[0]["stopCode"] == "EssentialContainerExited"
    time.sleep(FAST["start_seconds"] + FAST["fail_seconds"] + 0.2)
    assert {detail(t, "subnetId") for t in tasks(aws, "redash-mixed")} >= {net.subnets[1]}
    assert all(detail(t, "subnetId") == net.subnets[0] for t in tasks(aws, "redash-mixed", "STOPPED"))

    # never: not even the incident fails it; null: back to the model.
    for subnet in net.subnets:
        aws.ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})
        aws.ec2.modify_subnet_attribute(SubnetId=subnet, EnableDns64={"Value": True})
    task_definition(aws, "redash-checked", port=None, health_check=True)
    aws.control("POST", "ecs-tasks", {"service": "redash-checked", "fail": "never"})
    create_service(aws, net, "redash-checked", "redash-checked", count=1, lb=False)
    until("the never-failing service", lambda: completed(aws, "redash-checked"))
    assert aws.control("POST", "ecs-tasks", {"service": "redash-checked", "fail": None})["fail"] == {
        "redash-worker": "always",
        "redash-mixed": "with_ipv6",
    }
    aws.client("ecs").update_service(cluster=CLUSTER, service="redash-checked", forceNewDeployment=True)
    failed = until("the incident to fail it again", lambda: tasks(aws, "redash-checked", "STOPPED"))
    assert any(t["stoppedReason"] == "Task failed container health checks" for t in failed)
    assert aws.control("GET", "ecs-tasks")["fail"] == {"redash-worker": "always", "redash-mixed": "with_ipv6"}
    aws.control("POST", "reset")
    assert aws.control("GET", "ecs-tasks") == {"fail": {}}
    assert aws.client("ecs").list_clusters()["clusterArns"] == []


def test_m_control_endpoint_errors(aws: Emulator, moto: Emulator) -> None:
    for path, body in [
        ("ecs-tasks", {"fail": "always"}),
        ("ecs-tasks", {"service": "x", "fail": "sometimes"}),
        ("ecs-tasks", {"service": "x"}),
        ("ecs-config", {"start_seconds": -1}),
        ("ecs-config", {"warp_seconds": 1}),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            aws.control("POST", path, body)
        assert info.value.code == 400, (path, body)
    assert aws.control("POST", "ecs-config", {"retry_seconds": 2})["retry_seconds"] == 2
    # pristine: there is no ECS model to drive
    for method, path, body in [("POST", "ecs-tasks", {"service": "x", "fail": "always"}), ("GET", "ecs-config", None)]:
        with pytest.raises(urllib.error.HTTPError) as info:
            moto.control(method, path, body)
        assert info.value.code == 409


# ---------------------------------------------------------------------------
# m6. Account settings
# ---------------------------------------------------------------------------


def setting(emu: Emulator, **kwargs: Any) -> list[tuple[str, str, str | None]]:
    found = emu.client("ecs").list_account_settings(name="dualStackIPv6", **kwargs)["settings"]
    return [(s["name"], s["value"], s.get("principalArn")) for s in found]


def test_m_account_settings_default_principal_and_effective(aws: Emulator) -> None:
    ecs = aws.client("ecs")
    root, me, other = (
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:user/test",
        "arn:aws:iam::123456789012:role/other",
    )
    # Nothing set: AWS's default, disabled.
    assert setting(aws, effectiveSettings=True) == [("dualStackIPv6", "disabled", root)]
    assert setting(aws) == []
    answer = ecs.put_account_setting_default(name="dualStackIPv6", value="enabled")
    assert answer["setting"] == {"name": "dualStackIPv6", "value": "enabled", "principalArn": root, "type": "user"}
    assert setting(aws, effectiveSettings=True) == [("dualStackIPv6", "enabled", root)]
    assert setting(aws) == []  # the caller has no setting of its own
    assert setting(aws, principalArn=root) == [("dualStackIPv6", "enabled", root)]
    # A principal's own setting beats the default, for that principal only.
    answer = ecs.put_account_setting(name="dualStackIPv6", value="disabled", principalArn=other)
    assert answer["setting"]["principalArn"] == other and answer["setting"]["type"] == "user"
    assert setting(aws, principalArn=other, effectiveSettings=True) == [("dualStackIPv6", "disabled", other)]
    assert setting(aws, effectiveSettings=True) == [("dualStackIPv6", "enabled", root)]
    assert ecs.put_account_setting(name="dualStackIPv6", value="disabled")["setting"]["principalArn"] == me
    assert setting(aws, effectiveSettings=True) == [("dualStackIPv6", "disabled", me)]
    ecs.delete_account_setting(name="dualStackIPv6")
    assert setting(aws, effectiveSettings=True) == [("dualStackIPv6", "enabled", root)]
    assert setting(aws, effectiveSettings=True, value="disabled") == []
    assert_error("InvalidParameterException", ecs.put_account_setting_default, name="dualStackIPv6", value="on")
    # Other names still work (moto's long-ARN switch follows the caller's setting).
    ecs.put_account_setting(name="containerInsights", value="enabled")
    names = {s["name"]: s["value"] for s in ecs.list_account_settings(effectiveSettings=True)["settings"]}
    assert names["containerInsights"] == "enabled" and names["dualStackIPv6"] == "enabled"
    assert names["taskLongArnFormat"] == "enabled"


def test_m_pristine_account_settings_departures(moto: Emulator) -> None:
    ecs = moto.client("ecs")
    assert setting(moto, effectiveSettings=True) == []  # AWS: disabled, the default
    err = error_of(ecs.put_account_setting_default, name="dualStackIPv6", value="enabled")
    assert status_of(err) == 500  # NotImplementedError: an HTML 500
    # One setting per name, principals ignored: another role's setting is the caller's.
    ecs.put_account_setting(name="dualStackIPv6", value="enabled", principalArn="arn:aws:iam::123456789012:role/other")
    assert setting(moto, effectiveSettings=True) == [("dualStackIPv6", "enabled", None)]


# ---------------------------------------------------------------------------
# m7. A VPC with DNS hostnames off
# ---------------------------------------------------------------------------


def test_m_tasks_run_in_a_vpc_with_dns_hostnames_off(aws: Emulator) -> None:
    net = network(aws, dns_hostnames=False)
    task_definition(aws, "redash-server")
    ecs = aws.client("ecs")
    (task,) = ecs.run_task(cluster=CLUSTER, taskDefinition="redash-server", launchType="FARGATE", networkConfiguration=awsvpc(net))["tasks"]
    ipv4 = detail(task, "privateIPv4Address")
    assert detail(task, "privateDnsName") == "ip-" + ipv4.replace(".", "-") + ".ec2.internal"
    assert eni_of(aws, task)["PrivateDnsName"] == detail(task, "privateDnsName")
    create_service(aws, net, "redash-server", "redash-server")
    until("the service", lambda: completed(aws, "redash-server"))


def test_m_pristine_run_task_crashes_with_dns_hostnames_off(moto: Emulator) -> None:
    net = network(moto, dns_hostnames=False)
    task_definition(moto, "redash-server", container_memory=512)
    moto.control("POST", "calls/clear")
    with pytest.raises(Exception):
        moto.client("ecs").run_task(cluster=CLUSTER, taskDefinition="redash-server", launchType="FARGATE", networkConfiguration=awsvpc(net))
    assert moto.control("GET", "calls")["calls"][-1]["status"] == 500  # AttributeError: private_dns_name


def test_m_pristine_run_task_crashes_without_container_memory(moto: Emulator) -> None:
    net = network(moto)
    task_definition(moto, "redash-server")  # memory at task level only: valid on Fargate
    moto.control("POST", "calls/clear")
    with pytest.raises(Exception):
        moto.client("ecs").run_task(cluster=CLUSTER, taskDefinition="redash-server", launchType="FARGATE", networkConfiguration=awsvpc(net))
    assert moto.control("GET", "calls")["calls"][-1]["status"] == 500  # TypeError: int += None


# ---------------------------------------------------------------------------
# m8. A stopped task's interface lingers, then goes
# ---------------------------------------------------------------------------


def test_m_stopped_task_interface_lingers_then_is_deleted(aws: Emulator) -> None:
    aws.control("POST", "ecs-config", {"eni_linger_seconds": 1.0})
    net = network(aws, lb=False)
    task_definition(aws, "worker", port=None)
    ecs = aws.client("ecs")
    (task,) = ecs.run_task(cluster=CLUSTER, taskDefinition="worker", launchType="FARGATE", networkConfiguration=awsvpc(net))["tasks"]
    eni = detail(task, "networkInterfaceId")
    until("RUNNING", lambda: tasks(aws)[0]["lastStatus"] == "RUNNING")
    ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="redeploy")

    def stopped() -> dict[str, Any] | None:
        (t,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"]
        return t if t["lastStatus"] == "STOPPED" else None

    done = until("STOPPED", stopped)
    stopped_at = time.monotonic()
    assert done["stoppedReason"] == "redeploy" and done["stopCode"] == "UserInitiated"
    assert done["attachments"][0]["status"] == "DETACHED"
    # Still there right after the stop (lingering)...
    assert [e["NetworkInterfaceId"] for e in aws.ec2.describe_network_interfaces()["NetworkInterfaces"]] == [eni]
    # ...then deleted.
    until("the interface to go", lambda: aws.ec2.describe_network_interfaces()["NetworkInterfaces"] == [])
    assert time.monotonic() - stopped_at > 0.5
    assert stopped()["attachments"][0]["status"] == "DELETED"
    assert tasks(aws) == [] and [t["taskArn"] for t in tasks(aws, desired="STOPPED")] == [task["taskArn"]]


def test_m_pristine_stopped_task_interface_stays(moto: Emulator) -> None:
    net = network(moto, lb=False)
    task_definition(moto, "worker", port=None, container_memory=512)
    ecs = moto.client("ecs")
    (task,) = ecs.run_task(cluster=CLUSTER, taskDefinition="worker", launchType="FARGATE", networkConfiguration=awsvpc(net))["tasks"]
    ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="redeploy")
    time.sleep(1.5)
    assert len(moto.ec2.describe_network_interfaces()["NetworkInterfaces"]) == 1


# ---------------------------------------------------------------------------
# m9. Reads: ListTasks / DescribeTasks
# ---------------------------------------------------------------------------


def test_m_list_and_describe_tasks_filters(aws: Emulator) -> None:
    net = network(aws, lb=False)
    task_definition(aws, "worker", port=None)
    create_service(aws, net, "redash-worker", "worker", count=1, lb=False)
    ecs = aws.client("ecs")
    (solo,) = ecs.run_task(cluster=CLUSTER, taskDefinition="worker", launchType="FARGATE", networkConfiguration=awsvpc(net))["tasks"]
    ecs.stop_task(cluster=CLUSTER, task=solo["taskArn"])
    assert len(ecs.list_tasks(cluster=CLUSTER)["taskArns"]) == 1  # default desiredStatus RUNNING
    assert ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"] == [solo["taskArn"]]
    assert len(ecs.list_tasks(cluster=CLUSTER, serviceName="redash-worker")["taskArns"]) == 1
    assert ecs.list_tasks(cluster=CLUSTER, serviceName="redash-worker", desiredStatus="STOPPED")["taskArns"] == []
    assert_error("ServiceNotFoundException", ecs.list_tasks, cluster=CLUSTER, serviceName="nope")
    missing = f"arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/{'0' * 32}"
    answer = ecs.describe_tasks(cluster=CLUSTER, tasks=[solo["taskArn"], missing])
    assert [t["taskArn"] for t in answer["tasks"]] == [solo["taskArn"]]
    assert answer["failures"] == [{"arn": missing, "reason": "MISSING"}]
    # the replaced service task is listed under its service with the scheduler's restart
    (running,) = tasks(aws, "redash-worker")
    ecs.stop_task(cluster=CLUSTER, task=running["taskArn"])
    replaced = until("a replacement", lambda: [t for t in tasks(aws, "redash-worker") if t["taskArn"] != running["taskArn"]])
    assert replaced[0]["startedBy"] == running["startedBy"]
    cluster = ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
    assert cluster["runningTasksCount"] + cluster["pendingTasksCount"] == 1


def test_m_pristine_list_tasks_ignores_service_name(moto: Emulator) -> None:
    net = network(moto, lb=False)
    task_definition(moto, "worker", port=None, container_memory=512)
    ecs = moto.client("ecs")
    create_service(moto, net, "redash-worker", "worker", count=1, lb=False)
    (solo,) = ecs.run_task(cluster=CLUSTER, taskDefinition="worker", launchType="FARGATE", networkConfiguration=awsvpc(net))["tasks"]
    assert ecs.list_tasks(cluster=CLUSTER, serviceName="redash-worker")["taskArns"] == [solo["taskArn"]]
    ecs.stop_task(cluster=CLUSTER, task=solo["taskArn"])
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == [solo["taskArn"]]  # AWS: RUNNING only by default
    missing = f"arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/{'0' * 32}"
    assert ecs.describe_tasks(cluster=CLUSTER, tasks=[missing])["failures"] == []


# ---------------------------------------------------------------------------
# m10. Deployment controllers and refusals
# ---------------------------------------------------------------------------


def test_m_deployment_controller_and_configuration_render_and_refusals(aws: Emulator) -> None:
    net = network(aws)
    task_definition(aws, "redash-server")
    ecs = aws.client("ecs")
    config = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": False},
        "maximumPercent": 150,
        "minimumHealthyPercent": 50,
    }
    blue_green = create_service(
        aws, net, "bluegreen", "redash-server", deploymentController={"type": "CODE_DEPLOY"}, deploymentConfiguration=config
    )
    assert blue_green["deploymentController"] == {"type": "CODE_DEPLOY"}
    assert blue_green["deploymentConfiguration"] == config
    assert_error("InvalidParameterException", ecs.update_service, cluster=CLUSTER, service="bluegreen", forceNewDeployment=True)
    assert_error("InvalidParameterException", ecs.update_service, cluster=CLUSTER, service="bluegreen", taskDefinition="redash-server")
    assert ecs.update_service(cluster=CLUSTER, service="bluegreen", desiredCount=3)["service"]["desiredCount"] == 3
    create_service(aws, net, "external", "redash-server", lb=False, deploymentController={"type": "EXTERNAL"})
    assert_error("InvalidParameterException", ecs.update_service, cluster=CLUSTER, service="external", forceNewDeployment=True)
    assert_error(
        "InvalidParameterException", ecs.update_service, cluster=CLUSTER, service="external", deploymentConfiguration=config
    )
    rolling = create_service(aws, net, "rolling", "redash-server")
    assert rolling["deploymentController"] == {"type": "ECS"}
    assert_error("InvalidParameterException", create_service, aws, net, "rolling", "redash-server")  # not idempotent
    assert rolling["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    updated = ecs.update_service(cluster=CLUSTER, service="rolling", deploymentConfiguration=config)["service"]
    assert updated["deploymentConfiguration"] == config and len(updated["deployments"]) == 1
    # DeleteService drains the tasks: DRAINING, then INACTIVE; no more updates.
    assert ecs.delete_service(cluster=CLUSTER, service="rolling", force=True)["service"]["status"] == "DRAINING"
    until("INACTIVE", lambda: service(aws, "rolling")["status"] == "INACTIVE")
    assert tasks(aws, "rolling") == [] and len(tasks(aws, "rolling", "STOPPED")) == 2
    assert_error("ServiceNotActiveException", ecs.update_service, cluster=CLUSTER, service="rolling", desiredCount=1)
    # Load balancer checks: a target group without a load balancer, a port the container lacks.
    lonely = aws.elbv2.create_target_group(Name="lonely", Protocol="HTTP", Port=5000, VpcId=net.vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    for lb in (
        {"targetGroupArn": lonely, "containerName": "app", "containerPort": 5000},
        {"targetGroupArn": net.tg, "containerName": "app", "containerPort": 8080},
        {"targetGroupArn": net.tg, "containerName": "web", "containerPort": 5000},
    ):
        assert_error("InvalidParameterException", create_service, aws, net, "bad", "redash-server", loadBalancers=[lb])
    assert_error(
        "InvalidParameterException",
        ecs.create_service,
        cluster=CLUSTER,
        serviceName="nonet",
        taskDefinition="redash-server",
        desiredCount=1,
        launchType="FARGATE",
    )


def test_m_pristine_accepts_deployments_on_code_deploy_services(moto: Emulator) -> None:
    net = network(moto)
    task_definition(moto, "redash-server")
    ecs = moto.client("ecs")
    create_service(moto, net, "bluegreen", "redash-server", deploymentController={"type": "CODE_DEPLOY"})
    ecs.update_service(cluster=CLUSTER, service="bluegreen", forceNewDeployment=True)
    ecs.update_service(cluster=CLUSTER, service="bluegreen", taskDefinition="redash-server")
    lonely = moto.elbv2.create_target_group(Name="lonely", Protocol="HTTP", Port=5000, VpcId=net.vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    create_service(moto, net, "bad", "redash-server", loadBalancers=[{"targetGroupArn": lonely, "containerName": "web", "containerPort": 1}])


# ---------------------------------------------------------------------------
# Launcher flags
# ---------------------------------------------------------------------------


def test_m_ecs_timing_flags_and_reset() -> None:
    emulator = Emulator("--ecs-start-seconds", "0.05", "--ecs-eni-linger-seconds", "2")
    try:
        config = emulator.control("GET", "ecs-config")
        assert config["start_seconds"] == 0.05 and config["eni_linger_seconds"] == 2.0
        assert config["health_seconds"] == 0.5  # default
        emulator.control("POST", "ecs-config", {"start_seconds": 3})
        emulator.control("POST", "reset")
        assert emulator.control("GET", "ecs-config")["start_seconds"] == 0.05
        # /_emulator/config is unchanged by the ECS model.
        assert emulator.control("GET", "config") == {"pristine": False, "associating_reads": 1, "initial_health_reads": 1}
    finally:
        assert emulator.stop() == 0
