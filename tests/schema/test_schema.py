"""Tests for the runbook JSON Schema (src/runbook/schema.json).

The Rust parser is the truth: serde's `Raw` structs (unknown fields are
errors) and the checks of src/runbook/validate.rs and each step kind's
`validate`. These tests prove that the schema

- is a valid draft 2020-12 schema;
- accepts the example runbooks, the README's runbook format and the examples
  in the step and health-check modules' docs, and the spellings the parser
  accepts that are easy to get wrong in a schema;
- rejects bad runbooks, each for its own reason (the error is asserted at the
  expected place, with the expected keyword);
- keeps up with the Rust source: every step kind in `KINDS`, every field of
  every `Raw` struct and every variant of the enums a runbook names is in the
  schema, and the schema has nothing more. Adding a field or a step kind
  without updating the schema fails here.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "src" / "runbook" / "schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
DEFS = SCHEMA["$defs"]


def load_yaml(text: str) -> Any:
    """YAML as the schema sees it: JSON values (mapping keys become text)."""
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def errors(instance: Any) -> list[ValidationError]:
    return list(VALIDATOR.iter_errors(instance))


def describe(errs: list[ValidationError]) -> str:
    return "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errs)


def assert_valid(instance: Any) -> None:
    errs = errors(instance)
    assert not errs, describe(errs)


def all_errors(errs: list[ValidationError]) -> Iterator[ValidationError]:
    """The errors with those under anyOf/oneOf (their context) too."""
    for e in errs:
        yield e
        yield from all_errors(list(e.context))


# A runbook that uses every part of the format; the bad cases below each
# change one thing in it.
BASE = load_yaml(
    """
version: 1
name: base
region: ap-northeast-1
vpc: redash
checks:
  site-v6:  { http: { url: "https://redash.example.com/ping", family: ipv6, expect_status: 200, timeout: 3s } }
  redis-v6: { tcp: { host: redis.internal, port: 6379, family: ipv6, timeout: 2s } }
  tg-ok:    { target_health: { target_group: redash-green-v6 } }
  smoke:    { command: "./scripts/smoke.sh", timeout: 30s }
gate_defaults: { interval: 5s, healthy_threshold: 3, unhealthy_threshold: 2, timeout: 5m }
on_health_failure: rollback_all
steps:
  - id: vpc-ipv6
    vpc_ipv6_cidr: {}
  - id: subnets
    subnet_ipv6:
      subnets:
        - { subnet: public-1a, index: 1 }
        - { subnet: app-1c, cidr: "2406:da14:abc:de02::/64" }
      assign_ipv6_on_creation: true
  - id: public-route
    ipv6_default_route: { route_tables: [public], via: internet_gateway, replace: false }
  - id: security-groups
    security_group_ipv6:
      groups: [alb, app]
      mirror_open_ipv4: true
      rules:
        - { direction: ingress, protocol: tcp, ports: 443, cidr: "::/0" }
  - id: backend-addresses
    assign_ipv6_addresses: { targets_of: [redash-blue], instances: [i-0abc] }
  - id: alb
    load_balancer_ip_type: { load_balancer: redash, ip_address_type: dualstack }
    gate: { checks: [site-v6], bake: 30s }
  - id: target-groups
    target_group_ipv6:
      listener: "redash:443"
      target_groups: [redash-green, redash-blue]
      name_suffix: "-v6"
      targets: same
      shift: [10, 50, 100]
      bake: 60s
      retire: keep
    gate: { checks: [tg-ok, site-v6] }
    on_health_failure: rollback_step
  - id: app-still-fine
    confirm: true
    health_gate: { checks: [redis-v6, smoke], bake: 30s }
"""
)
# Index of each step kind's step in BASE.
STEP_OF = {
    "vpc_ipv6_cidr": 0,
    "subnet_ipv6": 1,
    "ipv6_default_route": 2,
    "security_group_ipv6": 3,
    "assign_ipv6_addresses": 4,
    "load_balancer_ip_type": 5,
    "target_group_ipv6": 6,
    "health_gate": 7,
}


def with_changes(*changes: tuple[str, Any]) -> dict:
    """BASE with values set (or, for DELETE, removed) at dotted paths such as
    `steps.2.ipv6_default_route.via`."""
    doc = copy.deepcopy(BASE)
    for path, value in changes:
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        key: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return doc


DELETE = object()


# ---------------------------------------------------------------------------
# The schema itself


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == "https://dualstack.dev/schema/runbook-v1.json"
    assert SCHEMA["title"]


def test_every_property_has_a_description() -> None:
    # Only the properties of object schemas that define fields (those with
    # additionalProperties: false); the helper subschemas inside oneOf/if/not
    # constrain fields that are described where they are defined.
    missing = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is False:
                for name, prop in node.get("properties", {}).items():
                    if not prop.get("description"):
                        missing.append(f"{path}.{name}")
            for key, sub in node.items():
                walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}[{i}]")

    walk(SCHEMA, "#")
    assert not missing, missing


def test_the_base_runbook_of_these_tests_is_valid() -> None:
    assert_valid(BASE)


# ---------------------------------------------------------------------------
# Documented runbooks validate


@pytest.mark.parametrize("name", ["incident.yaml", "incident-cutover.yaml"])
def test_example_runbooks_validate(name: str) -> None:
    assert_valid(load_yaml((ROOT / "runbooks" / name).read_text()))


def test_every_runbook_in_runbooks_validates() -> None:
    paths = sorted((ROOT / "runbooks").glob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        errs = errors(load_yaml(path.read_text()))
        assert not errs, f"{path.name}:\n{describe(errs)}"


MINIMAL_HEADER = {"version": 1, "name": "example", "vpc": "vpc-0123"}


def readme_format_blocks() -> list[Any]:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Runbook format")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return [load_yaml(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def as_runbook(snippet: Any) -> dict:
    """A snippet embedded in a minimal runbook: a list is steps; a mapping
    without `steps` is a `checks:` entry; a mapping with steps gets the
    header it lacks."""
    if isinstance(snippet, list):
        # Checks the steps' gates name, defined so that the runbook is whole.
        named = {name for step in snippet for gate in (step.get("gate"), step.get("health_gate")) if gate
                 for name in gate.get("checks", [])}
        checks = {name: {"command": "true"} for name in sorted(named)}
        return {**MINIMAL_HEADER, "checks": checks, "steps": snippet}
    assert isinstance(snippet, dict), snippet
    if "steps" in snippet:
        return {**MINIMAL_HEADER, **snippet}
    return {**MINIMAL_HEADER, "checks": snippet, "steps": [{"id": "gate", "health_gate": {"checks": list(snippet)}}]}


def test_readme_runbook_format_blocks_validate() -> None:
    blocks = readme_format_blocks()
    assert len(blocks) >= 2, "the README's Runbook format section has lost its examples"
    complete = [b for b in blocks if isinstance(b, dict) and "version" in b]
    assert complete, "the README's Runbook format section has no complete runbook"
    for i, block in enumerate(blocks):
        doc = block if block in complete else as_runbook(block)
        errs = errors(doc)
        assert not errs, f"README block {i}:\n{describe(errs)}"


def module_doc_examples() -> list[tuple[str, Any]]:
    out = []
    for folder in ("steps", "health"):
        for path in sorted((ROOT / "src" / folder).glob("*.rs")):
            docs = "\n".join(line[4:] if line.startswith("//! ") else line[3:]
                             for line in path.read_text().splitlines() if line.startswith("//!"))
            for block in re.findall(r"```yaml\n(.*?)```", docs, re.S):
                out.append((f"{folder}/{path.name}", load_yaml(block)))
    return out


def test_module_doc_examples_validate() -> None:
    examples = module_doc_examples()
    assert len(examples) >= 7
    for where, snippet in examples:
        errs = errors(as_runbook(snippet))
        assert not errs, f"example in src/{where}:\n{describe(errs)}"


# Spellings the parser accepts that a schema easily gets wrong.
ACCEPTED = {
    "number as a name tag": [("vpc", 12345)],
    "number as a runbook name": [("name", 2024)],
    "no region (null)": [("region", None)],
    "null step kind counts as absent": [("steps.0.subnet_ipv6", None)],
    "empty gate_defaults": [("gate_defaults", {})],
    "gate null": [("steps.5.gate", None)],
    "no checks at all": [("checks", {}), ("steps.5", {"id": "alb", "load_balancer_ip_type": {"load_balancer": "x", "ip_address_type": "ipv4"}}),
                         ("steps.6.gate", DELETE), ("steps.7", {"id": "x", "assign_ipv6_addresses": {"instances": ["i-1"]}})],
    "BYOIP": [("steps.0.vpc_ipv6_cidr", {"ipv6_pool": "ipv6pool-ec2-1", "ipv6_cidr_block": "2001:db8:1200::/56"})],
    "IPAM": [("steps.0.vpc_ipv6_cidr", {"ipam_pool": "ipam-pool-1", "netmask_length": 56})],
    "pool with null extras": [("steps.0.vpc_ipv6_cidr", {"ipv6_pool": "p", "netmask_length": None})],
    "subnet keeping its block, with a flag": [("steps.1.subnet_ipv6", {"subnets": [{"subnet": "s"}], "dns64": False})],
    "index null with cidr": [("steps.1.subnet_ipv6.subnets.0", {"subnet": "s", "index": None, "cidr": "2406:da14:abc:de07::/64"})],
    "egress-only route, replace": [("steps.2.ipv6_default_route", {"route_tables": ["rtb-1"], "via": "egress_only_internet_gateway", "replace": True})],
    "port range as text": [("steps.3.security_group_ipv6.rules.0.ports", "8000-8100")],
    "port as text with spaces": [("steps.3.security_group_ipv6.rules.0.ports", " 8000 - 8100 ")],
    "protocol in capitals": [("steps.3.security_group_ipv6.rules.0.protocol", "TCP")],
    "protocol number": [("steps.3.security_group_ipv6.rules.0.protocol", 17)],
    "protocol number as text": [("steps.3.security_group_ipv6.rules.0.protocol", "6")],
    "icmpv6 with a type": [("steps.3.security_group_ipv6.rules.0", {"direction": "ingress", "protocol": "icmpv6", "ports": 2, "cidr": "::/0"})],
    "icmpv6 without ports": [("steps.3.security_group_ipv6.rules.0", {"direction": "egress", "protocol": 58, "cidr": "2406:da14::/32"})],
    "all protocols, ports null": [("steps.3.security_group_ipv6.rules.0", {"direction": "ingress", "protocol": "all", "ports": None, "cidr": "::/0"})],
    "-1 protocols": [("steps.3.security_group_ipv6.rules.0", {"direction": "ingress", "protocol": -1, "cidr": "::/0"})],
    "only rules, no mirroring": [("steps.3.security_group_ipv6.mirror_open_ipv4", False)],
    "only instances": [("steps.4.assign_ipv6_addresses", {"instances": ["i-1"]})],
    "without public IPv4": [("steps.5.load_balancer_ip_type.ip_address_type", "dualstack-without-public-ipv4")],
    "back to ipv4": [("steps.5.load_balancer_ip_type.ip_address_type", "ipv4")],
    "defaults of target_group_ipv6": [("steps.6.target_group_ipv6", {"listener": "arn:aws:elasticloadbalancing:x", "target_groups": ["g"]})],
    "one stage, delete": [("steps.6.target_group_ipv6.shift", [100]), ("steps.6.target_group_ipv6.retire", "delete")],
    "bake 0 (a bare zero)": [("steps.6.target_group_ipv6.bake", 0)],
    "compound durations": [("steps.6.target_group_ipv6.bake", "1m30s"), ("gate_defaults.interval", "500ms"), ("gate_defaults.timeout", "1h 30min")],
    "zero timeout": [("gate_defaults.timeout", "0s")],
    "gate_defaults with empty checks": [("gate_defaults.checks", [])],
    "tcp to a bare IPv6 address": [("checks.redis-v6.tcp.host", "::1")],
    "tcp to an IPv4 address, family any": [("checks.redis-v6.tcp", {"host": "10.0.0.5", "port": 6379, "family": "any"})],
    "http on IPv4, no status": [("checks.site-v6.http", {"url": "http://127.0.0.1:8000/", "family": "ipv4"})],
    "command without timeout": [("checks.smoke", {"command": "true"})],
    "null kinds beside the kind": [("checks.smoke", {"command": "true", "http": None, "timeout": None})],
    "pause policy": [("on_health_failure", "pause"), ("steps.5.on_health_failure", None)],
    "numeric step id": [("steps.0.id", 1)],
}


@pytest.mark.parametrize("changes", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_accepted(changes: list[tuple[str, Any]]) -> None:
    assert_valid(with_changes(*changes))


# ---------------------------------------------------------------------------
# Bad runbooks are rejected, each for its own reason


# name: (changes, path of the error, JSON Schema keyword that rejects it)
REJECTED: dict[str, tuple[list[tuple[str, Any]], str, str]] = {
    "unknown top-level field": ([("owner", "me")], "", "additionalProperties"),
    "misspelt top-level field": ([("step", [])], "", "additionalProperties"),
    "unknown field in a step": ([("steps.0.timeout", "5m")], "steps.0", "additionalProperties"),
    "step with two kinds": ([("steps.0.subnet_ipv6", {"subnets": [{"subnet": "s", "index": 1}]})], "steps.0", "oneOf"),
    "step with no kind": ([("steps.0.vpc_ipv6_cidr", DELETE)], "steps.0", "oneOf"),
    "step whose kind is null": ([("steps.0.vpc_ipv6_cidr", None)], "steps.0", "oneOf"),
    "step without id": ([("steps.0.id", DELETE)], "steps.0", "required"),
    "step id with capitals": ([("steps.0.id", "VPC")], "steps.0.id", "pattern"),
    "step id starting with -": ([("steps.0.id", "-vpc")], "steps.0.id", "pattern"),
    "step id too long": ([("steps.0.id", "x" * 65)], "steps.0.id", "maxLength"),
    "steps is a string": ([("steps", "vpc-ipv6")], "steps", "type"),
    "no steps": ([("steps", [])], "steps", "minItems"),
    "missing vpc": ([("vpc", DELETE)], "", "required"),
    "blank vpc": ([("vpc", "  ")], "vpc", "pattern"),
    "missing name": ([("name", DELETE)], "", "required"),
    "name starting with .": ([("name", ".hidden")], "name", "pattern"),
    "name with a slash": ([("name", "a/b")], "name", "pattern"),
    "version 2": ([("version", 2)], "version", "const"),
    "version as text": ([("version", "1")], "version", "type"),
    "bad via": ([("steps.2.ipv6_default_route.via", "nat_gateway")], "steps.2.ipv6_default_route.via", "enum"),
    "missing via": ([("steps.2.ipv6_default_route.via", DELETE)], "steps.2.ipv6_default_route", "required"),
    "route table twice": ([("steps.2.ipv6_default_route.route_tables", ["a", "a"])], "steps.2.ipv6_default_route.route_tables", "uniqueItems"),
    "bad ip_address_type": ([("steps.5.load_balancer_ip_type.ip_address_type", "ipv6")], "steps.5.load_balancer_ip_type.ip_address_type", "enum"),
    "bad on_health_failure": ([("on_health_failure", "rollback")], "on_health_failure", "enum"),
    "bad step on_health_failure": ([("steps.6.on_health_failure", "stop")], "steps.6.on_health_failure", "enum"),
    "confirm as text": ([("steps.0.confirm", "yes")], "steps.0.confirm", "type"),
    "bad check kind": ([("checks.site-v6", {"ping": {"host": "x"}})], "checks.site-v6", "additionalProperties"),
    "check with two kinds": ([("checks.smoke", {"command": "true", "tcp": {"host": "x", "port": 1}})], "checks.smoke", "oneOf"),
    "check with no kind": ([("checks.smoke", {"timeout": "3s"})], "checks.smoke", "oneOf"),
    "timeout beside an http check": ([("checks.site-v6.timeout", "3s")], "checks.site-v6", "required"),
    "unknown field in an http check": ([("checks.site-v6.http.method", "HEAD")], "checks.site-v6.http", "additionalProperties"),
    "ftp URL": ([("checks.site-v6.http.url", "ftp://x/")], "checks.site-v6.http.url", "pattern"),
    "bad family": ([("checks.redis-v6.tcp.family", "ipv7")], "checks.redis-v6.tcp.family", "enum"),
    "tcp port too high": ([("checks.redis-v6.tcp.port", 70000)], "checks.redis-v6.tcp.port", "maximum"),
    "tcp host with brackets": ([("checks.redis-v6.tcp.host", "[::1]")], "checks.redis-v6.tcp.host", "anyOf"),
    "gate and health_gate": ([("steps.7.gate", {"checks": ["smoke"]})], "steps.7", "not"),
    "gate without checks": ([("steps.5.gate", {"bake": "30s"})], "steps.5.gate", "required"),
    "gate with empty checks": ([("steps.5.gate.checks", [])], "steps.5.gate.checks", "minItems"),
    "unknown field in a gate": ([("steps.5.gate.retries", 3)], "steps.5.gate", "additionalProperties"),
    "gate_defaults with checks": ([("gate_defaults.checks", ["site-v6"])], "gate_defaults.checks", "maxItems"),
    "zero interval": ([("gate_defaults.interval", "0s")], "gate_defaults.interval", "pattern"),
    "zero threshold": ([("steps.5.gate.healthy_threshold", 0)], "steps.5.gate.healthy_threshold", "minimum"),
    "duration without unit": ([("steps.5.gate.bake", "30")], "steps.5.gate.bake", "pattern"),
    "duration with unknown unit": ([("gate_defaults.timeout", "5 fortnights")], "gate_defaults.timeout", "pattern"),
    "second vpc_ipv6_cidr step": ([("steps.4", {"id": "again", "vpc_ipv6_cidr": {}})], "steps", "maxContains"),
    "both pools": ([("steps.0.vpc_ipv6_cidr", {"ipv6_pool": "p", "ipam_pool": "q"})], "steps.0.vpc_ipv6_cidr", "not"),
    "block without a pool": ([("steps.0.vpc_ipv6_cidr", {"ipv6_cidr_block": "2001:db8:1200::/56"})], "steps.0.vpc_ipv6_cidr", "anyOf"),
    "BYOIP block not IPv6": ([("steps.0.vpc_ipv6_cidr", {"ipv6_pool": "p", "ipv6_cidr_block": "10.0.0.0/16"})], "steps.0.vpc_ipv6_cidr.ipv6_cidr_block", "pattern"),
    "index and cidr": ([("steps.1.subnet_ipv6.subnets.0.cidr", "2406:da14:abc:de01::/64")], "steps.1.subnet_ipv6.subnets.0", "not"),
    "negative index": ([("steps.1.subnet_ipv6.subnets.0.index", -1)], "steps.1.subnet_ipv6.subnets.0.index", "minimum"),
    "subnet cidr not a /64": ([("steps.1.subnet_ipv6.subnets.1.cidr", "2406:da14:abc:de00::/56")], "steps.1.subnet_ipv6.subnets.1.cidr", "pattern"),
    "subnet step changing nothing": ([("steps.1.subnet_ipv6", {"subnets": [{"subnet": "s"}]})], "steps.1.subnet_ipv6", "anyOf"),
    "empty subnets": ([("steps.1.subnet_ipv6.subnets", [])], "steps.1.subnet_ipv6.subnets", "minItems"),
    "flag as text": ([("steps.1.subnet_ipv6.dns64", "no")], "steps.1.subnet_ipv6.dns64", "type"),
    "icmp rule": ([("steps.3.security_group_ipv6.rules.0.protocol", "icmp")], "steps.3.security_group_ipv6.rules.0.protocol", "pattern"),
    "protocol 1 (ICMPv4)": ([("steps.3.security_group_ipv6.rules.0.protocol", 1)], "steps.3.security_group_ipv6.rules.0.protocol", "not"),
    "tcp rule without ports": ([("steps.3.security_group_ipv6.rules.0.ports", DELETE)], "steps.3.security_group_ipv6.rules.0", "required"),
    "all rule with ports": ([("steps.3.security_group_ipv6.rules.0.protocol", "all")], "steps.3.security_group_ipv6.rules.0.ports", "type"),
    "port out of range": ([("steps.3.security_group_ipv6.rules.0.ports", "443-70000")], "steps.3.security_group_ipv6.rules.0.ports", "pattern"),
    "IPv4 rule cidr": ([("steps.3.security_group_ipv6.rules.0.cidr", "0.0.0.0/0")], "steps.3.security_group_ipv6.rules.0.cidr", "pattern"),
    "bad direction": ([("steps.3.security_group_ipv6.rules.0.direction", "inbound")], "steps.3.security_group_ipv6.rules.0.direction", "enum"),
    "security group step changing nothing": ([("steps.3.security_group_ipv6", {"groups": ["a"], "mirror_open_ipv4": False})], "steps.3.security_group_ipv6", "required"),
    "assign step selecting nothing": ([("steps.4.assign_ipv6_addresses", {"targets_of": []})], "steps.4.assign_ipv6_addresses", "anyOf"),
    "shift not ending at 100": ([("steps.6.target_group_ipv6.shift", [10, 50])], "steps.6.target_group_ipv6.shift", "contains"),
    "shift over 100": ([("steps.6.target_group_ipv6.shift", [50, 150])], "steps.6.target_group_ipv6.shift.1", "maximum"),
    "unknown targets mode": ([("steps.6.target_group_ipv6.targets", "ip")], "steps.6.target_group_ipv6.targets", "const"),
    "bad retire": ([("steps.6.target_group_ipv6.retire", "archive")], "steps.6.target_group_ipv6.retire", "enum"),
    "name suffix ending in -": ([("steps.6.target_group_ipv6.name_suffix", "v6-")], "steps.6.target_group_ipv6.name_suffix", "pattern"),
    "name suffix too long": ([("steps.6.target_group_ipv6.name_suffix", "-" + "x" * 31)], "steps.6.target_group_ipv6.name_suffix", "pattern"),
}
# An unknown field inside each step kind.
for _kind, _i in STEP_OF.items():
    REJECTED[f"unknown field in {_kind}"] = ([(f"steps.{_i}.{_kind}.bogus", 1)], f"steps.{_i}.{_kind}", "additionalProperties")


@pytest.mark.parametrize("case", list(REJECTED.values()), ids=list(REJECTED))
def test_rejected(case: tuple[list[tuple[str, Any]], str, str]) -> None:
    changes, path, keyword = case
    errs = errors(with_changes(*changes))
    assert errs, "accepted"
    want = [int(p) if p.isdigit() else p for p in path.split(".")] if path else []
    found = [(list(e.absolute_path), e.validator) for e in all_errors(errs)]
    assert (want, keyword) in found, f"expected `{keyword}` at {want}; got:\n{describe(errs)}"


def test_at_least_a_dozen_kinds_of_bad_runbook() -> None:
    assert len(REJECTED) >= 12


# ---------------------------------------------------------------------------
# The schema keeps up with the Rust source


def rust_source(rel: str) -> str:
    return (ROOT / rel).read_text()


def rust_kinds() -> list[str]:
    """The kinds registered in src/steps/mod.rs: the `kinds!` list, and the
    gate-only step its macro adds (the last entry of `KINDS`)."""
    text = rust_source("src/steps/mod.rs")
    m = re.search(r"^kinds! \{(.*?)^\}", text, re.S | re.M)
    assert m, "the kinds! list not found in src/steps/mod.rs"
    kinds = re.findall(r"^\s*([a-z0-9_]+) => [A-Z]\w*,", m.group(1), re.M)
    assert kinds
    extra = re.search(r"pub const KINDS: &\[&str\] = &\[\$\(stringify!\(\$module\),\)\* (.*?)\];", text)
    assert extra, "KINDS not found in src/steps/mod.rs"
    return kinds + re.findall(r'"([a-z0-9_]+)"', extra.group(1))


def schema_step_kinds() -> list[str]:
    return [alt["required"][0] for alt in DEFS["step"]["oneOf"]]


def test_every_step_kind_is_in_the_schema() -> None:
    kinds = rust_kinds()
    step = DEFS["step"]
    for kind in kinds:
        assert kind in step["properties"], f"step kind `{kind}` (KINDS in src/steps/mod.rs) is missing from the schema"
        assert kind == "health_gate" or kind in DEFS, f"$defs/{kind} is missing"
    assert sorted(schema_step_kinds()) == sorted(kinds), "the step's oneOf must list exactly the kinds of KINDS"


def rust_struct_fields(rel: str, struct: str) -> tuple[list[str], bool]:
    """The fields of a struct and whether it denies unknown fields. The
    step's struct is made by the `kinds!` macro: one field per kind."""
    text = rust_source(rel)
    m = re.search(r"((?:#\[[^\n]*\]\s*)*)pub struct " + struct + r"\s*\{(.*?)\n\s*\}", text, re.S)
    assert m, f"struct {struct} not found in {rel}"
    attrs, body = m.groups()
    assert "rename" not in body, f"{struct}: renamed fields are not handled by this test"
    fields = re.findall(r"^\s*pub\s+(\w+)\s*:", body, re.M)
    if "$(pub $module: Option<$module::Raw>,)*" in body:
        fields += [k for k in rust_kinds() if k not in fields]
    return fields, "deny_unknown_fields" in attrs


# (file, struct, where in the schema)
STRUCTS = [
    ("src/runbook/mod.rs", "RawRunbook", SCHEMA),
    ("src/steps/mod.rs", "RawStep", DEFS["step"]),
    ("src/steps/vpc_ipv6_cidr.rs", "Raw", DEFS["vpc_ipv6_cidr"]),
    ("src/steps/subnet_ipv6.rs", "Raw", DEFS["subnet_ipv6"]),
    ("src/steps/subnet_ipv6.rs", "RawEntry", DEFS["subnet_entry"]),
    ("src/steps/ipv6_default_route.rs", "Raw", DEFS["ipv6_default_route"]),
    ("src/steps/security_group_ipv6.rs", "Raw", DEFS["security_group_ipv6"]),
    ("src/steps/security_group_ipv6.rs", "RawRule", DEFS["security_group_rule"]),
    ("src/steps/assign_ipv6_addresses.rs", "Raw", DEFS["assign_ipv6_addresses"]),
    ("src/steps/load_balancer_ip_type.rs", "Raw", DEFS["load_balancer_ip_type"]),
    ("src/steps/target_group_ipv6.rs", "Raw", DEFS["target_group_ipv6"]),
    ("src/steps/ecs_redeploy.rs", "Raw", DEFS["ecs_redeploy"]),
    ("src/steps/network_acl_ipv6.rs", "Raw", DEFS["network_acl_ipv6"]),
    ("src/steps/dns_aaaa.rs", "Raw", DEFS["dns_aaaa"]),
    ("src/steps/dns_aaaa.rs", "RawRecord", DEFS["dns_record"]),
    ("src/health/mod.rs", "RawCheck", DEFS["check"]),
    ("src/health/gate.rs", "RawGate", DEFS["gate"]),
    ("src/health/gate.rs", "RawGate", DEFS["gate_defaults"]),
    ("src/health/http.rs", "Raw", DEFS["http_check"]),
    ("src/health/tcp.rs", "Raw", DEFS["tcp_check"]),
    ("src/health/target_health.rs", "Raw", DEFS["target_health_check"]),
    ("src/health/ecs_service.rs", "Raw", DEFS["ecs_service_check"]),
]


@pytest.mark.parametrize("rel,struct,node", STRUCTS, ids=[f"{r}:{s}" for r, s, _ in STRUCTS])
def test_schema_fields_match_the_raw_structs(rel: str, struct: str, node: dict) -> None:
    fields, strict = rust_struct_fields(rel, struct)
    assert sorted(node["properties"]) == sorted(fields), f"{rel} {struct}"
    assert strict and node["additionalProperties"] is False


def test_every_step_kind_module_has_its_schema() -> None:
    modules = sorted(p.stem for p in (ROOT / "src" / "steps").glob("*.rs") if "impl Step for Spec" in p.read_text())
    assert modules == sorted(rust_kinds())


def rust_enum_values(rel: str, enum: str) -> list[str]:
    m = re.search(r"pub enum " + enum + r"\s*\{(.*?)\n\}", rust_source(rel), re.S)
    assert m, f"enum {enum} not found in {rel}"
    body = re.sub(r"//[^\n]*", "", m.group(1))
    variants = re.findall(r"^\s*([A-Z]\w*)\s*,?\s*$", body, re.M)
    return [re.sub(r"(?<!^)([A-Z])", r"_\1", v).lower() for v in variants]  # serde snake_case


ENUMS = [
    ("src/runbook/mod.rs", "HealthPolicy", DEFS["health_policy"]),
    ("src/steps/ipv6_default_route.rs", "Via", DEFS["ipv6_default_route"]["properties"]["via"]),
    ("src/steps/target_group_ipv6.rs", "Retire", DEFS["target_group_ipv6"]["properties"]["retire"]),
    ("src/health/mod.rs", "Family", DEFS["family"]),
    ("src/aws/model.rs", "Direction", DEFS["security_group_rule"]["properties"]["direction"]),
]


@pytest.mark.parametrize("rel,enum,node", ENUMS, ids=[e for _, e, _ in ENUMS])
def test_schema_enums_match_the_rust_enums(rel: str, enum: str, node: dict) -> None:
    assert sorted(node["enum"]) == sorted(rust_enum_values(rel, enum))


def test_ip_address_types_match() -> None:
    m = re.search(r"pub const TYPES:\s*&\[&str\]\s*=\s*&\[(.*?)\];", rust_source("src/steps/load_balancer_ip_type.rs"), re.S)
    assert m
    types = re.findall(r'"([^"]+)"', m.group(1))
    assert sorted(DEFS["load_balancer_ip_type"]["properties"]["ip_address_type"]["enum"]) == sorted(types)


def test_format_version_matches() -> None:
    m = re.search(r"pub const FORMAT_VERSION: u32 = (\d+);", rust_source("src/runbook/mod.rs"))
    assert m and SCHEMA["properties"]["version"]["const"] == int(m.group(1))
