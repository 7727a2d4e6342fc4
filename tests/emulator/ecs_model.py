"""ECS model of the dualstack emulator (correction m of ``launcher.py``).

Pristine moto's ECS never launches a service's tasks, registers nothing in
target groups, creates no deployment on UpdateService, never moves
``rolloutState``, gives a Fargate task's interface no IPv6 address and an
IPv4 address outside its subnet (``random_private_ip()``: any 10.x address),
does not implement PutAccountSettingDefault, keeps one account setting per
name (no principals, no ``effectiveSettings``), and answers RunTask with an
HTML 500 when the VPC has DNS hostnames off (``AttributeError:
'NetworkInterface' object has no attribute 'private_dns_name'``) or when a
container of a Fargate task definition has no memory of its own (``TypeError``
adding None; AWS takes the task-level memory). This module replaces moto's
handling of Fargate ``awsvpc`` tasks and of services with the ``ECS``
deployment controller by a model of what AWS documents. It is installed by
``launcher.apply_corrections()`` (never with ``--pristine``) and imports
nothing from the launcher: the launcher hands it its state (locks, caller
ARN) and the target-health helpers of correction l (``TARGET_API``).

The model
---------
Clock. Everything advances on the wall clock (``time.time()``), lazily: the
control middleware calls ``EcsModel.advance()`` before every EC2, ELBv2 and ECS
request (reads and writes) is handed to moto, with the emulator's moto lock
held (in corrected mode the middleware hands requests to moto one at a time,
so a tick never races a request). ``advance()`` replays every due event in
time order, at the time it was due (so ``stoppedAt``, ``failedTasks`` and
the circuit breaker do not depend on how often anyone polls), then checks the
services once more at the present time (target-health overrides and network
changes are seen at once). No thread runs in the background. Timings (seconds
of wall clock; ``/_emulator/ecs-config`` and ``--ecs-*-seconds``)::

    start_seconds      0.5   launch -> RUNNING (PROVISIONING the first half, PENDING the second)
    health_seconds     0.5   RUNNING -> first health verdict (targets "initial",
                             container health UNKNOWN until then)
    fail_seconds       1.0   RUNNING -> a failing task is stopped (ELB or container
                             health checks, or its essential container exits)
    stop_seconds       0.3   stop -> STOPPED (DEACTIVATING, STOPPING, DEPROVISIONING
                             a third each; targets drain during DEACTIVATING)
    eni_linger_seconds 1.0   STOPPED -> the task's interface is deleted
    retry_seconds      5.0   between replacements once a deployment is FAILED

So a healthy deployment of 2 tasks behind a load balancer completes about
1 s after CreateService/UpdateService, and a failing task is stopped about
1 s after it starts running.

Tasks (Fargate, ``awsvpc``). CreateService, every new deployment and RunTask
launch tasks. Each gets a real EC2 network interface (moto's EC2 backend:
DescribeNetworkInterfaces shows it) in one of its subnets (round robin per
service), Description ``arn:aws:ecs:REGION:ACCOUNT:attachment/UUID``,
RequesterManaged true, status in-use, the given security groups (the VPC's
default group if none), a public IPv4 address with ``assignPublicIp``
ENABLED, a private DNS name ``ip-A-B-C-D.ec2.internal`` (us-east-1) or
``ip-A-B-C-D.REGION.compute.internal`` whatever the VPC's DNS hostnames
attribute (the crash fix), and a random unused IPv4 address of the subnet
(never the first four or the last). It gets one IPv6 address of the subnet's
/64 (through the launcher's correction j allocation, so correction e's
``InvalidCidrBlock.InUse`` sees it) exactly when the subnet has
AssignIpv6AddressOnCreation true and an *associated* IPv6 block, the
caller's effective ``dualStackIPv6`` is ``enabled`` at launch, and the
platform version is 1.4.0 or later (LATEST is 1.4.0; 1.0.0-1.3.0 get none;
other versions are refused). Running tasks keep what they got.

Lifecycle: lastStatus PROVISIONING -> PENDING -> RUNNING -> DEACTIVATING ->
STOPPING -> DEPROVISIONING -> STOPPED (a task stopped before RUNNING goes
straight to DEPROVISIONING). desiredStatus is RUNNING until a stop, then
STOPPED. The attachment is PRECREATED (PROVISIONING), ATTACHED, DETACHING
(DEPROVISIONING), DETACHED (STOPPED), DELETED once the interface is gone
(``eni_linger_seconds`` after STOPPED, as on AWS a stopped task's interface
lingers). Stopped tasks stay listable (ListTasks desiredStatus STOPPED) until
reset. When a service task reaches RUNNING, its IPv4 address is registered
(port = containerPort) in each target group of the service's
``loadBalancers``; a task that stops is deregistered first (``draining``
during DEACTIVATING, then gone).

Health. A registered task target reports ``initial`` until
``health_seconds`` after RUNNING, then ``healthy`` -- or ``unhealthy``
(``Target.FailedHealthChecks``) for a failing task -- on the wall clock (not
the read count of ``initial_health_reads``); ``/_emulator/target-health``
overrides apply to these targets as to any other, and the scheduler acts on
what DescribeTargetHealth would report. A container with a ``healthCheck``
is UNKNOWN, then HEALTHY or UNHEALTHY, at the same times; the task's
healthStatus is UNHEALTHY if an essential container is, HEALTHY if all
checked essential containers are, else UNKNOWN. A task is *healthy* for its
deployment when it is RUNNING and healthy in every target group of its
service (with load balancers), its checked containers are HEALTHY (with a
``healthCheck``), or just RUNNING (with neither); a task bound to crash
(control endpoint) never is.

THE INCIDENT. A task is broken when its interface has an IPv6 address and its
subnet has EnableDns64 on (correction c) and the subnet's route table (its
explicit association, else the VPC's main table) has no ``64:ff9b::/96`` route
to a NAT gateway: DNS64 hands it synthesized AAAA records for its IPv4-only
dependencies and nothing translates them. This is evaluated live, so fixing
the subnet or the route heals running tasks. A broken service task whose
service has a load balancer is unhealthy in its target groups and is stopped
``fail_seconds`` after RUNNING (or after the ``healthCheckGracePeriodSeconds``
if longer): stopCode ``ServiceSchedulerInitiated``, stoppedReason ``Task
failed ELB health checks in (target-group ARN)``; one whose container defines
a ``healthCheck`` (and no load balancer) goes UNHEALTHY and is stopped with
``Task failed container health checks``. Tasks with neither keep running.
Standalone (RunTask) tasks are never stopped for health.

Failures on demand: ``POST /_emulator/ecs-tasks {"service": NAME, "fail":
"always" | "with_ipv6" | "never" | null}`` decides the fate of the tasks of
the services named NAME (any cluster) launched from then on: ``always`` --
the essential container exits with code 1 ``fail_seconds`` after RUNNING
(stopCode ``EssentialContainerExited``, stoppedReason ``Essential container
in task exited``); ``with_ipv6`` -- the same for tasks with an IPv6 address;
``never`` -- no failure at all, not even the incident's; null -- back to the
incident model.

Deployments (``ECS`` controller). Ids are ``ecs-svc/`` + 19 digits.
CreateService creates the first one; UpdateService creates a new one when it
has forceNewDeployment true or a new taskDefinition, networkConfiguration,
platformVersion or loadBalancers (desiredCount, deploymentConfiguration and
healthCheckGracePeriodSeconds alone change the current one). The new one is
PRIMARY, rolloutState IN_PROGRESS ("ECS deployment ID in progress."), and
launches desiredCount tasks at once (maximumPercent 200 behaviour); the
previous one becomes ACTIVE and keeps its tasks. When all desiredCount tasks
of the PRIMARY are RUNNING and healthy it is COMPLETED ("ECS deployment ID
completed."), every other deployment's tasks are deregistered and stopped
(``ServiceSchedulerInitiated``, ``Scaling activity initiated by (deployment
ID)``) and those deployments leave ``deployments``. The scheduler replaces a
PRIMARY's task that stops (failure or StopTask) at once, and scales it to the
service's desiredCount (extra tasks stopped, those not yet running first, then
the newest, same reason).
Every failed task of a deployment counts in its ``failedTasks``. With
``deploymentCircuitBreaker.enable``, a PRIMARY deployment IN_PROGRESS whose
failedTasks reaches min(200, max(3, ceil(desiredCount / 2))) goes FAILED
("ECS deployment circuit breaker: tasks failed to start."); with
``rollback`` true (and a COMPLETED deployment to go back to, and the failed
one not itself a rollback) a new PRIMARY deployment (new id) takes the last
COMPLETED deployment's task definition, network configuration and platform
version, rolloutStateReason "ECS deployment circuit breaker: rolling back to
deploymentId ID.", the failed one becomes ACTIVE and its tasks are stopped.
The rollback's tasks land on the same subnets and can fail the same way; a
FAILED deployment stays FAILED (no second rollback), and while it is the
PRIMARY the scheduler replaces its failed tasks one at a time every
``retry_seconds``. Without the breaker failed tasks are replaced at once,
forever, and the deployment stays IN_PROGRESS. Service ``taskDefinition``
follows the PRIMARY; runningCount / pendingCount (service and deployment)
count tasks RUNNING / PROVISIONING+PENDING; an ACTIVE deployment's
desiredCount is the number of its tasks still meant to run.
``deploymentConfiguration`` renders as given (defaults: maximumPercent 200,
minimumHealthyPercent 100, deploymentCircuitBreaker {enable false, rollback
false}; UpdateService merges the given keys) and so does
``deploymentController`` (default ECS). Services also render events
(newest first): tasks started/stopped, targets registered/deregistered,
unhealthy targets, deployment completed/failed, rolling back, steady state.
DeleteService stops the tasks; the service is DRAINING until they are
STOPPED, then INACTIVE.

Refusals (InvalidParameterException; messages ours unless noted):
CreateService of a name already ACTIVE in the cluster ("Creation of service
was not idempotent.", AWS's; moto replaces the service); awsvpc without
networkConfiguration ("Network Configuration must be provided when
networkMode 'awsvpc' is specified.", moto's words); a platform version that
does not exist; a load balancer entry without targetGroupArn, with a target
group that does not exist ("Unable to assume role and validate the specified
targetGroupArn. ...", AWS's), is not of target type ip, has no load balancer,
or is of IP address type ipv6 (the ECS guide: IPv4 unless tasks are
IPv6-only); a container name or port not in the task definition. On a
service whose deploymentController is CODE_DEPLOY or EXTERNAL, UpdateService
with forceNewDeployment, taskDefinition, networkConfiguration,
platformVersion or loadBalancers (EXTERNAL: also deploymentConfiguration) is
refused, as the UpdateService reference restricts those controllers to the
desired count and a few settings; such services get no model deployment or
task (they use task sets). Services of the EC2 launch type and non-awsvpc
tasks stay moto's (deploymentConfiguration still renders).

Reads. ListTasks filters by cluster, serviceName (ServiceNotFoundException
for an unknown one), desiredStatus (default RUNNING, as AWS), startedBy,
family, launchType, and pages with maxResults/nextToken. DescribeTasks
answers ``failures`` [{arn, reason MISSING}] for unknown tasks. Rendered task
fields: taskArn (long format, 32-hex id), clusterArn, taskDefinitionArn,
group (``service:NAME``, or ``family:FAMILY`` / the given group for RunTask),
startedBy (the deployment id; RunTask's startedBy), launchType,
platformVersion (resolved, 1.4.0 for LATEST), platformFamily Linux,
lastStatus, desiredStatus, healthStatus, cpu, memory, createdAt,
pullStartedAt, pullStoppedAt, startedAt, connectivity, connectivityAt,
availabilityZone, stopCode, stoppedReason, stoppingAt, stoppedAt,
executionStoppedAt, version, overrides, attributes, ephemeralStorage,
enableExecuteCommand, attachments [{id, type ElasticNetworkInterface, status,
details: subnetId, networkInterfaceId, macAddress, privateDnsName,
privateIPv4Address, ipv6Address (when it has one)}], containers [{containerArn,
taskArn, name, image, lastStatus, exitCode (once stopped), reason, healthStatus,
cpu, memory, networkBindings, networkInterfaces [{attachmentId,
privateIpv4Address, ipv6Address}]}]. StopTask stops a model task (stopCode
``UserInitiated``, stoppedReason the given reason, else "Task stopped by
user"). DescribeClusters' running/pending task counts are the model's for
clusters with model tasks.

Account settings (per account and region, per principal). The caller is the
launcher's caller ARN; the account default is the root principal's setting
(``arn:aws:iam::ACCOUNT:root``), as PutAccountSetting with the root as
principalArn sets it for everyone without their own. PutAccountSetting
(principalArn optional: the caller) and PutAccountSettingDefault answer
{setting: {name, value, principalArn, type: "user"}}; DeleteAccountSetting
removes the principal's own. ListAccountSettings lists the principal's own
settings (principalArn, else the caller), or with effectiveSettings true the
effective ones: own, else the default, else AWS's default (dualStackIPv6,
awsvpcTrunking, containerInsights disabled; the three long-ARN formats
enabled), principalArn naming where the value comes from; filters name and
value. ``dualStackIPv6`` takes only enabled/disabled. moto's own store
follows the caller's effective values, so its long-ARN switches keep working.

Simplified against AWS (on purpose): no placement, capacity or quotas (every
launch succeeds while the subnet has a free address); all new tasks start
together and the old deployment is drained all at once at completion (no
minimumHealthyPercent/maximumPercent stepping); ACTIVE deployments' failed
tasks are not replaced; no deregistration delay beyond DEACTIVATING; stopped
tasks never expire; exit codes are 1 for the crashing essential container
and 0 for every other stop; no service-linked role checks (roleArn renders
the ECS service-linked role with a load balancer); one caller principal;
tags on model tasks are not kept; the incident is the DNS64-without-NAT64
rule only; a FARGATE / FARGATE_SPOT capacity provider strategy is taken as
launchType FARGATE (rendered so); ListAccountSettings does not page.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import random
import sys
import time
import traceback
import uuid
from collections import deque
from typing import Any, Callable

DEFAULT_TIMINGS: dict[str, float] = {
    "start_seconds": 0.5,
    "health_seconds": 0.5,
    "fail_seconds": 1.0,
    "stop_seconds": 0.3,
    "eni_linger_seconds": 1.0,
    "retry_seconds": 5.0,
}
# Lower bounds that keep a failing service from looping at one instant.
MIN_TIMINGS = {"start_seconds": 0.01, "retry_seconds": 0.01}
FAIL_MODES = ("always", "with_ipv6", "never")

NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Fargate Linux platform versions and what they resolve to.
PLATFORM_VERSIONS = {
    "LATEST": (1, 4, 0),
    "1.4.0": (1, 4, 0),
    "1.3.0": (1, 3, 0),
    "1.2.0": (1, 2, 0),
    "1.1.0": (1, 1, 0),
    "1.0.0": (1, 0, 0),
}
# Account settings: AWS's values when nobody set one (effectiveSettings).
AWS_SETTING_DEFAULTS = {
    "serviceLongArnFormat": "enabled",
    "taskLongArnFormat": "enabled",
    "containerInstanceLongArnFormat": "enabled",
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "dualStackIPv6": "disabled",
}
SETTING_NAMES = (
    "serviceLongArnFormat",
    "taskLongArnFormat",
    "containerInstanceLongArnFormat",
    "containerLongArnFormat",
    "awsvpcTrunking",
    "containerInsights",
    "dualStackIPv6",
    "fargateFIPSMode",
    "tagResourceAuthorization",
    "fargateTaskRetirementWaitPeriod",
    "guardDutyActivate",
    "defaultLogDriverMode",
)

ELB_REASON = "Task failed ELB health checks in (target-group {arn})"
CONTAINER_HC_REASON = "Task failed container health checks"
EXIT_REASON = "Essential container in task exited"
SCALING_REASON = "Scaling activity initiated by (deployment {id})"
USER_REASON = "Task stopped by user"
BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
ROLLBACK_REASON = "ECS deployment circuit breaker: rolling back to deploymentId {id}."

STOPPING_STATES = ("DEACTIVATING", "STOPPING", "DEPROVISIONING")


def utc(t: float | None) -> datetime.datetime | None:
    return None if t is None else datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def private_dns_name(ip: str, region: str) -> str:
    host = "ip-" + ip.replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"


def breaker_threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(desired / 2)))


class Deployment:
    def __init__(self, svc: "Service", t: float, config: dict[str, Any], rollback_of: str | None = None) -> None:
        self.svc = svc
        self.id = deployment_id()
        self.status = "PRIMARY"
        self.task_definition = config["task_definition"]
        self.network = config["network"]
        self.platform_version = config["platform_version"]
        self.launch_type = config["launch_type"]
        self.desired = svc.moto.desired_count or 0
        self.failed_tasks = 0
        self.created_at = t
        self.updated_at = t
        self.rollout = "IN_PROGRESS"
        self.rollout_reason = f"ECS deployment {self.id} in progress."
        self.rollback_of = rollback_of
        self.tasks: list[Task] = []

    def config(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_definition": self.task_definition,
            "network": self.network,
            "platform_version": self.platform_version,
            "launch_type": self.launch_type,
        }


class Service:
    """Model state of one moto service (moto's object is ``moto``)."""

    def __init__(self, moto_service: Any, account: str, region: str, modelled: bool, caller: str, t: float) -> None:
        self.moto = moto_service
        self.account = account
        self.region = region
        self.modelled = modelled
        self.created_by = caller
        self.created_at = t
        self.deployment_configuration: dict[str, Any] = {
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }
        self.grace: int | None = None
        self.deployments: list[Deployment] = []
        self.events: list[dict[str, Any]] = []
        self.next_subnet = 0
        self.last_completed: dict[str, Any] | None = None
        self.t_retry: float | None = None
        self.deleted = False

    @property
    def name(self) -> str:
        return self.moto.name

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    def tasks(self) -> list["Task"]:
        return [task for d in self.deployments for task in d.tasks]

    def breaker(self) -> dict[str, Any]:
        return self.deployment_configuration.get("deploymentCircuitBreaker") or {}

    def target_groups(self) -> list[tuple[str, int, str]]:
        """(target group ARN, container port, container name) of each load balancer."""
        return [
            (lb["targetGroupArn"], int(lb["containerPort"]), lb.get("containerName", ""))
            for lb in self.moto.load_balancers or []
            if lb.get("targetGroupArn")
        ]

    def event(self, t: float, message: str) -> None:
        self.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utc(t), "message": f"(service {self.name}) {message}"})
        del self.events[100:]


class Task:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)
        self.status = "PROVISIONING"
        self.desired = "RUNNING"
        self.version = 1
        self.started_at: float | None = None
        self.t_healthy: float | None = None
        self.t_check: float | None = None
        self.t_exit: float | None = None
        self.checked = False
        self.healthy_seen = False
        self.stop_code: str | None = None
        self.stopped_reason: str | None = None
        self.stopping_at: float | None = None
        self.t_stopping: float | None = None
        self.t_deprovisioning: float | None = None
        self.t_stopped: float | None = None
        self.stopped_at: float | None = None
        self.t_eni: float | None = None
        self.eni_gone = False
        self.registered: list[tuple[str, int]] = []

    def next_event(self) -> tuple[float, int, str] | None:
        # The middle number orders events due at the same instant: an exit
        # beats a health check.
        if self.status == "PROVISIONING":
            return (self.t_pending, 0, "pending")
        if self.status == "PENDING":
            return (self.t_running, 0, "running")
        if self.status == "RUNNING":
            due = []
            if self.t_exit is not None:
                due.append((self.t_exit, 0, "exit"))
            if self.t_check is not None and not self.checked:
                due.append((self.t_check, 1, "check"))
            if self.t_healthy is not None and not self.healthy_seen:
                due.append((self.t_healthy, 2, "healthy"))
            return min(due) if due else None
        if self.status == "DEACTIVATING":
            return (self.t_stopping, 0, "stopping")
        if self.status == "STOPPING":
            return (self.t_deprovisioning, 0, "deprovisioning")
        if self.status == "DEPROVISIONING":
            return (self.t_stopped, 0, "stopped")
        if self.status == "STOPPED" and not self.eni_gone:
            return (self.t_eni, 0, "eni")
        return None


class EcsModel:
    def __init__(
        self,
        state: Any,
        targets: dict[str, Any],
        caller_arn: str,
        ipv6_blocks: Callable[[Any], list[ipaddress.IPv6Network]],
    ) -> None:
        self.state = state
        self.targets = targets
        self.ipv6_blocks = ipv6_blocks  # a subnet's *associated* IPv6 blocks (launcher, correction j)
        self.caller_template = caller_arn  # "arn:aws:iam::123456789012:user/test"
        self.default_timings = dict(DEFAULT_TIMINGS)
        self.timings = dict(DEFAULT_TIMINGS)
        self.fail_modes: dict[str, str] = {}
        self._clear()

    def _clear(self) -> None:
        self.services: list[Service] = []
        self.tasks: list[Task] = []  # every model task, in launch order
        self.active: list[Task] = []  # tasks with events still to come
        # (account, region) -> {(principal, name): value}
        self.settings: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
        self.released: dict[str, deque[str]] = {}  # subnet -> recently freed IPv4 addresses
        self.backends: dict[tuple[str, str], Any] = {}  # the moto ECS backend each key's state lives in

    # -- configuration -------------------------------------------------------

    def reset(self) -> None:
        with self.state.lock:
            self._clear()
            self.fail_modes.clear()
            self.timings = dict(self.default_timings)

    def set_default_timings(self, values: dict[str, float]) -> None:
        self.default_timings.update(values)
        self.timings = dict(self.default_timings)

    def set_timings(self, payload: dict[str, Any]) -> dict[str, float]:
        values = {}
        for name, value in payload.items():
            if name not in DEFAULT_TIMINGS:
                raise ValueError(f"unknown ECS timing {name!r} (known: {', '.join(DEFAULT_TIMINGS)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"'{name}' must be a number of seconds >= 0")
            values[name] = float(value)
        with self.state.lock:
            self.timings.update(values)
            return dict(self.timings)

    def timing(self, name: str) -> float:
        return max(MIN_TIMINGS.get(name, 0.0), float(self.timings[name]))

    def set_fail_mode(self, payload: dict[str, Any]) -> dict[str, Any]:
        service = payload.get("service")
        if not isinstance(service, str) or not service:
            raise ValueError("ecs-tasks needs a 'service' (service name)")
        if "fail" not in payload:
            raise ValueError("ecs-tasks needs 'fail': always, with_ipv6, never or null")
        mode = payload["fail"]
        if mode is not None and mode not in FAIL_MODES:
            raise ValueError("'fail' must be always, with_ipv6, never or null")
        with self.state.lock:
            if mode is None:
                self.fail_modes.pop(service, None)
            else:
                self.fail_modes[service] = mode
            return {"fail": dict(self.fail_modes)}

    def fail_modes_json(self) -> dict[str, Any]:
        with self.state.lock:
            return {"fail": dict(self.fail_modes)}

    # -- moto backends ---------------------------------------------------------

    @staticmethod
    def ec2(account: str, region: str) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[account][region]

    @staticmethod
    def elbv2(account: str, region: str) -> Any:
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[account][region]

    @staticmethod
    def ecs(account: str, region: str) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[account][region]

    def caller(self, account: str) -> str:
        return self.caller_template.replace("123456789012", account)

    @staticmethod
    def root(account: str) -> str:
        return f"arn:aws:iam::{account}:root"

    # -- account settings -----------------------------------------------------

    def effective_setting(self, account: str, region: str, principal: str, name: str) -> tuple[str | None, str]:
        store = self.settings.get((account, region), {})
        if (principal, name) in store:
            return store[(principal, name)], principal
        root = self.root(account)
        if (root, name) in store:
            return store[(root, name)], root
        return AWS_SETTING_DEFAULTS.get(name), root

    def dual_stack(self, account: str, region: str) -> bool:
        value, _ = self.effective_setting(account, region, self.caller(account), "dualStackIPv6")
        return value == "enabled"

    def sync_moto_settings(self, backend: Any, account: str, region: str) -> None:
        """moto's one-per-name store follows the caller's settings (long ARNs)."""
        from moto.ecs.models import AccountSetting

        store = self.settings.get((account, region), {})
        caller, root = self.caller(account), self.root(account)
        for name in SETTING_NAMES:
            value = store.get((caller, name), store.get((root, name)))
            if value is None:
                backend.account_settings.pop(name, None)
            else:
                backend.account_settings[name] = AccountSetting(name, value)

    # -- the clock ---------------------------------------------------------------

    def advance(self) -> None:
        """Replay every due event in time order, then check the services now."""
        with self.state.lock:
            try:
                now = time.time()
                self._drop_stale()
                for _ in range(20000):
                    due = None
                    for task in self.active:
                        event = task.next_event()
                        if event is not None and (due is None or event < due[0]):
                            due = (event, task)
                    for svc in self.services:
                        t = self._service_due(svc)
                        if t is not None and (due is None or (t, 3, "retry") < due[0]):
                            due = ((t, 3, "retry"), svc)
                    if due is None or due[0][0] > now:
                        break
                    (t, _, kind), subject = due
                    if isinstance(subject, Service):
                        self.reconcile(subject, t)
                    else:
                        self.apply(subject, kind, t)
                self.active = [task for task in self.active if task.next_event() is not None]
                for svc in list(self.services):
                    self.reconcile(svc, now, poll=True)
                self._cluster_counts()
            except Exception:  # never break the request that ticked the clock
                traceback.print_exc(file=sys.stderr)

    def touch(self, account: str, region: str) -> None:
        """Model state is about to live in this account and region."""
        self.backends.setdefault((account, region), self.ecs(account, region))

    def _drop_stale(self) -> None:
        """Forget the state of backends moto reset behind our back (/moto-api/reset
        replaces them): services, tasks and settings of that account and region."""
        for key, backend in list(self.backends.items()):
            if self.ecs(*key) is backend:
                continue
            del self.backends[key]
            self.settings.pop(key, None)
            self.services = [s for s in self.services if (s.account, s.region) != key]
            self.tasks = [t for t in self.tasks if (t.account, t.region) != key]
            self.active = [t for t in self.active if (t.account, t.region) != key]

    def _service_due(self, svc: Service) -> float | None:
        primary = svc.primary
        if svc.deleted or primary is None or primary.rollout != "FAILED" or svc.t_retry is None:
            return None
        live = [task for task in primary.tasks if task.desired == "RUNNING"]
        return svc.t_retry if len(live) < primary.desired else None

    def _cluster_counts(self) -> None:
        counts: dict[tuple[str, str, str], list[int]] = {}
        for task in self.tasks:
            key = (task.account, task.region, task.cluster_name)
            running_pending = counts.setdefault(key, [0, 0])
            if task.status == "RUNNING":
                running_pending[0] += 1
            elif task.status in ("PROVISIONING", "PENDING"):
                running_pending[1] += 1
        for (account, region, cluster_name), (running, pending) in counts.items():
            cluster = self.ecs(account, region).clusters.get(cluster_name)
            if cluster is not None:
                cluster.running_tasks_count = running
                cluster.pending_tasks_count = pending

    # -- task events -------------------------------------------------------------

    def apply(self, task: Task, kind: str, t: float) -> None:
        task.version += 1
        if kind == "pending":
            task.status = "PENDING"
        elif kind == "running":
            self._running(task, t)
        elif kind == "exit":
            essential = next((c for c in task.containers if c["essential"]), task.containers[0])
            for container in task.containers:
                container["exit_code"] = 1 if container is essential else 0
                container["stopped_at"] = t
            self.stop(task, t, "EssentialContainerExited", EXIT_REASON, failed=True)
        elif kind == "check":
            task.checked = True
            verdict = self.failing(task, t)
            if verdict is not None:
                self.stop(task, t, "ServiceSchedulerInitiated", verdict, failed=True)
        elif kind == "healthy":
            task.healthy_seen = True
            self._unhealthy_events(task, t)
        elif kind == "stopping":
            task.status = "STOPPING"
            self._forget_targets(task)
        elif kind == "deprovisioning":
            task.status = "DEPROVISIONING"
        elif kind == "stopped":
            task.status = "STOPPED"
            task.stopped_at = t
            task.t_eni = t + self.timing("eni_linger_seconds")
            for container in task.containers:
                container.setdefault("exit_code", 0 if task.started_at is not None else None)
                container.setdefault("stopped_at", t)
        elif kind == "eni":
            self._delete_eni(task)
        if task.service is not None:
            self.reconcile(task.service, t)

    def _running(self, task: Task, t: float) -> None:
        task.status = "RUNNING"
        task.started_at = t
        task.t_healthy = t + self.timing("health_seconds")
        fail = self.timing("fail_seconds")
        if task.forced == "always" or (task.forced == "with_ipv6" and task.ipv6):
            task.t_exit = t + fail  # the essential container crashes
        svc = task.service
        if svc is None:
            return
        groups = svc.target_groups()
        has_hc = any(c["health_check"] for c in task.containers)
        if task.t_exit is None and task.forced != "never" and (groups or has_hc):
            task.t_check = t + max(fail, float(svc.grace or 0) if groups or has_hc else 0.0)
        register = self.targets["register"]
        elbv2 = self.elbv2(task.account, task.region)
        for arn, port, _ in groups:
            group = elbv2.target_groups.get(arn)
            if group is None:
                continue
            register(group, task.ipv4, port, self._natural(task))
            task.registered.append((arn, port))
            svc.event(t, f"registered 1 targets in (target-group {arn})")

    def _natural(self, task: Task) -> Callable[[float | None], tuple[str, Any, Any]]:
        reasons = self.targets["reasons"]

        def natural(at: float | None) -> tuple[str, Any, Any]:
            t = time.time() if at is None else at
            if task.status != "RUNNING" or task.t_healthy is None or t < task.t_healthy:
                return ("initial", *reasons["initial"])
            if self.broken(task):
                return ("unhealthy", *reasons["unhealthy"])
            return ("healthy", *reasons["healthy"])

        return natural

    def _unhealthy_events(self, task: Task, t: float) -> None:
        svc = task.service
        if svc is None or task.status != "RUNNING":
            return
        health = self.targets["health"]
        elbv2 = self.elbv2(task.account, task.region)
        for arn, port in task.registered:
            group = elbv2.target_groups.get(arn)
            if group is not None and health(group, task.ipv4, port, t) == "unhealthy":
                svc.event(
                    t,
                    f"(port {port}) is unhealthy in (target-group {arn}) due to (reason Health checks failed).",
                )

    def _forget_targets(self, task: Task) -> None:
        elbv2 = self.elbv2(task.account, task.region)
        for arn, port in task.registered:
            group = elbv2.target_groups.get(arn)
            if group is not None:
                self.targets["forget"](group, task.ipv4, port)

    def _delete_eni(self, task: Task) -> None:
        task.eni_gone = True
        ec2 = self.ec2(task.account, task.region)
        try:
            ec2.delete_network_interface(task.eni_id)
        except Exception:
            pass  # already gone
        try:
            subnet = ec2.get_subnet(task.subnet_id)
            subnet._subnet_ips.pop(task.ipv4, None)
        except Exception:
            pass
        self.released.setdefault(task.subnet_id, deque(maxlen=64)).append(task.ipv4)

    # -- health ----------------------------------------------------------------

    def incident(self, task: Task) -> bool:
        """IPv6 + DNS64 on + no 64:ff9b::/96 route to a NAT gateway (live)."""
        if not task.ipv6:
            return False
        ec2 = self.ec2(task.account, task.region)
        try:
            subnet = ec2.get_subnet(task.subnet_id)
        except Exception:
            return False
        if not getattr(subnet, "enable_dns64", False):
            return False
        tables = list(ec2.route_tables.values())
        table = next((rt for rt in tables if subnet.id in rt._associations.values()), None)
        if table is None:
            table = next((rt for rt in tables if rt.vpc_id == subnet.vpc_id and rt.main_association_id), None)
        for route in table.routes if table is not None else []:
            destination = route.destination_ipv6_cidr_block
            if not destination or route.nat_gateway is None:
                continue
            try:
                if ipaddress.IPv6Network(destination, strict=False) == NAT64_PREFIX:
                    return False
            except ValueError:
                continue
        return True

    def broken(self, task: Task) -> bool:
        if task.forced == "never":
            return False
        if task.forced == "always" or (task.forced == "with_ipv6" and task.ipv6):
            return True
        return self.incident(task)

    def container_health(self, task: Task, container: dict[str, Any], t: float) -> str:
        if not container["health_check"]:
            return "UNKNOWN"
        if task.stopping_at is not None:
            t = min(t, task.stopping_at)
        if task.started_at is None or task.t_healthy is None or t < task.t_healthy:
            return "UNKNOWN"
        return "UNHEALTHY" if self.broken(task) else "HEALTHY"

    def task_health(self, task: Task, t: float) -> str:
        checked = [
            self.container_health(task, c, t) for c in task.containers if c["health_check"] and c["essential"]
        ]
        if not checked:
            return "UNKNOWN"
        if "UNHEALTHY" in checked:
            return "UNHEALTHY"
        return "HEALTHY" if all(h == "HEALTHY" for h in checked) else "UNKNOWN"

    def failing(self, task: Task, t: float) -> str | None:
        """The scheduler's reason to stop a RUNNING service task at `t`, if any."""
        if task.forced == "never" or task.service is None or task.status != "RUNNING":
            return None
        health = self.targets["health"]
        elbv2 = self.elbv2(task.account, task.region)
        for arn, port in task.registered:
            group = elbv2.target_groups.get(arn)
            if group is not None and health(group, task.ipv4, port, t) == "unhealthy":
                return ELB_REASON.format(arn=arn)
        if any(c["health_check"] for c in task.containers) and self.task_health(task, t) == "UNHEALTHY":
            return CONTAINER_HC_REASON
        return None

    def healthy(self, task: Task, t: float) -> bool:
        """Counts towards its deployment's completion."""
        if task.status != "RUNNING" or task.desired != "RUNNING" or task.t_exit is not None:
            return False
        svc = task.service
        health = self.targets["health"]
        elbv2 = self.elbv2(task.account, task.region)
        for arn, port, _ in svc.target_groups():
            group = elbv2.target_groups.get(arn)
            if group is None or health(group, task.ipv4, port, t) != "healthy":
                return False
        if any(c["health_check"] for c in task.containers):
            return self.task_health(task, t) == "HEALTHY"
        return True

    # -- stop ----------------------------------------------------------------------

    def stop(self, task: Task, t: float, code: str, reason: str, failed: bool = False) -> None:
        if task.desired == "STOPPED":
            return
        task.desired = "STOPPED"
        task.stop_code = code
        task.stopped_reason = reason
        task.stopping_at = t
        task.version += 1
        s = self.timing("stop_seconds")
        svc = task.service
        if task.status == "RUNNING":
            task.status = "DEACTIVATING"
            task.t_stopping = t + s / 3
            task.t_deprovisioning = t + 2 * s / 3
            task.t_stopped = t + s
            deregister = self.targets["deregister"]
            elbv2 = self.elbv2(task.account, task.region)
            for arn, port in task.registered:
                group = elbv2.target_groups.get(arn)
                if group is not None and deregister(group, task.ipv4, port) and svc is not None:
                    svc.event(t, "has begun draining connections on 1 tasks.")
                    svc.event(t, f"deregistered 1 targets in (target-group {arn})")
        elif task.status in ("PROVISIONING", "PENDING"):
            task.status = "DEPROVISIONING"
            task.t_stopped = t + s / 3
        if task not in self.active:
            self.active.append(task)
        if svc is not None:
            svc.event(t, f"has stopped 1 running tasks: (task {task.id}).")
        if failed and task.deployment is not None:
            self._failed(task.deployment, t)

    def _failed(self, dep: Deployment, t: float) -> None:
        dep.failed_tasks += 1
        dep.updated_at = t
        svc = dep.svc
        breaker = svc.breaker()
        if dep.status != "PRIMARY" or dep.rollout != "IN_PROGRESS" or not breaker.get("enable"):
            return
        if dep.failed_tasks < breaker_threshold(dep.desired):
            return
        dep.rollout = "FAILED"
        dep.rollout_reason = BREAKER_REASON
        svc.event(t, f"(deployment {dep.id}) deployment failed: tasks failed to start.")
        back = svc.last_completed
        if breaker.get("rollback") and dep.rollback_of is None and back is not None and back["id"] != dep.id:
            rollback = self.new_deployment(svc, t, back, rollback_of=back["id"])
            rollback.rollout_reason = ROLLBACK_REASON.format(id=back["id"])
            svc.event(t, f"rolling back to deployment {back['id']}.")
            for task in dep.tasks:
                if task.desired == "RUNNING":
                    self.stop(task, t, "ServiceSchedulerInitiated", SCALING_REASON.format(id=rollback.id))
        else:
            svc.t_retry = t + self.timing("retry_seconds")

    # -- the service scheduler ---------------------------------------------------

    def new_deployment(
        self, svc: Service, t: float, config: dict[str, Any], rollback_of: str | None = None
    ) -> Deployment:
        for old in svc.deployments:
            if old.status == "PRIMARY":
                old.status = "ACTIVE"
                old.updated_at = t
        dep = Deployment(svc, t, config, rollback_of)
        svc.deployments.insert(0, dep)
        svc.moto.task_definition = dep.task_definition
        svc.moto.network_configuration = dep.network
        svc.moto.platform_version = dep.platform_version
        svc.t_retry = None
        return dep

    def reconcile(self, svc: Service, t: float, poll: bool = False) -> None:
        if not svc.modelled or svc.deleted:
            return
        if poll:
            for task in svc.tasks():
                if task.checked and task.desired == "RUNNING":
                    verdict = self.failing(task, t)
                    if verdict is not None:
                        self.stop(task, t, "ServiceSchedulerInitiated", verdict, failed=True)
        dep = svc.primary
        if dep is None:
            return
        if dep.rollout == "IN_PROGRESS":
            running = [task for task in dep.tasks if self.healthy(task, t)]
            if len(running) >= dep.desired:
                self.complete(dep, t)
        live = [task for task in dep.tasks if task.desired == "RUNNING"]
        missing = dep.desired - len(live)
        if missing > 0:
            if dep.rollout == "FAILED":
                if svc.t_retry is None:
                    svc.t_retry = t + self.timing("retry_seconds")
                if t < svc.t_retry:
                    return
                svc.t_retry = t + self.timing("retry_seconds")
                missing = 1
            started = [self.launch_for(svc, dep, t) for _ in range(missing)]
            started = [task for task in started if task is not None]
            if started:
                svc.event(t, f"has started {len(started)} tasks: " + " ".join(f"(task {x.id})" for x in started) + ".")
        elif missing < 0:
            # Scale in: tasks not yet running first, then the newest.
            extra = sorted(live, key=lambda x: (x.status == "RUNNING", -x.created_at))[: -missing]
            for task in extra:
                self.stop(task, t, "ServiceSchedulerInitiated", SCALING_REASON.format(id=dep.id))

    def complete(self, dep: Deployment, t: float) -> None:
        svc = dep.svc
        dep.rollout = "COMPLETED"
        dep.rollout_reason = f"ECS deployment {dep.id} completed."
        dep.updated_at = t
        svc.last_completed = dep.config()
        for other in svc.deployments:
            if other is dep:
                continue
            for task in other.tasks:
                if task.desired == "RUNNING":
                    self.stop(task, t, "ServiceSchedulerInitiated", SCALING_REASON.format(id=dep.id))
        svc.deployments = [dep]
        svc.event(t, f"(deployment {dep.id}) deployment completed.")
        svc.event(t, "has reached a steady state.")

    def launch_for(self, svc: Service, dep: Deployment, t: float) -> Task | None:
        backend = self.ecs(svc.account, svc.region)
        conf = (dep.network or {}).get("awsvpcConfiguration") or {}
        subnets = conf.get("subnets") or []
        subnet_id = subnets[svc.next_subnet % len(subnets)]
        svc.next_subnet += 1
        try:
            return self.launch(
                account=svc.account,
                region=svc.region,
                cluster=backend._get_cluster(svc.moto.cluster_name),
                task_definition=backend.describe_task_definition(dep.task_definition),
                awsvpc=conf,
                subnet_id=subnet_id,
                platform_version=dep.platform_version,
                launch_type=dep.launch_type,
                group=f"service:{svc.name}",
                started_by=dep.id,
                t=t,
                service=svc,
                deployment=dep,
                forced=self.fail_modes.get(svc.name),
            )
        except Exception as err:  # AWS: the service event says why a task could not start
            svc.event(t, f"was unable to place a task. Reason: {err}.")
            return None

    # -- launching a task -----------------------------------------------------------

    def pick_ipv4(self, ec2: Any, subnet: Any) -> str:
        network = ipaddress.IPv4Network(subnet.cidr_block, strict=False)
        used = set(subnet._subnet_ips) | set(self.released.get(subnet.id, ()))
        for eni in ec2.get_all_network_interfaces():
            if eni.subnet is not None and eni.subnet.id == subnet.id:
                used.add(str(eni.private_ip_address))
                used.update(str(a.get("PrivateIpAddress")) for a in eni.private_ip_addresses or [])
        first, last = 4, network.num_addresses - 2  # AWS reserves the first four and the last
        for _ in range(200):
            candidate = str(network.network_address + random.randint(first, last))
            if candidate not in used:
                return candidate
        for offset in range(first, last + 1):
            candidate = str(network.network_address + offset)
            if candidate not in used:
                return candidate
        raise RuntimeError(f"subnet {subnet.id} has no free IPv4 address")

    def launch(
        self,
        account: str,
        region: str,
        cluster: Any,
        task_definition: Any,
        awsvpc: dict[str, Any],
        subnet_id: str,
        platform_version: str | None,
        launch_type: str,
        group: str,
        started_by: str | None,
        t: float,
        service: Service | None = None,
        deployment: Deployment | None = None,
        forced: str | None = None,
    ) -> Task:
        from moto.ec2.utils import random_public_ip
        from moto.utilities.utils import get_partition

        associated_ipv6_blocks = self.ipv6_blocks
        self.touch(account, region)
        ec2 = self.ec2(account, region)
        subnet = ec2.get_subnet(subnet_id)
        partition = get_partition(region)
        version = platform_version or "LATEST"
        ipv6 = bool(
            subnet.assign_ipv6_address_on_creation
            and associated_ipv6_blocks(subnet)
            and self.dual_stack(account, region)
            and PLATFORM_VERSIONS.get(version, (0,)) >= (1, 4, 0)
        )
        ipv4 = self.pick_ipv4(ec2, subnet)
        attachment_id = str(uuid.uuid4())
        eni = ec2.create_network_interface(
            subnet,
            ipv4,
            group_ids=list(awsvpc.get("securityGroups") or []) or None,
            description=f"arn:{partition}:ecs:{region}:{account}:attachment/{attachment_id}",
            ipv6_address_count=1 if ipv6 else 0,
            auto_ipv6=False,
        )
        eni.status = "in-use"
        eni.requester_managed = True
        eni.private_dns_name = private_dns_name(ipv4, region)
        for address in eni.private_ip_addresses:
            if address.get("Primary"):
                address["PrivateDnsName"] = eni.private_dns_name
        if str(awsvpc.get("assignPublicIp", "DISABLED")).upper() == "ENABLED":
            eni.public_ip = random_public_ip()
        subnet._subnet_ips[ipv4] = eni
        task_id = uuid.uuid4().hex
        containers = []
        for definition in task_definition.container_definitions:
            containers.append(
                {
                    "name": definition.get("name"),
                    "image": definition.get("image"),
                    "arn": f"arn:{partition}:ecs:{region}:{account}:container/{cluster.name}/{task_id}/{uuid.uuid4()}",
                    "essential": definition.get("essential", True) is not False,
                    "health_check": bool(definition.get("healthCheck")),
                    "cpu": definition.get("cpu", 0),
                    "memory": definition.get("memory"),
                }
            )
        start = self.timing("start_seconds")
        task = Task(
            id=task_id,
            arn=f"arn:{partition}:ecs:{region}:{account}:task/{cluster.name}/{task_id}",
            account=account,
            region=region,
            cluster_name=cluster.name,
            cluster_arn=cluster.arn,
            task_definition=task_definition,
            group=group,
            started_by=started_by,
            launch_type=launch_type,
            platform_version="1.4.0" if version == "LATEST" else version,
            service=service,
            deployment=deployment,
            forced=forced,
            subnet_id=subnet.id,
            availability_zone=subnet.availability_zone,
            eni_id=eni.id,
            attachment_id=attachment_id,
            mac=eni.mac_address,
            ipv4=ipv4,
            ipv6=(eni.ipv6_addresses or [None])[0],
            dns=eni.private_dns_name,
            containers=containers,
            created_at=t,
            t_pending=t + start / 2,
            t_running=t + start,
        )
        self.tasks.append(task)
        self.active.append(task)
        if deployment is not None:
            deployment.tasks.append(task)
        return task

    # -- rendering ------------------------------------------------------------------------

    def render_task(self, task: Task, now: float) -> dict[str, Any]:
        td = task.task_definition
        details = [
            {"name": "subnetId", "value": task.subnet_id},
            {"name": "networkInterfaceId", "value": task.eni_id},
            {"name": "macAddress", "value": task.mac},
            {"name": "privateDnsName", "value": task.dns},
            {"name": "privateIPv4Address", "value": task.ipv4},
        ]
        if task.ipv6:
            details.append({"name": "ipv6Address", "value": task.ipv6})
        attachment_status = {
            "PROVISIONING": "PRECREATED",
            "DEPROVISIONING": "DETACHING",
            "STOPPED": "DELETED" if task.eni_gone else "DETACHED",
        }.get(task.status, "ATTACHED")
        interface = {"attachmentId": task.attachment_id, "privateIpv4Address": task.ipv4}
        if task.ipv6:
            interface["ipv6Address"] = task.ipv6
        containers = []
        for c in task.containers:
            if task.status in ("PROVISIONING", "PENDING"):
                last = "PENDING"
            elif task.status in ("DEPROVISIONING", "STOPPED") or c.get("stopped_at") is not None:
                last = "STOPPED"
            else:
                last = "RUNNING"
            rendered = {
                "containerArn": c["arn"],
                "taskArn": task.arn,
                "name": c["name"],
                "image": c["image"],
                "lastStatus": last,
                "networkBindings": [],
                "networkInterfaces": [dict(interface)],
                "healthStatus": self.container_health(task, c, now),
                "cpu": str(c["cpu"] or 0),
            }
            if c["memory"] is not None:
                rendered["memory"] = str(c["memory"])
            if last == "STOPPED" and c.get("exit_code") is not None:
                rendered["exitCode"] = c["exit_code"]
            containers.append(rendered)
        running_seen = task.started_at is not None
        answer: dict[str, Any] = {
            "taskArn": task.arn,
            "clusterArn": task.cluster_arn,
            "taskDefinitionArn": td.arn,
            "group": task.group,
            "startedBy": task.started_by,
            "launchType": task.launch_type,
            "platformVersion": task.platform_version,
            "platformFamily": "Linux",
            "lastStatus": task.status,
            "desiredStatus": task.desired,
            "healthStatus": self.task_health(task, now),
            "cpu": td.cpu,
            "memory": td.memory,
            "createdAt": utc(task.created_at),
            "availabilityZone": task.availability_zone,
            "version": task.version,
            "connectivity": "CONNECTED",
            "connectivityAt": utc(task.t_pending if task.status != "PROVISIONING" else task.created_at),
            "pullStartedAt": utc(task.t_pending) if task.status != "PROVISIONING" and task.t_pending <= now else None,
            "pullStoppedAt": utc(task.t_running) if running_seen else None,
            "startedAt": utc(task.started_at),
            "stopCode": task.stop_code,
            "stoppedReason": task.stopped_reason,
            "stoppingAt": utc(task.stopping_at),
            "stoppedAt": utc(task.stopped_at),
            "executionStoppedAt": utc(task.stopped_at),
            "attachments": [
                {
                    "id": task.attachment_id,
                    "type": "ElasticNetworkInterface",
                    "status": attachment_status,
                    "details": details,
                }
            ],
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
            "containers": containers,
            "overrides": {
                "containerOverrides": [{"name": c["name"]} for c in task.containers],
                "inferenceAcceleratorOverrides": [],
            },
            "ephemeralStorage": {"sizeInGiB": 20},
            "enableExecuteCommand": False,
            "tags": [],
        }
        return {k: v for k, v in answer.items() if v is not None}

    def render_deployment(self, dep: Deployment) -> dict[str, Any]:
        tasks = dep.tasks
        desired = dep.desired if dep.status == "PRIMARY" else sum(1 for x in tasks if x.desired == "RUNNING")
        return {
            "id": dep.id,
            "status": dep.status,
            "taskDefinition": dep.task_definition,
            "desiredCount": desired,
            "pendingCount": sum(1 for x in tasks if x.status in ("PROVISIONING", "PENDING")),
            "runningCount": sum(1 for x in tasks if x.status == "RUNNING"),
            "failedTasks": dep.failed_tasks,
            "createdAt": utc(dep.created_at),
            "updatedAt": utc(dep.updated_at),
            "launchType": dep.launch_type,
            "platformVersion": dep.platform_version or "LATEST",
            "platformFamily": "Linux",
            "networkConfiguration": dep.network,
            "rolloutState": dep.rollout,
            "rolloutStateReason": dep.rollout_reason,
        }

    def render_service(self, svc: Service) -> dict[str, Any]:
        moto = svc.moto
        tasks = svc.tasks()
        status = moto.status
        if svc.deleted:
            status = "DRAINING" if any(x.status != "STOPPED" for x in tasks) else "INACTIVE"
        if svc.modelled:
            deployments = [self.render_deployment(d) for d in svc.deployments]
            running = sum(1 for x in tasks if x.status == "RUNNING")
            pending = sum(1 for x in tasks if x.status in ("PROVISIONING", "PENDING"))
        else:
            deployments = moto.deployments
            running, pending = moto.running_count, moto.pending_count
        role = moto.role_arn
        if role is None and svc.modelled and moto.load_balancers:
            role = f"arn:aws:iam::{svc.account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
        answer: dict[str, Any] = {
            "serviceArn": moto.arn,
            "serviceName": moto.name,
            "clusterArn": moto.cluster_arn,
            "loadBalancers": moto.load_balancers,
            "serviceRegistries": moto.service_registries,
            "status": status,
            "desiredCount": 0 if svc.deleted else moto.desired_count,
            "runningCount": running,
            "pendingCount": pending,
            "launchType": moto.launch_type,
            "platformVersion": (moto.platform_version or "LATEST") if moto.launch_type == "FARGATE" else moto.platform_version,
            "platformFamily": "Linux" if moto.launch_type == "FARGATE" else None,
            "taskDefinition": moto.task_definition,
            "deploymentConfiguration": svc.deployment_configuration,
            "taskSets": moto.task_sets,
            "deployments": deployments,
            "roleArn": role,
            "events": svc.events,
            "createdAt": utc(svc.created_at),
            "placementConstraints": [],
            "placementStrategy": [],
            "networkConfiguration": moto.network_configuration or None,
            "healthCheckGracePeriodSeconds": svc.grace if svc.grace is not None else (0 if moto.load_balancers else None),
            "schedulingStrategy": moto.scheduling_strategy,
            "deploymentController": moto.deployment_controller,
            "tags": moto.tags,
            "createdBy": svc.created_by,
            "enableECSManagedTags": False,
            "propagateTags": moto.propagate_tags,
            "enableExecuteCommand": False,
        }
        return {k: v for k, v in answer.items() if v is not None}

    # -- lookups --------------------------------------------------------------------------

    def service_of(self, moto_service: Any) -> Service | None:
        return next((s for s in self.services if s.moto is moto_service), None)

    def find_tasks(self, account: str, region: str, cluster_name: str) -> list[Task]:
        return [
            t for t in self.tasks if t.account == account and t.region == region and t.cluster_name == cluster_name
        ]


# ---------------------------------------------------------------------------
# Patching moto's ECS responses
# ---------------------------------------------------------------------------


def install(
    state: Any,
    targets: dict[str, Any],
    caller_arn: str,
    ipv6_blocks: Callable[[Any], list[ipaddress.IPv6Network]],
) -> EcsModel:
    """Patch moto's ECS (and its ENI) so Fargate services behave as above."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ecs.exceptions import ECSException, InvalidParameterException
    from moto.ecs.responses import (
        DESCRIBE_SERVICES_TAGS,
        DESCRIBE_TASKS_TAGS,
        EC2ContainerServiceResponse as Responses,
    )

    model = EcsModel(state, targets, caller_arn, ipv6_blocks)

    # moto's own Task (EC2 launch type, awsvpc) reads eni.private_dns_name,
    # which moto sets only in VPCs with DNS hostnames on: no AttributeError.
    NetworkInterface.private_dns_name = None

    original = {
        name: getattr(Responses, name)
        for name in (
            "create_service",
            "update_service",
            "describe_services",
            "delete_service",
            "run_task",
            "describe_tasks",
            "list_tasks",
            "stop_task",
        )
    }

    def context(resp: Any) -> tuple[str, str, Any]:
        return resp.current_account, resp.region, resp.ecs_backend

    def is_fargate(launch_type: str | None, strategy: list[dict[str, Any]] | None) -> bool:
        if launch_type:
            return launch_type == "FARGATE"
        return bool(strategy) and strategy[0].get("capacityProvider") in ("FARGATE", "FARGATE_SPOT")

    def check_platform(version: str | None) -> None:
        if version is not None and version not in PLATFORM_VERSIONS:
            raise InvalidParameterException(f"The specified platform version {version} does not exist.")

    def check_network(network: Any, task_definition: Any) -> dict[str, Any]:
        if task_definition.network_mode == "awsvpc" and not (network or {}).get("awsvpcConfiguration"):
            raise InvalidParameterException(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        network = dict(network or {})
        if "awsvpcConfiguration" in network:
            conf = dict(network["awsvpcConfiguration"])
            conf.setdefault("securityGroups", [])
            conf.setdefault("assignPublicIp", "DISABLED")
            network["awsvpcConfiguration"] = conf
        return network

    def check_load_balancers(account: str, region: str, lbs: list[dict[str, Any]], task_definition: Any) -> None:
        elbv2 = model.elbv2(account, region)
        for lb in lbs or []:
            arn = lb.get("targetGroupArn")
            if not arn:
                raise InvalidParameterException(
                    "Services whose tasks use the awsvpc network mode support Application and Network "
                    "Load Balancers only: give targetGroupArn."
                )
            group = elbv2.target_groups.get(arn)
            if group is None:
                raise InvalidParameterException(
                    "Unable to assume role and validate the specified targetGroupArn. Please verify that "
                    "the ECS service role being passed has the proper permissions."
                )
            if group.target_type != "ip":
                raise InvalidParameterException(
                    f"The provided target group {arn} has target type {group.target_type}, which is "
                    "incompatible with the awsvpc network mode specified in the task definition."
                )
            if not group.load_balancer_arns:
                raise InvalidParameterException(
                    f"The target group with targetGroupArn {arn} does not have an associated load balancer."
                )
            if group.ip_address_type == "ipv6":
                raise InvalidParameterException(
                    f"The target group {arn} has IP address type ipv6; a service's tasks register their "
                    "IPv4 address, so its target groups must have IP address type ipv4."
                )
            name, port = lb.get("containerName"), lb.get("containerPort")
            container = next((c for c in task_definition.container_definitions if c.get("name") == name), None)
            if container is None:
                raise InvalidParameterException(f"The container {name} does not exist in the task definition.")
            ports = {int(p.get("containerPort", -1)) for p in container.get("portMappings") or []}
            if port is None or int(port) not in ports:
                raise InvalidParameterException(
                    f"The container {name} did not have a container port {port} defined."
                )

    def merge_configuration(svc: Service, given: dict[str, Any] | None) -> None:
        for key, value in (given or {}).items():
            svc.deployment_configuration[key] = value

    # ---- CreateService -----------------------------------------------------

    def create_service(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            td_ref = resp._get_param("taskDefinition")
            launch_type = resp._get_param("launchType")
            strategy = resp._get_param("capacityProviderStrategy")
            controller = (resp._get_param("deploymentController") or {}).get("type", "ECS")
            fargate = is_fargate(launch_type, strategy)
            td = backend.describe_task_definition(td_ref) if td_ref else None
            modelled = bool(fargate and controller == "ECS" and td is not None and td.network_mode == "awsvpc")
            name = resp._get_param("serviceName")
            cluster = backend._get_cluster(resp._get_param("cluster", "default"))
            existing = backend.services.get(f"{cluster.name}:{name}")
            if existing is not None and existing.status == "ACTIVE":
                raise InvalidParameterException("Creation of service was not idempotent.")  # AWS's words
            if fargate:
                check_platform(resp._get_param("platformVersion"))
            if modelled:
                resp.params["networkConfiguration"] = check_network(resp._get_param("networkConfiguration"), td)
                check_load_balancers(account, region, resp._get_param("loadBalancers") or [], td)
                if not launch_type:
                    resp.params["launchType"] = "FARGATE"
            result = original["create_service"](resp)
            moto_service = result.result["service"]
            now = time.time()
            old = model.service_of(moto_service)
            if old is not None:
                model.services.remove(old)
            model.touch(account, region)
            svc = Service(moto_service, account, region, modelled, model.caller(account), now)
            merge_configuration(svc, resp._get_param("deploymentConfiguration"))
            svc.grace = resp._get_param("healthCheckGracePeriodSeconds")
            model.services.append(svc)
            if modelled:
                model.new_deployment(
                    svc,
                    now,
                    {
                        "task_definition": td.arn,
                        "network": moto_service.network_configuration,
                        "platform_version": moto_service.platform_version,
                        "launch_type": "FARGATE",
                    },
                )
                model.reconcile(svc, now)
            return ActionResult({"service": model.render_service(svc)})

    Responses.create_service = create_service

    # ---- UpdateService -----------------------------------------------------

    def update_service(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            cluster = resp._get_param("cluster", "default")
            name = str(resp._get_param("service") or "").split("/")[-1]
            moto_service = backend._get_service(cluster, name)
            svc = model.service_of(moto_service)
            if svc is None:
                return original["update_service"](resp)
            if moto_service.status != "ACTIVE" or svc.deleted:
                raise ECSException("ServiceNotActiveException", "Service was not ACTIVE.")
            controller = (moto_service.deployment_controller or {}).get("type", "ECS")
            force = bool(resp._get_param("forceNewDeployment"))
            td_ref = resp._get_param("taskDefinition")
            network = resp._get_param("networkConfiguration")
            platform = resp._get_param("platformVersion")
            lbs = resp._get_param("loadBalancers")
            config = resp._get_param("deploymentConfiguration")
            if controller != "ECS":
                refused = [
                    param
                    for param, value in (
                        ("forceNewDeployment", force or None),
                        ("taskDefinition", td_ref),
                        ("networkConfiguration", network),
                        ("platformVersion", platform),
                        ("loadBalancers", lbs),
                        ("deploymentConfiguration", config if controller == "EXTERNAL" else None),
                    )
                    if value is not None
                ]
                if refused:
                    how = "create a new CodeDeploy deployment" if controller == "CODE_DEPLOY" else "create a new task set"
                    raise InvalidParameterException(
                        f"Unable to update {', '.join(refused)} on a service with a {controller} deployment "
                        f"controller; {how} instead."
                    )
            if not svc.modelled:
                merge_configuration(svc, config)
                if resp._get_param("healthCheckGracePeriodSeconds") is not None:
                    svc.grace = resp._get_param("healthCheckGracePeriodSeconds")
                if controller != "ECS":
                    desired = resp._get_param("desiredCount")
                    if desired is not None:
                        moto_service.desired_count = desired
                    return ActionResult({"service": model.render_service(svc)})
                original["update_service"](resp)
                return ActionResult({"service": model.render_service(svc)})
            now = time.time()
            dep = svc.primary
            td = backend.describe_task_definition(td_ref) if td_ref else backend.describe_task_definition(
                moto_service.task_definition
            )
            check_platform(platform)
            new_network = check_network(network, td) if network is not None else moto_service.network_configuration
            if network is not None:
                moto_service._validate_network(new_network)
            new_lbs = lbs if lbs is not None else moto_service.load_balancers
            if lbs is not None or td_ref:
                check_load_balancers(account, region, new_lbs, td)
            changed = (
                force
                or (td_ref is not None and td.arn != moto_service.task_definition)
                or (network is not None and new_network != moto_service.network_configuration)
                or (platform is not None and platform != (moto_service.platform_version or "LATEST"))
                or (lbs is not None and lbs != moto_service.load_balancers)
            )
            desired = resp._get_param("desiredCount")
            if desired is not None:
                moto_service.desired_count = int(desired)
            merge_configuration(svc, config)
            if resp._get_param("healthCheckGracePeriodSeconds") is not None:
                svc.grace = resp._get_param("healthCheckGracePeriodSeconds")
            if lbs is not None:
                moto_service.load_balancers = lbs
            if changed or dep is None:
                model.new_deployment(
                    svc,
                    now,
                    {
                        "task_definition": td.arn,
                        "network": new_network,
                        "platform_version": platform if platform is not None else moto_service.platform_version,
                        "launch_type": "FARGATE",
                    },
                )
            else:
                dep.desired = moto_service.desired_count or 0
                dep.updated_at = now
            model.reconcile(svc, now)
            return ActionResult({"service": model.render_service(svc)})

    Responses.update_service = update_service

    # ---- DescribeServices / DeleteService ----------------------------------

    def describe_services(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            services, failures = backend.describe_services(
                resp._get_param("cluster", "default"), resp._get_param("services", [])
            )
            rendered = []
            for moto_service in services:
                svc = model.service_of(moto_service)
                if svc is None:  # created before the model (cannot happen in corrected mode)
                    svc = Service(moto_service, account, region, False, model.caller(account), time.time())
                    model.services.append(svc)
                rendered.append(model.render_service(svc))
            if "TAGS" in (resp._get_param("include", []) or []):
                resp._include_in_response(DESCRIBE_SERVICES_TAGS)
            else:
                resp._exclude_from_response(DESCRIBE_SERVICES_TAGS)
            return ActionResult({"services": rendered, "failures": failures})

    Responses.describe_services = describe_services

    def delete_service(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            cluster = resp._get_param("cluster", "default")
            name = str(resp._get_param("service") or "").split("/")[-1]
            moto_service = backend._get_service(cluster, name)
            svc = model.service_of(moto_service)
            original["delete_service"](resp)
            if svc is None:
                svc = Service(moto_service, account, region, False, model.caller(account), time.time())
                model.services.append(svc)
            now = time.time()
            dep = svc.primary
            for task in svc.tasks():
                if task.desired == "RUNNING":
                    model.stop(
                        task, now, "ServiceSchedulerInitiated", SCALING_REASON.format(id=dep.id if dep else "")
                    )
            svc.deleted = True
            return ActionResult({"service": model.render_service(svc)})

    Responses.delete_service = delete_service

    # ---- RunTask / StopTask -------------------------------------------------

    def run_task(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            launch_type = resp._get_param("launchType")
            strategy = resp._get_param("capacityProviderStrategy")
            cluster = backend._get_cluster(resp._get_param("cluster", "default"))
            td_ref = resp._get_param("taskDefinition")
            td = backend.describe_task_definition(td_ref)
            if not launch_type and not strategy:
                strategy = cluster.default_capacity_provider_strategy
            if not (is_fargate(launch_type, strategy) and td.network_mode == "awsvpc"):
                return original["run_task"](resp)
            count = resp._get_int_param("count", 1)
            if not 1 <= count <= 10:
                raise InvalidParameterException("count must be between 1 and 10.")
            version = resp._get_param("platformVersion")
            check_platform(version)
            network = check_network(resp._get_param("networkConfiguration"), td)
            conf = network["awsvpcConfiguration"]
            subnets = conf.get("subnets") or []
            if not subnets:
                raise InvalidParameterException("subnets can not be empty.")
            ec2 = model.ec2(account, region)
            for subnet_id in subnets:
                try:
                    ec2.get_subnet(subnet_id)
                except Exception as err:
                    raise InvalidParameterException(
                        f"Error retrieving subnet information for [{subnet_id}]: {getattr(err, 'message', err)} "
                        "(ErrorCode: InvalidSubnetID.NotFound)"
                    )
            now = time.time()
            tasks = []
            for i in range(count):
                tasks.append(
                    model.launch(
                        account=account,
                        region=region,
                        cluster=cluster,
                        task_definition=td,
                        awsvpc=conf,
                        subnet_id=subnets[i % len(subnets)],
                        platform_version=version,
                        launch_type="FARGATE" if launch_type == "FARGATE" else None,
                        group=resp._get_param("group") or f"family:{td.family}",
                        started_by=resp._get_param("startedBy"),
                        t=now,
                    )
                )
            return ActionResult({"tasks": [model.render_task(t, now) for t in tasks], "failures": []})

    Responses.run_task = run_task

    def matching(task: Task, ref: str) -> bool:
        return ref in (task.arn, task.id) or ref.split("/")[-1] == task.id

    def stop_task(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            cluster = backend._get_cluster(resp._get_param("cluster", "default"))
            ref = str(resp._get_param("task") or "")
            task = next((t for t in model.find_tasks(account, region, cluster.name) if matching(t, ref)), None)
            if task is None:
                return original["stop_task"](resp)
            now = time.time()
            model.stop(task, now, "UserInitiated", resp._get_param("reason") or USER_REASON)
            if task.service is not None:
                model.reconcile(task.service, now)
            return ActionResult({"task": model.render_task(task, now)})

    Responses.stop_task = stop_task

    # ---- ListTasks / DescribeTasks --------------------------------------------

    def list_tasks(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            cluster_ref = resp._get_param("cluster", "default")
            cluster = backend._get_cluster(cluster_ref)
            service_name = resp._get_param("serviceName")
            if service_name:
                backend._get_service(cluster_ref, service_name.split("/")[-1])  # ServiceNotFoundException
                service_name = service_name.split("/")[-1]
            desired = resp._get_param("desiredStatus") or "RUNNING"  # AWS's default filter
            started_by = resp._get_param("startedBy")
            family = resp._get_param("family")
            launch_type = resp._get_param("launchType")
            container_instance = resp._get_param("containerInstance")
            arns = []
            if not container_instance:
                for task in model.find_tasks(account, region, cluster.name):
                    if service_name and task.group != f"service:{service_name}":
                        continue
                    if task.desired != desired:
                        continue
                    if started_by and task.started_by != started_by:
                        continue
                    if family and task.task_definition.family != family:
                        continue
                    if launch_type and task.launch_type != launch_type:
                        continue
                    arns.append(task.arn)
            if not service_name:
                for task in backend.list_tasks(cluster_ref, container_instance, family, started_by, None, desired):
                    if launch_type and getattr(task, "launch_type", None) != launch_type:
                        continue
                    arns.append(task.task_arn)
            size = int(resp._get_param("maxResults") or 100)
            if not 1 <= size <= 100:
                raise InvalidParameterException("maxResults must be between 1 and 100.")
            token = resp._get_param("nextToken") or "0"
            if not str(token).isdigit():
                raise InvalidParameterException("Invalid nextToken.")
            start = int(token)
            page = arns[start : start + size]
            answer: dict[str, Any] = {"taskArns": page}
            if start + size < len(arns):
                answer["nextToken"] = str(start + size)
            return ActionResult(answer)

    Responses.list_tasks = list_tasks

    def describe_tasks(resp: Any) -> Any:
        account, region, backend = context(resp)
        with state.lock:
            cluster_ref = resp._get_param("cluster", "default")
            cluster = backend._get_cluster(cluster_ref)
            refs = resp._get_param("tasks", []) or []
            if not refs:
                raise InvalidParameterException("Tasks cannot be empty.")
            now = time.time()
            mine = model.find_tasks(account, region, cluster.name)
            found: list[Any] = []
            others = []
            for ref in refs:
                task = next((t for t in mine if matching(t, ref)), None)
                if task is not None:
                    found.append(model.render_task(task, now))
                else:
                    others.append(ref)
            failures = []
            if others:
                moto_tasks = backend.describe_tasks(cluster_ref, others)
                found.extend(moto_tasks)
                for ref in others:
                    if not any(ref in (t.task_arn, t.id) or ref.split("/")[-1] == t.id for t in moto_tasks):
                        failures.append({"arn": ref, "reason": "MISSING"})
            if "TAGS" in (resp._get_param("include", []) or []):
                resp._include_in_response(DESCRIBE_TASKS_TAGS)
            else:
                resp._exclude_from_response(DESCRIBE_TASKS_TAGS)
            return ActionResult({"tasks": found, "failures": failures})

    Responses.describe_tasks = describe_tasks

    # ---- account settings -----------------------------------------------------

    def check_setting(name: Any, value: Any) -> None:
        if name not in SETTING_NAMES:
            raise InvalidParameterException(
                f"Invalid setting name {name!r}: should be one of [{', '.join(SETTING_NAMES)}]"
            )
        if not isinstance(value, str) or not value:
            raise InvalidParameterException("value must be a non-empty string.")
        if name == "dualStackIPv6" and value not in ("enabled", "disabled"):
            raise InvalidParameterException(
                f"Invalid value {value!r} for setting dualStackIPv6: should be enabled or disabled."
            )

    def put_setting(resp: Any, principal: str) -> Any:
        account, region, backend = context(resp)
        name, value = resp._get_param("name"), resp._get_param("value")
        check_setting(name, value)
        with state.lock:
            model.touch(account, region)
            model.settings.setdefault((account, region), {})[(principal, name)] = value
            model.sync_moto_settings(backend, account, region)
        return ActionResult({"setting": {"name": name, "value": value, "principalArn": principal, "type": "user"}})

    def put_account_setting(resp: Any) -> Any:
        return put_setting(resp, resp._get_param("principalArn") or model.caller(resp.current_account))

    def put_account_setting_default(resp: Any) -> Any:
        return put_setting(resp, model.root(resp.current_account))

    Responses.put_account_setting = put_account_setting
    Responses.put_account_setting_default = put_account_setting_default

    def delete_account_setting(resp: Any) -> Any:
        account, region, backend = context(resp)
        name = resp._get_param("name")
        principal = resp._get_param("principalArn") or model.caller(account)
        with state.lock:
            store = model.settings.setdefault((account, region), {})
            value = store.pop((principal, name), None)
            model.sync_moto_settings(backend, account, region)
        if value is None:
            return EmptyResult()
        return ActionResult({"setting": {"name": name, "value": value, "principalArn": principal, "type": "user"}})

    Responses.delete_account_setting = delete_account_setting

    def list_account_settings(resp: Any) -> Any:
        account, region, _ = context(resp)
        name = resp._get_param("name")
        value = resp._get_param("value")
        principal = resp._get_param("principalArn") or model.caller(account)
        effective = bool(resp._get_param("effectiveSettings"))
        if name is not None and name not in SETTING_NAMES:
            raise InvalidParameterException(
                f"Invalid setting name {name!r}: should be one of [{', '.join(SETTING_NAMES)}]"
            )
        with state.lock:
            store = model.settings.get((account, region), {})
            names = [name] if name else sorted(set(AWS_SETTING_DEFAULTS) | {n for _, n in store})
            settings = []
            for n in names:
                if effective:
                    v, source = model.effective_setting(account, region, principal, n)
                else:
                    v, source = store.get((principal, n)), principal
                if v is None or (value is not None and v != value):
                    continue
                settings.append({"name": n, "value": v, "principalArn": source, "type": "user"})
        return ActionResult({"settings": settings})

    Responses.list_account_settings = list_account_settings

    return model
