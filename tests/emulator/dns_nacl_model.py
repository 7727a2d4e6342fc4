"""Network ACLs, Route 53 and ELBv2 hosted zones of the dualstack emulator
(correction n of ``launcher.py``).

Installed by ``launcher.apply_corrections()`` (never with ``--pristine``); it
imports nothing from the launcher: the launcher hands it its state (the
lock). The launcher's module docstring, section n, is the summary of what is
corrected; this docstring adds the model's details and its simplifications.

Network ACLs
------------
Every network ACL has AWS's catch-all denies, one per direction and IP
family: ``*`` for IPv4 (reported as rule 32767, ``0.0.0.0/0``) and, once its
VPC has an IPv6 block, ``*`` for IPv6 (reported as rule 32768, ``::/0``). A
default ACL starts with AWS's defaults: per direction ``100 allow all
0.0.0.0/0``, plus ``101 allow all ::/0`` when its VPC is created with an IPv6
block. When a VPC gets an IPv6 block (CreateVpc with
AmazonProvidedIpv6CidrBlock, AssociateVpcCidrBlock), every ACL of the VPC
gets the IPv6 ``*`` denies it lacks, and its default ACL gets ``101 allow all
::/0`` in each direction whose entries no call ever modified (each
successful CreateNetworkAclEntry, ReplaceNetworkAclEntry and
DeleteNetworkAclEntry marks its direction as modified, for good). Custom ACLs
never get an allow. The entries are added at the association call (AWS's
timing is not documented), they stay when the block is disassociated (AWS
documents nothing either), and a second IPv6 block adds nothing.

Entries render in DescribeNetworkAcls (and CreateNetworkAcl) egress first,
then ingress, each in rule-number order (32767 before 32768), as AWS lists
them; ``Protocol`` is the protocol number as a string (``tcp``, ``udp``,
``icmp``, ``icmpv6`` and ``all`` are accepted and stored as ``6``, ``17``,
``1``, ``58`` and ``-1`` -- our reading of "the protocol number"; AWS may
refuse the names), CIDR blocks in canonical form (AWS: "We modify the
specified CIDR block to its canonical form"). Filters ``entry.ipv6-cidr``,
``entry.icmp.type``, ``entry.icmp.code``, ``entry.port-range.from`` and
``entry.port-range.to`` work; ``entry.cidr`` lists IPv4 blocks only.

Checks on CreateNetworkAclEntry and ReplaceNetworkAclEntry, in this order:
both CidrBlock and Ipv6CidrBlock -> ``InvalidParameterCombination``, neither
-> ``MissingParameter``; RuleNumber outside 1-32766 -> ``InvalidParameterValue``
(also for DeleteNetworkAclEntry: the ``*`` entries cannot be touched); an
invalid CIDR block, protocol or RuleAction -> ``InvalidParameterValue``;
protocol 1 or 58 without IcmpTypeCode.Type -> ``MissingParameter`` "The
request must contain the parameter icmpTypeCode.type" (what AWS answers, as
reported by Terraform's and goamz's users); the ACL must exist
(``InvalidNetworkAclID.NotFound``, moto's); then Create answers
``NetworkAclEntryAlreadyExists`` when the direction already has that rule
number (IPv4 and IPv6 share one number space per direction), Replace and
Delete answer ``InvalidNetworkAclEntry.NotFound`` ("The specified rule does
not exist in this network ACL.") when it has none; last the quota. All HTTP
400. TCP/UDP entries without PortRange are accepted (the API reference says
it is required; what AWS answers is not known to us).

Quota. AWS's "Rules per network ACL" (Amazon VPC quotas page): 20 by default,
raisable to 40, "the one-way quota for a single network ACL ... enforced
separately for IPv4 rules and IPv6 rules ... This quota includes the default
deny rules (rule number 32767 for IPv4 and 32768 for IPv6)". Modelled per
ACL, direction and family: the family's entries numbered 1-32766 plus one
for its ``*`` deny (counted whether or not it is rendered yet) may not exceed
the quota, so 19 user entries per direction and family by default; the next
CreateNetworkAclEntry (or a Replace that moves an entry to a full family)
answers ``NetworkAclEntryLimitExceeded`` ("The maximum number of network acl
entries has been reached."). The quota is ``entry_quota`` of
``/_emulator/nacl-config`` (``--nacl-entry-quota``).

ELBv2 hosted zones
------------------
``CanonicalHostedZoneId`` is the hosted zone AWS publishes for the load
balancer's region and type (``ELB_HOSTED_ZONES``, from the AWS General
Reference page "Elastic Load Balancing endpoints and quotas": the
Application/Classic column for ``application`` load balancers, the Network
column for ``network``); any other region or type gets ``Z`` followed by 13
characters derived from the region and type (deterministic, not AWS's).
moto reports ``Z2P70J7EXAMPLE`` for all. DNSName stays moto's
``NAME-1.REGION.elb.amazonaws.com`` (AWS: ``NAME-1234567890.REGION.elb.amazonaws.com``
for an application load balancer, the same shape).

Route 53
--------
Names (zones, records) are stored and returned as AWS stores them: lower
case ("Amazon Route 53 stores alphabetic characters as lowercase letters"),
with a trailing dot, ``*`` as ``\\052``. moto keeps the case given, so a zone
created as ``Example.com`` refuses ``www.example.com``. Alias targets are
stored with their DNSName lower case with a trailing dot. A new zone's NS
record lists its name servers with trailing dots and its SOA record is
``NS. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`` (moto renders
the SOA value as a Python dict repr).

ChangeResourceRecordSets applies its batch as one transaction (the changes
in order, on a copy; any error and nothing is applied). Records are keyed by
(name, type, SetIdentifier). Per change:

- the name must be the zone's or below it -> else ``InvalidChangeBatch``
  "RRSet with DNS name N is not permitted in zone Z" (moto's, AWS's text);
- exactly one of AliasTarget or (TTL and ResourceRecords) -> else
  ``InvalidInput`` "Invalid request: Expected exactly one of [AliasTarget,
  all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found
  more than one|none in Change with [Action=..., Name=..., Type=...,
  SetIdentifier=...]" (moto accepts TTL with an alias);
- CREATE of an existing key -> ``InvalidChangeBatch`` "Tried to create
  resource record set [name='N', type='T'] but it already exists" (moto only
  notices a CREATE identical to an earlier one, so it stores duplicates);
- DELETE of a missing key -> ``InvalidChangeBatch`` "Tried to delete resource
  record set [name='N', type='T'] but it was not found"; DELETE whose TTL,
  values (in any order), alias target (zone, DNS name, EvaluateTargetHealth)
  or routing fields (Weight, Region, Failover, GeoLocation, MultiValueAnswer,
  HealthCheckId) differ from the record's -> ``InvalidChangeBatch`` "Tried to
  delete resource record set [name='N', type='T'] but the values provided do
  not match the current values" (moto: ``InvalidInput`` about missing
  fields, or it deletes an alias whatever the values). With a SetIdentifier
  the bracket reads ``[name='N', type='T', set-identifier='S']``;
- CREATE/UPSERT of an alias whose DNSName (with or without ``dualstack.``,
  any case, trailing dot optional) is the DNS name of an ELBv2 load balancer
  of the same account (any region) and whose HostedZoneId is not that load
  balancer's CanonicalHostedZoneId -> ``InvalidChangeBatch`` "Tried to create
  an alias that targets D, type T in zone Z, but the alias target name does
  not lie within the target zone" (moto accepts any zone). Alias targets that
  are not such load balancers are accepted unchecked.

All HTTP 400. Not modelled: CNAME conflicts with other types at one name,
deleting the apex NS/SOA, record-type or value syntax, routing-policy
consistency (SetIdentifier with exactly one of Weight, Region, ...), the
target of an alias to a record of the same zone existing.

Changes. ChangeResourceRecordSets, CreateHostedZone, DeleteHostedZone and
Associate/DisassociateVPCWithHostedZone answer a new change (``/change/C``
followed by 19 characters of ``[0-9A-Z]``) ``PENDING``; GetChange reports it
``PENDING`` in its first N reads and ``INSYNC`` from then on (N =
``pending_change_reads`` of ``/_emulator/dns-config``, ``--change-pending-reads``,
default 1; with 0 the first read is INSYNC, the mutating call's answer still
PENDING). GetChange of an ID never issued -> ``NoSuchChange`` (HTTP 404).
moto: every change ``INSYNC`` at once, a fixed ID per call type, any ID found.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import random
import string
import threading
from typing import Any

DEFAULT_ENTRY_QUOTA = 20  # AWS's "Rules per network ACL", the * deny included
DEFAULT_PENDING_CHANGE_READS = 1

# The catch-all denies as AWS reports them, and the highest number a call can set.
STAR_V4 = 32767
STAR_V6 = 32768
MAX_RULE = 32766

PROTOCOL_NAMES = {"all": "-1", "tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58"}

# AWS General Reference, "Elastic Load Balancing endpoints and quotas":
# region -> (Application/Classic Load Balancer zone, Network Load Balancer zone).
ELB_HOSTED_ZONES: dict[str, tuple[str, str]] = {
    "us-east-1": ("Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
    "us-east-2": ("Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
    "us-west-1": ("Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
    "us-west-2": ("Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
    "af-south-1": ("Z268VQBMOI5EKX", "Z203XCE67M25HM"),
    "ap-east-1": ("Z3DQVH9N71FHZ0", "Z12Y7K3UBGUAD1"),
    "ap-south-1": ("ZP97RAFLXTNZK", "ZVDDRBQ08TROA"),
    "ap-northeast-1": ("Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
    "ap-northeast-2": ("ZWKZPGTI48KDX", "ZIBE1TIR4HY56"),
    "ap-southeast-1": ("Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"),
    "ap-southeast-2": ("Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"),
    "ca-central-1": ("ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"),
    "eu-central-1": ("Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
    "eu-west-1": ("Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
    "eu-west-2": ("ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"),
    "eu-west-3": ("Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"),
    "eu-north-1": ("Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"),
    "eu-south-1": ("Z3ULH7SSC9OV64", "Z23146JA1KNAFP"),
    "me-south-1": ("ZS929ML54UICD", "Z3QSRYVP46NYYV"),
    "sa-east-1": ("Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"),
}

# SOA of a new public zone, as AWS writes it (first name server, then this).
SOA_TAIL = "awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"


def canonical_hosted_zone_id(region: str, lb_type: str | None) -> str:
    """The hosted zone of a load balancer of `lb_type` in `region` (see ELB_HOSTED_ZONES)."""
    kind = lb_type or "application"
    zones = ELB_HOSTED_ZONES.get(region)
    if zones is not None and kind in ("application", "network"):
        return zones[0] if kind == "application" else zones[1]
    digest = hashlib.sha256(f"{kind}:{region}".encode()).digest()
    alphabet = string.ascii_uppercase + string.digits
    return "Z" + "".join(alphabet[b % len(alphabet)] for b in digest[:13])


def dns_name(name: str) -> str:
    """A DNS name as Route 53 stores it: lower case, trailing dot, ``*`` as ``\\052``."""
    name = str(name).strip().lower().replace("*", "\\052")
    return name if name.endswith(".") else name + "."


class DnsNaclModel:
    """Run-time settings and state of correction n (the rest lives on moto's objects)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.lock: threading.RLock = state.lock
        self.default_entry_quota = DEFAULT_ENTRY_QUOTA
        self.entry_quota = DEFAULT_ENTRY_QUOTA
        self.default_pending_reads = DEFAULT_PENDING_CHANGE_READS
        self.pending_reads = DEFAULT_PENDING_CHANGE_READS
        # change id (without /change/) -> {"Id", "SubmittedAt", "Comment", "reads_left"}
        self.changes: dict[str, dict[str, Any]] = {}

    # -- settings -----------------------------------------------------------------

    def set_defaults(self, entry_quota: int, pending_reads: int) -> None:
        self.default_entry_quota = self.entry_quota = entry_quota
        self.default_pending_reads = self.pending_reads = pending_reads

    def reset(self) -> None:
        with self.lock:
            self.changes.clear()
            self.entry_quota = self.default_entry_quota
            self.pending_reads = self.default_pending_reads

    @staticmethod
    def _int(payload: dict[str, Any], name: str, minimum: int) -> int | None:
        if name not in payload:
            return None
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"'{name}' must be an integer >= {minimum}")
        return value

    def nacl_config(self, payload: dict[str, Any]) -> dict[str, Any]:
        unknown = set(payload) - {"entry_quota"}
        if unknown:
            raise ValueError(f"unknown network ACL setting(s): {', '.join(sorted(unknown))} (known: entry_quota)")
        value = self._int(payload, "entry_quota", 1)
        with self.lock:
            if value is not None:
                self.entry_quota = value
            return {"entry_quota": self.entry_quota}

    def dns_config(self, payload: dict[str, Any]) -> dict[str, Any]:
        unknown = set(payload) - {"pending_change_reads"}
        if unknown:
            raise ValueError(
                f"unknown Route 53 setting(s): {', '.join(sorted(unknown))} (known: pending_change_reads)"
            )
        value = self._int(payload, "pending_change_reads", 0)
        with self.lock:
            if value is not None:
                self.pending_reads = value
            return {"pending_change_reads": self.pending_reads}

    # -- Route 53 changes -----------------------------------------------------------

    def new_change(self, comment: str | None = None) -> dict[str, Any]:
        """A new PENDING change, as the mutating call answers it."""
        from moto.core.utils import utcnow

        alphabet = string.digits + string.ascii_uppercase
        with self.lock:
            while True:
                change_id = "C" + "".join(random.choice(alphabet) for _ in range(19))
                if change_id not in self.changes:
                    break
            record = {"Id": f"/change/{change_id}", "SubmittedAt": utcnow(), "reads_left": self.pending_reads}
            if comment:
                record["Comment"] = comment
            self.changes[change_id] = record
            return self.change_info(record, "PENDING")

    @staticmethod
    def change_info(record: dict[str, Any], status: str) -> dict[str, Any]:
        info = {"Id": record["Id"], "Status": status, "SubmittedAt": record["SubmittedAt"]}
        if record.get("Comment"):
            info["Comment"] = record["Comment"]
        return info

    def read_change(self, change_id: str) -> dict[str, Any]:
        """One GetChange read; None if the change was never issued."""
        key = str(change_id).rsplit("/", 1)[-1]
        with self.lock:
            record = self.changes.get(key)
            if record is None:
                return None  # type: ignore[return-value]
            if record["reads_left"] > 0:
                record["reads_left"] -= 1
                return self.change_info(record, "PENDING")
            return self.change_info(record, "INSYNC")


# ---------------------------------------------------------------------------
# Network ACLs
# ---------------------------------------------------------------------------


def install_nacls(model: DnsNaclModel) -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.ec2.exceptions import (
        EC2ClientError,
        InvalidParameterCombination,
        MissingParameter,
        NetworkAclEntryAlreadyExistsError,
    )
    from moto.ec2.models.network_acls import NetworkAcl, NetworkAclBackend, NetworkAclEntry
    from moto.ec2.models.vpcs import VPC
    from moto.ec2.responses.network_acls import NetworkACLs

    def family(entry: Any) -> int:
        return 6 if entry.ipv6_cidr_block else 4

    def modified(acl: Any) -> set[bool]:
        return acl.__dict__.setdefault("_ds_modified", set())

    def find(acl: Any, number: int, egress: bool) -> Any:
        for entry in acl.network_acl_entries:
            if entry.egress == egress and entry.rule_number == number:
                return entry
        return None

    def add(acl: Any, number: int, egress: bool, action: str, v4: str | None = None, v6: str | None = None) -> None:
        acl.network_acl_entries.append(
            NetworkAclEntry(
                acl.ec2_backend,
                network_acl_id=acl.id,
                rule_number=number,
                protocol="-1",
                rule_action=action,
                egress=egress,
                cidr_block=v4,
                icmp_code=None,
                icmp_type=None,
                port_range_from=None,
                port_range_to=None,
                ipv6_cidr_block=v6,
            )
        )

    def vpc_has_ipv6(backend: Any, vpc_id: str) -> bool:
        vpc = backend.vpcs.get(vpc_id)
        if vpc is None:
            return False
        return any(
            a["cidr_block_state"]["state"] in ("associating", "associated")
            for a in vpc.get_cidr_block_association_set(ipv6=True)
        )

    def add_ipv6_defaults(acl: Any) -> None:
        """The IPv6 entries AWS adds when the ACL's VPC gets an IPv6 block."""
        for egress in (True, False):
            if acl.default and egress not in modified(acl) and find(acl, 101, egress) is None:
                add(acl, 101, egress, "allow", v6="::/0")
            if find(acl, STAR_V6, egress) is None:
                add(acl, STAR_V6, egress, "deny", v6="::/0")

    def add_default_entries(self: Any, network_acl_id: str) -> None:
        acl = self.get_network_acl(network_acl_id)
        for egress in (True, False):
            add(acl, 100, egress, "allow", v4="0.0.0.0/0")
            add(acl, STAR_V4, egress, "deny", v4="0.0.0.0/0")

    NetworkAclBackend.add_default_entries = add_default_entries

    original_create_acl = NetworkAclBackend.create_network_acl

    def create_network_acl(self: Any, vpc_id: str, tags: Any = None, default: bool = False) -> Any:
        acl = original_create_acl(self, vpc_id, tags=tags, default=default)
        with model.lock:
            if not default:  # AWS: a custom ACL denies everything until entries are added
                for egress in (True, False):
                    add(acl, STAR_V4, egress, "deny", v4="0.0.0.0/0")
            if vpc_has_ipv6(self, vpc_id):
                add_ipv6_defaults(acl)
        return acl

    NetworkAclBackend.create_network_acl = create_network_acl

    corrected_vpc_associate = VPC.associate_vpc_cidr_block  # the launcher's (correction a/b)

    def vpc_associate(
        self: Any,
        cidr_block: str,
        amazon_provided_ipv6_cidr_block: bool = False,
        ipv6_cidr_block_network_border_group: str | None = None,
    ) -> Any:
        association = corrected_vpc_associate(
            self, cidr_block, amazon_provided_ipv6_cidr_block, ipv6_cidr_block_network_border_group
        )
        if "::/" in str(association.get("cidr_block", "")):
            with model.lock:
                # At CreateVpc the ACLs do not exist yet: create_network_acl adds them.
                for acl in list(self.ec2_backend.network_acls.values()):
                    if acl.vpc_id == self.id:
                        add_ipv6_defaults(acl)
        return association

    VPC.associate_vpc_cidr_block = vpc_associate

    def sorted_entries(self: Any) -> list[Any]:
        # AWS lists egress entries first, then ingress, each by rule number.
        return sorted(self.network_acl_entries, key=lambda e: (not e.egress, int(e.rule_number)))

    NetworkAcl.entries = property(sorted_entries)

    original_filter = NetworkAcl.get_filter_value

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        entries = self.network_acl_entries
        if filter_name == "entry.cidr":
            return [e.cidr_block for e in entries if e.cidr_block]
        if filter_name == "entry.ipv6-cidr":
            return [e.ipv6_cidr_block for e in entries if e.ipv6_cidr_block]
        if filter_name == "entry.icmp.type":
            return [str(e.icmp_type) for e in entries if e.icmp_type is not None]
        if filter_name == "entry.icmp.code":
            return [str(e.icmp_code) for e in entries if e.icmp_code is not None]
        if filter_name == "entry.port-range.from":
            return [str(e.port_range_from) for e in entries if e.port_range_from is not None]
        if filter_name == "entry.port-range.to":
            return [str(e.port_range_to) for e in entries if e.port_range_to is not None]
        return original_filter(self, filter_name, method_name)

    NetworkAcl.get_filter_value = get_filter_value

    # ---- request checks ----------------------------------------------------------

    def invalid(message: str) -> EC2ClientError:
        return EC2ClientError("InvalidParameterValue", message)

    def rule_number(resp: Any) -> int:
        number = resp._get_param("RuleNumber")
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise invalid(f"Invalid value '{number}' for ruleNumber")
        if not 1 <= number <= MAX_RULE:
            raise invalid(
                f"Invalid value '{number}' for ruleNumber. It must be an integer between 1 and {MAX_RULE}."
            )
        return number

    def entry_params(resp: Any) -> dict[str, Any]:
        v4 = resp._get_param("CidrBlock")
        v6 = resp._get_param("Ipv6CidrBlock")
        if v4 and v6:
            raise InvalidParameterCombination("Only one of cidrBlock and ipv6CidrBlock can be specified.")
        if not v4 and not v6:
            raise MissingParameter("The request must contain the parameter cidrBlock or ipv6CidrBlock")
        number = rule_number(resp)
        try:
            if v4:
                v4 = str(ipaddress.IPv4Network(str(v4), strict=False))
            else:
                v6 = str(ipaddress.IPv6Network(str(v6), strict=False))
        except ValueError:
            name, value = ("cidrBlock", v4) if v4 else ("ipv6CidrBlock", v6)
            raise invalid(f"Value ({value}) for parameter {name} is invalid. This is not a valid CIDR block.")
        raw = str(resp._get_param("Protocol") or "").strip().lower()
        protocol = PROTOCOL_NAMES.get(raw, raw)
        if protocol != "-1":
            if not protocol.isdigit() or not 0 <= int(protocol) <= 255:
                raise invalid(f"Invalid value '{raw}' for protocol. It must be a protocol number or -1.")
            protocol = str(int(protocol))
        icmp = resp._get_param("IcmpTypeCode") or {}
        if protocol in ("1", "58") and icmp.get("Type") is None:
            raise MissingParameter("The request must contain the parameter icmpTypeCode.type")
        ports = resp._get_param("PortRange") or {}
        action = str(resp._get_param("RuleAction") or "").lower()
        if action not in ("allow", "deny"):
            raise invalid(f"Invalid value '{action}' for ruleAction. It must be allow or deny.")
        return {
            "network_acl_id": resp._get_param("NetworkAclId"),
            "rule_number": number,
            "protocol": protocol,
            "rule_action": action,
            "egress": bool(resp._get_param("Egress")),
            "cidr_block": v4 or None,
            "ipv6_cidr_block": v6 or None,
            "icmp_code": icmp.get("Code") if protocol in ("1", "58") else None,
            "icmp_type": icmp.get("Type") if protocol in ("1", "58") else None,
            "port_range_from": ports.get("From"),
            "port_range_to": ports.get("To"),
        }

    def not_found() -> EC2ClientError:
        return EC2ClientError("InvalidNetworkAclEntry.NotFound", "The specified rule does not exist in this network ACL.")

    def check_quota(acl: Any, egress: bool, fam: int, replacing: Any = None) -> None:
        count = 1 + sum(  # the family's * deny counts (AWS: "This quota includes the default deny rules")
            1
            for e in acl.network_acl_entries
            if e is not replacing and e.egress == egress and family(e) == fam and int(e.rule_number) <= MAX_RULE
        )
        if count + 1 > model.entry_quota:
            raise EC2ClientError(
                "NetworkAclEntryLimitExceeded", "The maximum number of network acl entries has been reached."
            )

    def new_entry(backend: Any, params: dict[str, Any]) -> Any:
        return NetworkAclEntry(backend, **params)

    def create_network_acl_entry(self: Any) -> Any:
        params = entry_params(self)
        acl = self.ec2_backend.get_network_acl(params["network_acl_id"])
        with model.lock:
            if find(acl, params["rule_number"], params["egress"]) is not None:
                raise NetworkAclEntryAlreadyExistsError(params["rule_number"])
            entry = new_entry(self.ec2_backend, params)
            check_quota(acl, params["egress"], family(entry))
            acl.network_acl_entries.append(entry)
            modified(acl).add(params["egress"])
        return EmptyResult()

    NetworkACLs.create_network_acl_entry = create_network_acl_entry

    def replace_network_acl_entry(self: Any) -> Any:
        params = entry_params(self)
        acl = self.ec2_backend.get_network_acl(params["network_acl_id"])
        with model.lock:
            existing = find(acl, params["rule_number"], params["egress"])
            if existing is None:
                raise not_found()
            entry = new_entry(self.ec2_backend, params)
            check_quota(acl, params["egress"], family(entry), replacing=existing)
            entries = acl.network_acl_entries
            entries[entries.index(existing)] = entry
            modified(acl).add(params["egress"])
        return EmptyResult()

    NetworkACLs.replace_network_acl_entry = replace_network_acl_entry

    def delete_network_acl_entry(self: Any) -> Any:
        number = rule_number(self)
        egress = bool(self._get_param("Egress"))
        acl = self.ec2_backend.get_network_acl(self._get_param("NetworkAclId"))
        with model.lock:
            existing = find(acl, number, egress)
            if existing is None:
                raise not_found()
            acl.network_acl_entries.remove(existing)
            modified(acl).add(egress)
        return EmptyResult()

    NetworkACLs.delete_network_acl_entry = delete_network_acl_entry

    # CreateNetworkAcl answers the new ACL with its entries (moto: none).
    def create_network_acl_response(self: Any) -> Any:
        vpc_id = self._get_param("VpcId")
        tags = self._get_param("TagSpecifications", [])
        if tags:
            tags = tags[0].get("Tags")
        return ActionResult({"NetworkAcl": self.ec2_backend.create_network_acl(vpc_id, tags=tags)})

    NetworkACLs.create_network_acl = create_network_acl_response


# ---------------------------------------------------------------------------
# ELBv2 hosted zones
# ---------------------------------------------------------------------------


def install_elbv2() -> None:
    from moto.elbv2.models import FakeLoadBalancer

    def hosted_zone(self: Any) -> str:
        region = self.arn.split(":")[3] if self.arn.count(":") >= 5 else ""
        return canonical_hosted_zone_id(region, self.type)

    # moto assigns a placeholder in __init__: keep the setter a no-op.
    FakeLoadBalancer.canonical_hosted_zone_id = property(hosted_zone, lambda self, value: None)


def load_balancer_for(account_id: str, target: str) -> Any:
    """The ELBv2 load balancer whose DNS name `target` is (``dualstack.`` optional)."""
    from moto.elbv2.models import elbv2_backends

    name = str(target).strip().lower().rstrip(".")
    bare = name[len("dualstack."):] if name.startswith("dualstack.") else name
    for account in list(elbv2_backends.values()):
        if getattr(account, "account_id", account_id) != account_id:
            continue
        for backend in list(dict.values(account)):
            for balancer in list(backend.load_balancers.values()):
                if str(balancer.dns_name).lower().rstrip(".") == bare:
                    return balancer
    return None


# ---------------------------------------------------------------------------
# Route 53
# ---------------------------------------------------------------------------


def install_route53(model: DnsNaclModel) -> None:
    from moto.core.responses import ActionResult
    from moto.route53.exceptions import InvalidActionValue, InvalidChangeBatch, InvalidInput, Route53ClientError
    from moto.route53.models import RecordSet, Route53Backend
    from moto.route53.responses import Route53
    from moto.route53.utils import validate_domain_name

    # (moto serializes an error by the service of its class's module.)
    def batch_error(message: str) -> Route53ClientError:
        return Route53ClientError("InvalidChangeBatch", message)

    # ---- zones: lower-case names, AWS's NS and SOA --------------------------------

    original_create_zone = Route53Backend.create_hosted_zone

    def create_hosted_zone(self: Any, name: str, private_zone: bool, *args: Any, **kwargs: Any) -> Any:
        zone = original_create_zone(self, dns_name(name), private_zone, *args, **kwargs)
        servers = list(zone.delegation_set.name_servers) if zone.delegation_set else []
        for record in zone.rrsets:
            record.name = dns_name(record.name)
            if record.type == "NS":
                record.ttl = int(record.ttl)
                record.records = [dns_name(s) for s in servers]
            elif record.type == "SOA" and servers:
                record.records = [f"{dns_name(servers[0])} {SOA_TAIL}"]
        return zone

    Route53Backend.create_hosted_zone = create_hosted_zone

    original_by_name = Route53Backend.get_hosted_zone_by_name

    def get_hosted_zone_by_name(self: Any, name: str) -> Any:
        return original_by_name(self, dns_name(name)) if name else original_by_name(self, name)

    Route53Backend.get_hosted_zone_by_name = get_hosted_zone_by_name

    original_list = Route53Backend.list_resource_record_sets

    def list_resource_record_sets(self: Any, zone_id: str, start_type: str, start_name: str, max_items: int) -> Any:
        return original_list(self, zone_id, start_type, dns_name(start_name) if start_name else start_name, max_items)

    Route53Backend.list_resource_record_sets = list_resource_record_sets

    # moto keeps records as given; a value may still be a {"Value": ...} dict.
    def resource_records(self: Any) -> list[dict[str, Any]] | None:
        if not self.records:
            return None
        return [{"Value": v["Value"] if isinstance(v, dict) else v} for v in self.records]

    RecordSet.resource_records = property(resource_records)

    # ---- ChangeResourceRecordSets --------------------------------------------------

    def key_text(name: str, rtype: str, set_id: str | None) -> str:
        text = f"[name='{name}', type='{rtype}'"
        if set_id is not None:
            text += f", set-identifier='{set_id}'"
        return text + "]"

    def alias_view(alias: dict[str, Any] | None) -> Any:
        if not alias:
            return None
        return (
            str(alias.get("HostedZoneId") or "").rsplit("/", 1)[-1],
            dns_name(alias.get("DNSName") or ""),
            bool(alias.get("EvaluateTargetHealth")),
        )

    def view_of_record(record: Any) -> tuple[Any, ...]:
        values = [v["Value"] if isinstance(v, dict) else v for v in record.records or []]
        return (
            int(record.ttl) if record.ttl is not None else None,
            sorted(str(v) for v in values) or None,
            alias_view(record.alias_target),
            record.weight,
            record.region,
            record.failover,
            record.geo_location or None,
            record.multi_value_answer,
            record.health_check_id,
        )

    def view_of_request(rrs: dict[str, Any]) -> tuple[Any, ...]:
        values = [r.get("Value") for r in rrs.get("ResourceRecords") or []]
        return (
            int(rrs["TTL"]) if rrs.get("TTL") is not None else None,
            sorted(str(v) for v in values) or None,
            alias_view(rrs.get("AliasTarget")),
            rrs.get("Weight"),
            rrs.get("Region"),
            rrs.get("Failover"),
            rrs.get("GeoLocation") or None,
            rrs.get("MultiValueAnswer"),
            rrs.get("HealthCheckId"),
        )

    def check_shape(action: str, name: str, rrs: dict[str, Any]) -> None:
        has_alias = bool(rrs.get("AliasTarget"))
        has_ttl = rrs.get("TTL") is not None
        has_records = bool(rrs.get("ResourceRecords"))
        has_policy = bool(rrs.get("TrafficPolicyInstanceId"))
        found = int(has_alias) + int(has_ttl and has_records) + int(has_policy)
        if has_alias and (has_ttl or has_records):
            found = 2
        if found != 1:
            raise InvalidInput(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or "
                f"TrafficPolicyInstanceId], but found {'none' if found == 0 else 'more than one'} in Change with "
                f"[Action={action}, Name={name}, Type={rrs.get('Type')}, "
                f"SetIdentifier={rrs.get('SetIdentifier', 'null')}]"
            )

    def check_alias(account_id: str, rrs: dict[str, Any]) -> None:
        alias = rrs.get("AliasTarget")
        if not alias:
            return
        balancer = load_balancer_for(account_id, alias.get("DNSName") or "")
        zone_id = str(alias.get("HostedZoneId") or "").rsplit("/", 1)[-1]
        if balancer is not None and zone_id != balancer.canonical_hosted_zone_id:
            raise batch_error(
                f"Tried to create an alias that targets {dns_name(alias.get('DNSName') or '')}, type "
                f"{rrs.get('Type')} in zone {zone_id}, but the alias target name does not lie within the target zone"
            )

    def stored(rrs: dict[str, Any], name: str) -> Any:
        kwargs = copy.deepcopy(rrs)
        kwargs["Name"] = name
        if "ResourceRecords" in kwargs:
            kwargs["ResourceRecords"] = [r.get("Value") for r in kwargs["ResourceRecords"]]
        if kwargs.get("AliasTarget"):
            alias = kwargs["AliasTarget"]
            alias["HostedZoneId"] = str(alias.get("HostedZoneId") or "").rsplit("/", 1)[-1]
            alias["DNSName"] = dns_name(alias.get("DNSName") or "")
            alias["EvaluateTargetHealth"] = bool(alias.get("EvaluateTargetHealth"))
        return RecordSet(kwargs)

    def change_resource_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
        zone = self.get_hosted_zone(zoneid)
        zone_name = dns_name(zone.name)
        records = list(zone.rrsets)  # the transaction's working copy

        def index_of(name: str, rtype: str, set_id: str | None) -> int | None:
            for i, record in enumerate(records):
                if dns_name(record.name) == name and record.type == rtype and record.set_identifier == set_id:
                    return i
            return None

        for change in change_list:
            action = change.get("Action")
            if action not in ("CREATE", "UPSERT", "DELETE"):
                raise InvalidActionValue(str(action))
            rrs = change["ResourceRecordSet"]
            validate_domain_name(rrs["Name"], code="InvalidChangeBatch")
            name = dns_name(rrs["Name"])
            rtype = rrs.get("Type")
            set_id = rrs.get("SetIdentifier")
            if name != zone_name and not name.endswith("." + zone_name):
                raise batch_error(f"RRSet with DNS name {name} is not permitted in zone {zone_name}")
            check_shape(action, name, rrs)
            at = index_of(name, rtype, set_id)
            if action == "DELETE":
                if at is None:
                    raise batch_error(f"Tried to delete resource record set {key_text(name, rtype, set_id)} but it was not found")
                if view_of_record(records[at]) != view_of_request(rrs):
                    raise batch_error(
                        f"Tried to delete resource record set {key_text(name, rtype, set_id)} but the values "
                        "provided do not match the current values"
                    )
                del records[at]
                continue
            if action == "CREATE" and at is not None:
                raise batch_error(f"Tried to create resource record set {key_text(name, rtype, set_id)} but it already exists")
            check_alias(self.account_id, rrs)
            record = stored(rrs, name)
            if at is None:
                records.append(record)
            else:
                records[at] = record
        zone.rrsets = records

    Route53Backend.change_resource_record_sets = change_resource_record_sets

    def change_resource_record_sets_response(self: Any) -> Any:
        zoneid = self._get_param("HostedZoneId")
        change_list = self._get_param("ChangeBatch.Changes") or []
        # moto's quota check: at most 1,000 ResourceRecord elements, UPSERT counted twice.
        count = 0
        for value in change_list:
            n = len(value["ResourceRecordSet"].get("ResourceRecords") or [])
            count += 2 * n if value["Action"] == "UPSERT" else n
        if count > 1000:
            raise InvalidChangeBatch()
        self.backend.change_resource_record_sets(zoneid, change_list)
        return ActionResult({"ChangeInfo": model.new_change(self._get_param("ChangeBatch.Comment"))})

    Route53.change_resource_record_sets = change_resource_record_sets_response

    # ---- changes ---------------------------------------------------------------------

    def with_new_change(original: Any) -> Any:
        def handler(self: Any) -> Any:
            answer = original(self)
            result = getattr(answer, "result", None)
            if isinstance(result, dict) and isinstance(result.get("ChangeInfo"), dict):
                result["ChangeInfo"] = model.new_change(result["ChangeInfo"].get("Comment"))
            return answer

        return handler

    for name in ("create_hosted_zone", "delete_hosted_zone", "associate_vpc_with_hosted_zone", "disassociate_vpc_from_hosted_zone"):
        setattr(Route53, name, with_new_change(getattr(Route53, name)))

    def get_change(self: Any) -> Any:
        change_id = self._get_param("Id")
        info = model.read_change(change_id)
        if info is None:
            raise Route53ClientError("NoSuchChange", "A change with the specified change ID does not exist.")
        return ActionResult({"ChangeInfo": info})

    Route53.get_change = get_change


def install(state: Any) -> DnsNaclModel:
    """Patch moto's network ACLs, ELBv2 hosted zones and Route 53 as described above."""
    model = DnsNaclModel(state)
    install_nacls(model)
    install_elbv2()
    install_route53(model)
    return model
