#!/usr/bin/env python3
"""dualstack-faultproxy: an HTTP proxy that injects AWS faults between the tool and the emulator.

The `dualstack` tool promises that throttling and transient errors are
absorbed, that a call whose response was lost is reconciled by reading state
and never applied twice, and that a kill at any point is resumable. The tests
prove it by pointing the tool's endpoint URL at this proxy, which forwards to
the emulator (``launcher.py``) and disturbs the traffic as a JSON *scenario*
says. A benchmark uses the same proxy with a fixed added latency per AWS call,
so requests are never serialized: one thread per client connection, one
keep-alive upstream connection per thread, the added latency slept in that
thread. Standard library only.

Usage::

    python tests/emulator/faultproxy.py --upstream http://127.0.0.1:PORT
                                        [--host 127.0.0.1] [--port 0]
                                        [--latency-ms N] [--scenario FILE.json]
                                        [--seed N] [--verbose]

``--port 0`` picks a free port. Once the socket accepts connections, exactly one
line is printed to stdout (and flushed)::

    dualstack-faultproxy listening on http://HOST:PORT

Nothing else is ever written to stdout, so a parent may stop reading after that
line. The proxy runs until SIGTERM or SIGINT and then exits 0. ``--latency-ms``
is the default ``latency_ms`` of every scenario, ``--seed`` the default
``seed``; ``--scenario`` sets the initial scenario (the one ``/_proxy/reset``
returns to; none: every fault off). ``--verbose`` logs every call to stderr.

Traffic
-------
* ``/_proxy/...`` is the control API below, answered by the proxy itself.
* ``/_emulator/...`` (the launcher's control API) is forwarded to the upstream
  as is: never delayed, counted or faulted.
* Everything else is an AWS call: method, path and query, headers (minus the
  hop-by-hop ones: Connection, Keep-Alive, Transfer-Encoding, TE, Trailer,
  Upgrade, Proxy-*, and Expect; Host is passed unchanged, it is signed) and
  body are forwarded; the status, headers (minus hop-by-hop, Content-Length
  recomputed) and body of the upstream's answer are returned. HTTP/1.1
  keep-alive to the client. A stale keep-alive upstream connection is
  reopened and the request resent once; if the upstream cannot be reached
  the client gets a 502 (outcome ``upstream_error``).

Each AWS call is classified from its form body (or query string): ``Action``,
and the service from ``Version``: ``2016-11-15`` is ``ec2``, ``2015-12-01`` is
``elbv2`` (a few other query APIs by their version: ``elb``, ``sts``, ``iam``,
``autoscaling``; else the service of the SigV4 credential scope; else
``unknown``). JSON protocols (ECS) are named by ``X-Amz-Target``; REST ones by
method and path: Route 53 (``/2013-04-01/...``) and S3, service ``s3``: a
request whose SigV4 credential scope (Authorization header, or a presigned
URL's ``X-Amz-Credential``) is ``s3``, or unsigned to an ``*.s3*.amazonaws.com``
host, is named from its method, path (path-style ``/bucket/key``, or the
bucket in a virtual-hosted Host), query subresource and ``x-amz-copy-source``
header (``awswire.s3_call``), e.g. ``PUT /b/k`` PutObject (CopyObject with a
copy source), ``GET /b/k`` GetObject, ``HEAD /b/k`` HeadObject, ``DELETE
/b/k`` DeleteObject, ``GET /b?list-type=2`` ListObjectsV2 (ListObjects
without), ``PUT /b`` CreateBucket, ``HEAD /b`` HeadBucket, ``DELETE /b``
DeleteBucket, ``GET /`` ListBuckets, ``POST /b?delete`` DeleteObjects, the
multipart calls, the bucket and object subresources (``?versioning``
PutBucketVersioning/GetBucketVersioning, ``?tagging``, ...). A call is
*mutating* unless its action starts with Describe, Get, List, Head or Select
(S3's HeadObject, HeadBucket, SelectObjectContent): PutObject, DeleteObject
and CreateBucket are mutating. Injected errors use ELBv2's
``<ErrorResponse>`` XML for ``elbv2``, S3's ``<Error>`` XML (content type
application/xml, ``x-amz-request-id`` and ``x-amz-id-2`` headers; no body for
a HEAD request) for ``s3``, and EC2's ``<Response><Errors>`` XML for every
other service, content type text/xml.

Scenario (JSON object; every key optional, a missing key is off)
---------------------------------------------------------------
``seed``: int (default ``--seed``, else 0)
    Seed of the random generator that decides the rates below. Setting a
    scenario restarts the generator, so the same calls in the same order get
    the same faults.
``latency_ms``: number (default ``--latency-ms``, else 0)
    Slept before every AWS call is answered or forwarded (faulted calls
    too), in the call's own thread: concurrent calls overlap.
``throttle_rate``: probability
    The call is answered, unforwarded, with a throttling error: ec2 HTTP 503
    ``RequestLimitExceeded`` "Request limit exceeded.", elbv2 HTTP 400
    ``Throttling`` "Rate exceeded", s3 HTTP 503 ``SlowDown`` "Please reduce
    your request rate.".
``throttle_burst``: ``{"after": N, "count": M}``
    After N AWS calls (counted from when the scenario was set), the next M
    calls are throttled as above, consecutively, whatever their action.
``server_error_rate``: probability; ``server_error_status``: 500 or 503 (default 503)
    The call is answered, unforwarded, with that status: 500 ``InternalError``
    (elbv2: ``InternalFailure``), 503 ``ServiceUnavailable`` (s3: "Service is
    unable to handle request.").
``conditional_conflict``: ``{"first": N, "rate": probability}`` (both default 0)
    A conditional S3 write -- PutObject, CopyObject or CompleteMultipartUpload
    with ``If-None-Match`` or ``If-Match``, DeleteObject with ``If-Match`` --
    is answered, unforwarded (not applied), HTTP 409
    ``ConditionalRequestConflict`` "A conflicting conditional operation is
    currently in progress against this resource. Please try again." (S3 XML),
    as AWS answers a conditional write that raced a conflicting one: the
    first N conditional writes (counted from when the scenario was set), then
    each with that probability. Unconditional writes and other calls pass.
``lose_response``: ``{"mutating": "once" | probability, "mode": "500" | "drop"}``
    A mutating call is forwarded and applied, then its answer is lost: mode
    ``"500"`` (the default) answers HTTP 500 ``InternalError`` (elbv2:
    ``InternalFailure``), mode ``"drop"`` closes the client connection without
    any response. ``"once"``: the first time a request (action plus exact body
    bytes; for REST calls such as S3's also the same path and If-Match /
    If-None-Match headers) is applied its answer is lost; identical requests
    after that pass. S3 PutObject (200), DeleteObject (204), CreateBucket and
    the other S3 writes are mutating calls like any other: mode ``"500"``
    answers S3's 500 ``InternalError`` "We encountered an internal error.
    Please try again." (S3 XML).
    A probability is drawn per mutating call. Only answers the upstream gave
    with a 2xx status are lost (a rejected call was not applied, so it passes
    unchanged and does not use up its ``"once"``).
``not_found_after_create``: ``{"reads": N}``
    When a mutating call's 2xx answer holds new IDs (ones absent from its
    request): ``eigw-``, ``sgr-``, ``subnet-cidr-assoc-``, ``vpc-cidr-assoc-``
    IDs and ELBv2 ``...:targetgroup/...`` and ``...:listener-rule/...`` ARNs,
    the next N reads (non-mutating calls) whose URL-decoded request contains
    the ID are answered, unforwarded, HTTP 400: ``InvalidGatewayID.NotFound``,
    ``InvalidSecurityGroupRuleId.NotFound``,
    ``InvalidSubnetCidrBlockAssociationID.NotFound``,
    ``InvalidVpcCidrBlockAssociationID.NotFound``, ``TargetGroupNotFound``,
    ``RuleNotFound`` respectively. N is counted per ID. (AWS's eventual
    consistency, as its documentation describes it for EC2.)
``only_actions``: list of action names
    Throttling (rate and burst), server errors, conditional conflicts and lost
    answers apply only to these actions (the burst and ``conditional_conflict``'s
    ``first`` then count only these actions' calls).
    Latency and ``not_found_after_create`` apply to every call.

For one call, in this order: the hold (below) if it is the held call (it then
gets no other fault), then throttle burst, throttle rate, server error,
conditional conflict, not-found, else it is forwarded, and then its answer
may be lost. Unknown keys
and bad values are rejected (400), so a typo never silently disables a fault.

Control API (JSON answers, 200; 400 with ``{"error": ...}`` for bad input,
404/405 for unknown paths/methods)
---------------------------------------------------------------------------
``POST /_proxy/scenario``  body: a scenario
    Replaces the whole scenario, restarts the random generator and the
    scenario's counters (burst, conditional writes, ``"once"`` requests,
    pending not-found IDs).
    Answers the scenario with defaults filled in.
``GET  /_proxy/scenario``
    The current scenario, defaults filled in.
``POST /_proxy/hold``  body ``{"mutation": K, "when": "before"|"after"}``
    Arms a hold on the K-th next mutating AWS call (1-based, counted from
    this POST; every mutating call counts, whatever the scenario does to the
    others). ``before``: the call is held unforwarded. ``after``: it is
    forwarded (applied upstream) and its answer is held. A held call blocks
    only its own connection. Arming releases any previous hold first.
``GET  /_proxy/hold``
    ``{"armed": bool, "held": bool, "action": str|null, "mutation": K|null,
    "when": "before"|"after"|null}``; ``held`` while a call is being held.
``POST /_proxy/release``  body ``{}`` or ``{"forward": true}``
    ``after``: the held answer is written (errors ignored: the client was
    probably killed). ``before``: the held request is discarded, never
    forwarded, and its connection closed; with ``"forward": true`` it is
    forwarded and answered instead. Disarms. Answers ``{"released": bool}``
    (whether a call was being held).
``GET  /_proxy/calls``
    ``{"calls": [{"seq": 1, "service": "ec2", "action": "CreateRoute",
    "mutating": true, "outcome": "forwarded", "status": 200, "applied":
    true}, ...]}`` in arrival order (S3: ``{"service": "s3", "action":
    "PutObject", ...}``). ``outcome``: ``forwarded``, ``throttled``,
    ``server_error``, ``conflict``, ``not_found``, ``lost_500``, ``dropped``,
    ``discarded`` (held before, released without forwarding),
    ``upstream_error``, or null while in flight (e.g. held). ``status``: the
    HTTP status written to the client (null for dropped, discarded, in
    flight). ``applied``: mutating, forwarded and answered 2xx upstream.
``GET  /_proxy/stats``
    ``{"by_action": {"ec2:CreateRoute": {"calls": n, "applied": n, "faults":
    n}, ...}, "total": n, "mutating": n, "applied_mutating": n, "faults": n}``
    over the same calls; keys are ``service:action``, e.g. ``s3:PutObject``,
    ``s3:GetObject``, ``s3:HeadObject``, ``s3:DeleteObject``,
    ``s3:ListObjectsV2``, ``s3:CreateBucket``. ``applied`` counts lost answers
    too (applied, but the client did not hear); ``faults`` counts the outcomes
    throttled, server_error, conflict, not_found, lost_500, dropped and
    discarded.
``POST /_proxy/calls/clear``
    Empties the call log (and so the stats); ``seq`` restarts at 1.
``POST /_proxy/reset``
    Clears the call log, the hold (a held call is released as by
    ``/_proxy/release {}``) and the scenario (back to the command line's:
    ``--scenario`` or none, with ``--latency-ms`` and ``--seed``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awswire import (  # noqa: E402
    S3Call,
    aws_error,
    is_mutating,
    is_s3_host,
    reason_phrase,
    rest_action,
    s3_call,
    serve_until_signal,
    signing_service,
)

READY_LINE = "dualstack-faultproxy listening on http://{host}:{port}"
CONTROL_PREFIX = "/_proxy"
EMULATOR_PREFIX = "/_emulator/"
UPSTREAM_TIMEOUT = 600.0  # seconds; the launcher may hold a request itself

# Query API versions -> service name used in the log and the stats.
SERVICE_VERSIONS = {
    "2016-11-15": "ec2",
    "2015-12-01": "elbv2",
    "2012-06-01": "elb",
    "2011-06-15": "sts",
    "2010-05-08": "iam",
    "2011-01-01": "autoscaling",
}

HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade")
)
# Not forwarded in requests either: the proxy reads the whole body itself.
REQUEST_ONLY_SKIP = frozenset(("expect", "content-length"))

FAULT_OUTCOMES = frozenset(
    ("throttled", "server_error", "conflict", "not_found", "lost_500", "dropped", "discarded")
)

# IDs that appear in a create call's answer; the not-found error for each kind.
_NEW_ID = re.compile(
    r"(?<![\w-])(?:"
    r"(?P<subnet_assoc>subnet-cidr-assoc-[0-9a-f]+)"
    r"|(?P<vpc_assoc>vpc-cidr-assoc-[0-9a-f]+)"
    r"|(?P<eigw>eigw-[0-9a-f]+)"
    r"|(?P<sgr>sgr-[0-9a-f]+)"
    r"|(?P<target_group>arn:aws[\w-]*:elasticloadbalancing:[\w-]*:\d*:targetgroup/[\w.-]+/[0-9a-f]+)"
    r"|(?P<rule>arn:aws[\w-]*:elasticloadbalancing:[\w-]*:\d*:listener-rule/[\w./-]*[0-9a-f])"
    r")(?![\w-])"
)
NOT_FOUND = {
    "eigw": ("ec2", "InvalidGatewayID.NotFound", "The egress-only internet gateway ID '{id}' does not exist"),
    "sgr": ("ec2", "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '{id}' does not exist"),
    "subnet_assoc": (
        "ec2",
        "InvalidSubnetCidrBlockAssociationID.NotFound",
        "The subnet CIDR block association ID '{id}' does not exist",
    ),
    "vpc_assoc": (
        "ec2",
        "InvalidVpcCidrBlockAssociationID.NotFound",
        "The vpc CIDR block association ID '{id}' does not exist",
    ),
    "target_group": ("elbv2", "TargetGroupNotFound", "One or more target groups not found"),
    "rule": ("elbv2", "RuleNotFound", "One or more rules not found"),
}


# ---------------------------------------------------------------------------
# AWS wire helpers
# ---------------------------------------------------------------------------


def classify(
    query: str,
    body: bytes,
    authorization: str = "",
    target: str = "",
    method: str = "POST",
    path: str = "/",
    headers: Any = None,
    host: str = "",
) -> tuple[str, str | None]:
    """(service, Action) of an AWS request: the query protocol's ``Action``,
    for JSON protocols (ECS) the ``X-Amz-Target`` header's last part, for
    Route 53's and S3's REST protocols the method and path (S3: and the
    query's subresource, the copy-source header)."""
    rest = rest_action(method, path)
    if rest:
        return "route53", rest
    s3 = s3_request(query, authorization, method, path, headers, host)
    if s3 is not None:
        return "s3", s3.action
    params = parse_qs(query)
    if body and not target:
        params.update(parse_qs(body.decode("utf-8", "replace")))
    action = params.get("Action", [None])[0] or (target.rsplit(".", 1)[-1] if target else None)
    version = params.get("Version", [None])[0]
    service = SERVICE_VERSIONS.get(version or "")
    if service is None:
        service = signing_service(authorization) or "unknown"
    return service, action


def s3_request(
    query: str, authorization: str, method: str, path: str, headers: Any = None, host: str = ""
) -> S3Call | None:
    """The S3 operation of a request signed for ``s3`` (or sent to an S3 host), else None."""
    service = signing_service(authorization, query)
    if service != "s3" and not (service is None and is_s3_host(host)):
        return None
    return s3_call(method, path.split("?", 1)[0], query, headers or {}, host)


def find_ids(text: str) -> dict[str, str]:
    """{id: kind} of every ID/ARN of the kinds in NOT_FOUND found in text."""
    found = {}
    for match in _NEW_ID.finditer(text):
        found[match.group(0)] = match.lastgroup or ""
    return found


def new_ids(response_body: bytes, request_body: bytes) -> dict[str, str]:
    """IDs in an answer that the request did not mention (URL-decoded)."""
    answer = find_ids(response_body.decode("utf-8", "replace"))
    asked = find_ids(unquote_plus(request_body.decode("utf-8", "replace")))
    return {i: kind for i, kind in answer.items() if i not in asked}


def error_response(service: str, code: str, message: str, status: int) -> tuple[int, list[tuple[str, str]], bytes]:
    """An injected AWS error in the service's XML shape: (status, headers, body)."""
    shape = {"elbv2": "elasticloadbalancing", "s3": "s3"}.get(service, "ec2")
    _, headers, body = aws_error(shape, code, message, status)
    return status, headers, body


def throttle_error(service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    if service == "elbv2":
        return error_response(service, "Throttling", "Rate exceeded", 400)
    if service == "s3":
        return error_response(service, "SlowDown", "Please reduce your request rate.", 503)
    return error_response(service, "RequestLimitExceeded", "Request limit exceeded.", 503)


CONFLICT_MESSAGE = (
    "A conflicting conditional operation is currently in progress against this resource. Please try again."
)


def conflict_error() -> tuple[int, list[tuple[str, str]], bytes]:
    """S3's answer to a conditional write that raced a conflicting one."""
    return error_response("s3", "ConditionalRequestConflict", CONFLICT_MESSAGE, 409)


def server_error(service: str, status: int) -> tuple[int, list[tuple[str, str]], bytes]:
    if service == "s3":  # S3's error codes and messages
        if status == 500:
            return error_response(service, "InternalError", "We encountered an internal error. Please try again.", 500)
        return error_response(service, "ServiceUnavailable", "Service is unable to handle request.", 503)
    if status == 500:
        code = "InternalFailure" if service == "elbv2" else "InternalError"
        return error_response(service, code, "We encountered an internal error. Please try again.", 500)
    return error_response(service, "ServiceUnavailable", "The service is unavailable. Please try again.", 503)


# ---------------------------------------------------------------------------
# Scenario
# ---------------------------------------------------------------------------

SCENARIO_KEYS = (
    "seed",
    "latency_ms",
    "throttle_rate",
    "throttle_burst",
    "server_error_rate",
    "server_error_status",
    "lose_response",
    "not_found_after_create",
    "conditional_conflict",
    "only_actions",
)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{name}' must be a number")
    return float(value)


def _integer(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum}")
    return value


def _probability(value: Any, name: str) -> float:
    rate = _number(value, name)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"'{name}' must be between 0 and 1")
    return rate


def _object(value: Any, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"'{name}' must be an object")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ValueError(f"unknown key(s) in '{name}': {', '.join(unknown)}")
    return value


def parse_scenario(payload: Any, default_latency_ms: float = 0.0, default_seed: int = 0) -> dict[str, Any]:
    """Validate a scenario; answer it with defaults filled in (ValueError if bad)."""
    if not isinstance(payload, dict):
        raise ValueError("a scenario must be a JSON object")
    unknown = sorted(set(payload) - set(SCENARIO_KEYS))
    if unknown:
        raise ValueError(f"unknown scenario key(s): {', '.join(unknown)} (known: {', '.join(SCENARIO_KEYS)})")
    scenario: dict[str, Any] = {
        "seed": _integer(payload.get("seed", default_seed), "seed", minimum=-(2**63)),
        "latency_ms": _number(payload.get("latency_ms", default_latency_ms), "latency_ms"),
        "throttle_rate": _probability(payload.get("throttle_rate", 0.0), "throttle_rate"),
        "throttle_burst": None,
        "server_error_rate": _probability(payload.get("server_error_rate", 0.0), "server_error_rate"),
        "server_error_status": payload.get("server_error_status", 503),
        "lose_response": None,
        "not_found_after_create": None,
        "conditional_conflict": None,
        "only_actions": None,
    }
    if scenario["latency_ms"] < 0:
        raise ValueError("'latency_ms' must be >= 0")
    if scenario["server_error_status"] not in (500, 503) or isinstance(scenario["server_error_status"], bool):
        raise ValueError("'server_error_status' must be 500 or 503")
    if payload.get("throttle_burst") is not None:
        burst = _object(payload["throttle_burst"], "throttle_burst", ("after", "count"))
        scenario["throttle_burst"] = {
            "after": _integer(burst.get("after", 0), "throttle_burst.after"),
            "count": _integer(burst.get("count", 0), "throttle_burst.count"),
        }
    if payload.get("lose_response") is not None:
        lose = _object(payload["lose_response"], "lose_response", ("mutating", "mode"))
        which = lose.get("mutating", "once")
        if which != "once":
            which = _probability(which, "lose_response.mutating")
        mode = str(lose.get("mode", "500"))
        if mode not in ("500", "drop"):
            raise ValueError("'lose_response.mode' must be \"500\" or \"drop\"")
        scenario["lose_response"] = {"mutating": which, "mode": mode}
    if payload.get("not_found_after_create") is not None:
        nf = _object(payload["not_found_after_create"], "not_found_after_create", ("reads",))
        scenario["not_found_after_create"] = {"reads": _integer(nf.get("reads", 1), "not_found_after_create.reads")}
    if payload.get("conditional_conflict") is not None:
        conflict = _object(payload["conditional_conflict"], "conditional_conflict", ("first", "rate"))
        scenario["conditional_conflict"] = {
            "first": _integer(conflict.get("first", 0), "conditional_conflict.first"),
            "rate": _probability(conflict.get("rate", 0.0), "conditional_conflict.rate"),
        }
    if payload.get("only_actions") is not None:
        actions = payload["only_actions"]
        if not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions):
            raise ValueError("'only_actions' must be a list of action names")
        scenario["only_actions"] = list(actions)
    return scenario


# ---------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------


class Hold:
    """One armed hold: the K-th mutating AWS call after arming is parked."""

    def __init__(self, mutation: int, when: str) -> None:
        self.mutation = mutation
        self.when = when
        self.seen = 0  # mutating calls since arming
        self.armed = True
        self.held = False  # the K-th call was claimed by this hold
        # The call is parked: "before", unforwarded; "after", applied upstream
        # with its answer waiting. What GET /_proxy/hold reports as "held", so
        # a test that sees it may rely on the call having been applied.
        self.parked = False
        self.action: str | None = None
        self.forward = False  # "before": forward on release instead of discarding
        self.released = threading.Event()

    def as_json(self) -> dict[str, Any]:
        return {
            "armed": self.armed,
            "held": self.parked,
            "action": self.action,
            "mutation": self.mutation,
            "when": self.when,
        }


class Decision:
    """What the proxy does to one AWS call, decided on arrival."""

    __slots__ = ("entry", "hold", "fault", "outcome", "latency", "eligible")

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.hold: Hold | None = None
        self.fault: tuple[int, list[tuple[str, str]], bytes] | None = None
        self.outcome: str | None = None
        self.latency = 0.0
        self.eligible = True


class ProxyState:
    def __init__(self, initial_scenario: dict[str, Any], default_latency_ms: float, default_seed: int) -> None:
        # Guards everything below; never held while sleeping, forwarding or holding.
        self.lock = threading.Lock()
        self.initial_scenario = initial_scenario
        self.default_latency_ms = default_latency_ms
        self.default_seed = default_seed
        self.calls: list[dict[str, Any]] = []
        self.seq = 0
        self.hold: Hold | None = None
        self.set_scenario(initial_scenario)

    # -- scenario -------------------------------------------------------------

    def set_scenario(self, scenario: dict[str, Any]) -> None:
        """Caller holds the lock (or nothing else runs yet)."""
        self.scenario = scenario
        self.rng = random.Random(scenario["seed"])
        self.burst_seen = 0  # eligible calls seen by the burst
        self.conditional_seen = 0  # eligible conditional S3 writes seen by conditional_conflict
        self.lost_once: set[tuple[Any, ...]] = set()
        self.not_found: dict[str, list[Any]] = {}  # id -> [kind, reads left]

    def _eligible(self, action: str | None) -> bool:
        only = self.scenario["only_actions"]
        return only is None or action in only

    def decide(self, service: str, action: str | None, mutating: bool, body: bytes, conditional: bool = False) -> Decision:
        """Log an arriving AWS call and decide its fate (holds and pre-forward faults).
        ``conditional``: an S3 write with If-None-Match / If-Match."""
        with self.lock:
            self.seq += 1
            entry = {
                "seq": self.seq,
                "service": service,
                "action": action,
                "mutating": mutating,
                "outcome": None,
                "status": None,
                "applied": False,
            }
            self.calls.append(entry)
            decision = Decision(entry)
            scenario = self.scenario
            decision.latency = scenario["latency_ms"] / 1000.0
            decision.eligible = self._eligible(action)

            hold = self.hold
            if mutating and hold is not None and hold.armed and not hold.held:
                hold.seen += 1
                if hold.seen == hold.mutation:
                    hold.held = True
                    hold.action = action
                    decision.hold = hold
                    return decision  # the held call gets no other fault

            if decision.eligible:
                burst = scenario["throttle_burst"]
                if burst is not None:
                    self.burst_seen += 1
                    if burst["after"] < self.burst_seen <= burst["after"] + burst["count"]:
                        decision.fault, decision.outcome = throttle_error(service), "throttled"
                        return decision
                if scenario["throttle_rate"] > 0 and self.rng.random() < scenario["throttle_rate"]:
                    decision.fault, decision.outcome = throttle_error(service), "throttled"
                    return decision
                if scenario["server_error_rate"] > 0 and self.rng.random() < scenario["server_error_rate"]:
                    decision.fault = server_error(service, scenario["server_error_status"])
                    decision.outcome = "server_error"
                    return decision
                conflict = scenario["conditional_conflict"]
                if conflict is not None and conditional:
                    self.conditional_seen += 1
                    if self.conditional_seen <= conflict["first"] or (
                        conflict["rate"] > 0 and self.rng.random() < conflict["rate"]
                    ):
                        decision.fault, decision.outcome = conflict_error(), "conflict"
                        return decision

            if not mutating and self.not_found and body:
                for found in find_ids(unquote_plus(body.decode("utf-8", "replace"))):
                    pending = self.not_found.get(found)
                    if pending is None:
                        continue
                    kind = pending[0]
                    pending[1] -= 1
                    if pending[1] <= 0:
                        del self.not_found[found]
                    fault_service, code, message = NOT_FOUND[kind]
                    decision.fault = error_response(fault_service, code, message.format(id=found), 400)
                    decision.outcome = "not_found"
                    return decision
            return decision

    def after_forward(
        self, decision: Decision, action: str | None, body: bytes, answer: bytes, request: tuple[Any, ...] = ()
    ) -> str | None:
        """A mutating call was applied (2xx): note new IDs; answer the lose mode or None.
        ``request``: what else tells identical requests apart (path, conditions)."""
        with self.lock:
            decision.entry["applied"] = True
            scenario = self.scenario
            reads = (scenario["not_found_after_create"] or {}).get("reads", 0)
            if reads > 0:
                for found, kind in new_ids(answer, body).items():
                    self.not_found[found] = [kind, reads]
            lose = scenario["lose_response"]
            if decision.hold is not None or lose is None or not decision.eligible:
                return None
            if lose["mutating"] == "once":
                key = (action, body, *request)
                if key in self.lost_once:
                    return None
                self.lost_once.add(key)
                return lose["mode"]
            if lose["mutating"] > 0 and self.rng.random() < lose["mutating"]:
                return lose["mode"]
            return None

    def finish(self, decision: Decision, outcome: str, status: int | None) -> None:
        with self.lock:
            decision.entry["outcome"] = outcome
            decision.entry["status"] = status

    # -- hold -------------------------------------------------------------------

    def arm_hold(self, mutation: int, when: str) -> dict[str, Any]:
        self.release_hold(forward=False)
        with self.lock:
            self.hold = Hold(mutation, when)
            return self.hold.as_json()

    def release_hold(self, forward: bool) -> bool:
        with self.lock:
            hold, self.hold = self.hold, None
        if hold is None:
            return False
        hold.forward = forward
        hold.armed = False
        hold.released.set()
        return hold.held

    def park(self, hold: Hold) -> None:
        with self.lock:
            hold.parked = True

    def hold_status(self) -> dict[str, Any]:
        with self.lock:
            if self.hold is None:
                return {"armed": False, "held": False, "action": None, "mutation": None, "when": None}
            return self.hold.as_json()

    # -- log ----------------------------------------------------------------------

    def calls_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.calls]

    def stats_json(self) -> dict[str, Any]:
        by_action: dict[str, dict[str, int]] = {}
        totals = {"total": 0, "mutating": 0, "applied_mutating": 0, "faults": 0}
        for call in self.calls_json():
            key = f"{call['service']}:{call['action'] or '-'}"
            row = by_action.setdefault(key, {"calls": 0, "applied": 0, "faults": 0})
            fault = call["outcome"] in FAULT_OUTCOMES
            row["calls"] += 1
            row["applied"] += int(call["applied"])
            row["faults"] += int(fault)
            totals["total"] += 1
            totals["mutating"] += int(call["mutating"])
            totals["applied_mutating"] += int(call["applied"])
            totals["faults"] += int(fault)
        return {"by_action": by_action, **totals}

    def clear_calls(self) -> None:
        with self.lock:
            self.calls = []
            self.seq = 0

    def reset(self) -> None:
        self.release_hold(forward=False)
        with self.lock:
            self.calls = []
            self.seq = 0
            self.set_scenario(self.initial_scenario)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class Dropped(Exception):
    """The client connection is to be closed without an answer."""


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small request/answer pairs: no Nagle delays
    server: "ProxyServer"

    def setup(self) -> None:
        super().setup()
        self.upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()
                self.upstream = None

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"faultproxy: {self.address_string()} {format % args}\n")

    # Every method goes through the same dispatcher.
    def do_ANY(self) -> None:
        try:
            body = self._read_body()
            path = self.path
            if "://" in path.split("?", 1)[0]:  # absolute form (client configured as a proxy)
                split = urlsplit(path)
                path = split.path + (f"?{split.query}" if split.query else "")
            bare = path.split("?", 1)[0]
            if bare == CONTROL_PREFIX or bare.startswith(CONTROL_PREFIX + "/"):
                self._control(bare, body)
            elif bare.startswith(EMULATOR_PREFIX) or bare == EMULATOR_PREFIX.rstrip("/"):
                self._passthrough(path, body)
            else:
                self._aws_call(path, body)
        except Dropped:
            self.close_connection = True
        except OSError:
            self.close_connection = True  # the client went away

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_ANY

    # -- client side -----------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {reason or reason_phrase(status)}\r\n"]
        head_length = None
        for name, value in headers:
            lower = name.lower()
            if lower == "content-length":
                head_length = value
                continue
            if lower in HOP_BY_HOP or lower.startswith("proxy-"):
                continue
            lines.append(f"{name}: {value}\r\n")
        if self.command == "HEAD":
            lines.append(f"Content-Length: {head_length or 0}\r\n")
            body = b""
        else:
            lines.append(f"Content-Length: {len(body)}\r\n")
        if self.close_connection:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        self.wfile.write("".join(lines).encode("latin-1", "replace") + body)

    def _json(self, status: int, answer: Any) -> None:
        data = json.dumps(answer).encode("utf-8")
        self._write(status, [("Content-Type", "application/json")], data)

    # -- upstream side ----------------------------------------------------------

    def _forward(self, path: str, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream on this thread's keep-alive connection."""
        dropped = {"host"} | HOP_BY_HOP | REQUEST_ONLY_SKIP
        tokens = {t.strip().lower() for t in self.headers.get("Connection", "").split(",") if t.strip()}
        headers = [
            (k, v)
            for k, v in self.headers.items()
            if k.lower() not in dropped and k.lower() not in tokens and not k.lower().startswith("proxy-")
        ]
        host = self.headers.get("Host") or self.server.upstream_netloc
        for attempt in (1, 2):
            conn = self.upstream
            if conn is None:
                conn = self.upstream = http.client.HTTPConnection(
                    self.server.upstream_host, self.server.upstream_port, timeout=UPSTREAM_TIMEOUT
                )
            reused = conn.sock is not None
            try:
                if conn.sock is None:
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", host)
                for name, value in headers:
                    conn.putheader(name, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                conn.close()
                self.upstream = None
                if not reused or attempt == 2:
                    raise  # only a stale keep-alive connection is worth a second try
            except Exception:
                conn.close()
                self.upstream = None
                raise
        raise AssertionError("unreachable")

    def _passthrough(self, path: str, body: bytes) -> None:
        try:
            status, reason, headers, data = self._forward(path, body)
        except Exception as err:  # noqa: BLE001
            self._upstream_failed(err)
            return
        self._write(status, headers, data, reason)

    def _upstream_failed(self, err: Exception) -> int:
        message = f"dualstack-faultproxy: upstream {self.server.upstream_netloc} failed: {err!r}\n"
        sys.stderr.write(message)
        self._write(502, [("Content-Type", "text/plain")], message.encode("utf-8"))
        return 502

    # -- AWS calls ----------------------------------------------------------------

    def _aws_call(self, path: str, body: bytes) -> None:
        state = self.server.state
        query = path.split("?", 1)[1] if "?" in path else ""
        authorization = self.headers.get("Authorization", "")
        host = self.headers.get("Host", "")
        s3 = s3_request(query, authorization, self.command, path, self.headers, host)
        if s3 is not None:
            service, action = "s3", s3.action
        else:
            service, action = classify(query, body, authorization, self.headers.get("X-Amz-Target", ""), self.command, path)
        mutating = is_mutating(action)
        decision = state.decide(service, action, mutating, body, conditional=s3 is not None and s3.conditional)
        if self.server.verbose:
            sys.stderr.write(f"faultproxy: #{decision.entry['seq']} {service}:{action} {decision.outcome or ''}\n")
        if decision.latency > 0:
            time.sleep(decision.latency)

        hold = decision.hold
        if hold is not None and hold.when == "before":
            state.park(hold)
            hold.released.wait()
            if not hold.forward:
                state.finish(decision, "discarded", None)
                raise Dropped()

        if decision.fault is not None:
            status, headers, data = decision.fault
            state.finish(decision, decision.outcome or "throttled", status)
            self._write(status, headers, data)
            return

        try:
            status, reason, headers, data = self._forward(path, body)
        except Exception as err:  # noqa: BLE001
            # Logged before the answer is written: a test that got the answer sees it.
            state.finish(decision, "upstream_error", 502)
            self._upstream_failed(err)
            return

        lost = None
        if mutating and 200 <= status < 300:
            # Identical requests: same action and body, and (REST: S3) the same
            # path and conditions (a DeleteObject has no body).
            request = (path, self.headers.get("If-Match"), self.headers.get("If-None-Match"))
            lost = state.after_forward(decision, action, body, data, request)

        if hold is not None and hold.when == "after":
            state.park(hold)
            hold.released.wait()  # applied upstream; the answer waits for the release

        if lost == "drop":
            state.finish(decision, "dropped", None)
            raise Dropped()
        if lost == "500":
            status, headers, data = server_error(service, 500)
            reason = None
            outcome = "lost_500"
        else:
            outcome = "forwarded"
        state.finish(decision, outcome, status)
        self._write(status, headers, data, reason)

    # -- control API ----------------------------------------------------------------

    def _control(self, path: str, raw: bytes) -> None:
        path = path.rstrip("/")
        try:
            payload: Any = json.loads(raw) if raw.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("JSON body must be an object")
            status, answer = self._route(self.command, path, payload)
        except json.JSONDecodeError as err:
            status, answer = 400, {"error": f"invalid JSON body: {err}"}
        except ValueError as err:
            status, answer = 400, {"error": str(err)}
        self._json(status, answer)

    def _route(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        state = self.server.state
        routes = {
            ("GET", "/_proxy/scenario"): lambda: state.scenario,
            ("POST", "/_proxy/scenario"): lambda: self._set_scenario(payload),
            ("GET", "/_proxy/hold"): state.hold_status,
            ("POST", "/_proxy/hold"): lambda: self._arm_hold(payload),
            ("POST", "/_proxy/release"): lambda: self._release(payload),
            ("GET", "/_proxy/calls"): lambda: {"calls": state.calls_json()},
            ("POST", "/_proxy/calls/clear"): lambda: (state.clear_calls(), {"ok": True})[1],
            ("GET", "/_proxy/stats"): state.stats_json,
            ("POST", "/_proxy/reset"): lambda: (state.reset(), {"ok": True})[1],
        }
        handler = routes.get((method, path))
        if handler is None:
            if any(p == path for _, p in routes):
                return 405, {"error": f"method {method} not allowed on {path}"}
            return 404, {"error": f"unknown control endpoint {path}"}
        return 200, handler()

    def _set_scenario(self, payload: dict[str, Any]) -> dict[str, Any]:
        state = self.server.state
        scenario = parse_scenario(payload, state.default_latency_ms, state.default_seed)
        with state.lock:
            state.set_scenario(scenario)
        return scenario

    def _arm_hold(self, payload: dict[str, Any]) -> dict[str, Any]:
        mutation = payload.get("mutation", 1)
        when = payload.get("when", "after")
        _integer(mutation, "mutation", minimum=1)
        if when not in ("before", "after"):
            raise ValueError("'when' must be 'before' or 'after'")
        return self.server.state.arm_hold(mutation, when)

    def _release(self, payload: dict[str, Any]) -> dict[str, Any]:
        forward = payload.get("forward", False)
        if not isinstance(forward, bool):
            raise ValueError("'forward' must be true or false")
        return {"released": self.server.state.release_hold(forward)}


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True  # held calls must not block shutdown
    block_on_close = False
    request_queue_size = 128  # a benchmark opens many connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ProxyState, upstream: str, verbose: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        split = urlsplit(upstream)
        if split.scheme != "http" or not split.hostname:
            raise ValueError(f"--upstream must be an http:// URL, not {upstream!r}")
        self.upstream_host = split.hostname
        self.upstream_port = split.port or 80
        self.upstream_netloc = split.netloc
        self.state = state
        self.verbose = verbose
        super().__init__(address, ProxyHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="fault-injecting HTTP proxy in front of the AWS emulator")
    parser.add_argument("--upstream", required=True, help="the emulator, e.g. http://127.0.0.1:5000")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="N", help="default added latency per AWS call")
    parser.add_argument("--scenario", metavar="FILE", help="initial scenario (JSON file)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="default scenario seed (default 0)")
    parser.add_argument("--verbose", action="store_true", help="log every call to stderr")
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    payload: Any = {}
    if args.scenario:
        try:
            with open(args.scenario, encoding="utf-8") as handle:
                payload = json.load(handle)
        except (OSError, json.JSONDecodeError) as err:
            parser.error(f"--scenario {args.scenario}: {err}")
    try:
        args.initial_scenario = parse_scenario(payload, args.latency_ms, args.seed)
    except ValueError as err:
        parser.error(f"--scenario {args.scenario}: {err}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state = ProxyState(args.initial_scenario, args.latency_ms, args.seed)
    try:
        server = ProxyServer((args.host, args.port), state, args.upstream, args.verbose)
    except ValueError as err:
        sys.stderr.write(f"faultproxy: {err}\n")
        return 2

    # The socket is bound and listening since the constructor: announce it.
    host = args.host if ":" not in args.host else f"[{args.host}]"
    ready = READY_LINE.format(host=host, port=server.server_address[1])
    return serve_until_signal(server, "faultproxy", ready, lambda: state.release_hold(forward=False))


if __name__ == "__main__":
    sys.exit(main())
