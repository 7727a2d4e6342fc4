"""AWS wire details shared by the emulator and the fault proxy: the query
protocol's actions, Route 53's and S3's REST actions, and AWS error shapes.

Imported by ``launcher.py`` (the corrected moto server) and ``faultproxy.py``
(the fault-injecting proxy in front of it); both run as scripts from this
directory, so a plain ``import awswire`` finds it. Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
import threading
import uuid
from http import HTTPStatus
from typing import Any, Callable, Mapping, NamedTuple
from urllib.parse import parse_qs, unquote

# An action is a read (never changes state) when it starts with one of these;
# every other action is *mutating*. (Head and Select: S3's HeadObject,
# HeadBucket and SelectObjectContent; no other service has such actions.)
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Select")

# Route 53 speaks REST: its action is the method and the path
# (``POST /2013-04-01/hostedzone/Z1/rrset`` is ChangeResourceRecordSets).
_ROUTE53_ACTIONS = (
    ("GET", ("hostedzone",), "ListHostedZones"),
    ("POST", ("hostedzone",), "CreateHostedZone"),
    ("GET", ("hostedzone", "*"), "GetHostedZone"),
    ("DELETE", ("hostedzone", "*"), "DeleteHostedZone"),
    ("GET", ("hostedzone", "*", "rrset"), "ListResourceRecordSets"),
    ("POST", ("hostedzone", "*", "rrset"), "ChangeResourceRecordSets"),
    ("GET", ("change", "*"), "GetChange"),
    ("GET", ("hostedzonesbyname",), "ListHostedZonesByName"),
)


def rest_action(method: str, path: str) -> str | None:
    """The Route 53 action of a REST request (``/2013-04-01/...``), or None."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) < 2 or parts[0] != "2013-04-01":
        return None
    parts = parts[1:]
    for verb, shape, action in _ROUTE53_ACTIONS:
        if verb == method and len(shape) == len(parts) and all(s in ("*", p) for s, p in zip(shape, parts)):
            return action
    return None


# S3 speaks REST: the method, the path (``/bucket/key`` at a custom endpoint,
# path-style; or the bucket in a virtual-hosted Host) and the query string's
# subresource name the operation. Each entry: (method, level, subresource,
# API operation, IAM action); the first whose subresource is in the query wins,
# "" matches any request of that method and level. Level: "service" (no
# bucket), "bucket" (no key), "object". IAM actions from the Service
# Authorization Reference ("Actions defined by Amazon S3") and the S3 User
# Guide ("Required permissions for Amazon S3 API operations").
_S3_ACTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("GET", "service", "", "ListBuckets", "ListAllMyBuckets"),
    # buckets
    ("GET", "bucket", "list-type", "ListObjectsV2", "ListBucket"),
    ("GET", "bucket", "versions", "ListObjectVersions", "ListBucketVersions"),
    ("GET", "bucket", "uploads", "ListMultipartUploads", "ListBucketMultipartUploads"),
    ("GET", "bucket", "location", "GetBucketLocation", "GetBucketLocation"),
    ("GET", "bucket", "versioning", "GetBucketVersioning", "GetBucketVersioning"),
    ("GET", "bucket", "policy", "GetBucketPolicy", "GetBucketPolicy"),
    ("GET", "bucket", "policyStatus", "GetBucketPolicyStatus", "GetBucketPolicyStatus"),
    ("GET", "bucket", "tagging", "GetBucketTagging", "GetBucketTagging"),
    ("GET", "bucket", "acl", "GetBucketAcl", "GetBucketAcl"),
    ("GET", "bucket", "lifecycle", "GetBucketLifecycleConfiguration", "GetLifecycleConfiguration"),
    ("GET", "bucket", "encryption", "GetBucketEncryption", "GetEncryptionConfiguration"),
    ("GET", "bucket", "cors", "GetBucketCors", "GetBucketCORS"),
    ("GET", "bucket", "object-lock", "GetObjectLockConfiguration", "GetBucketObjectLockConfiguration"),
    ("GET", "bucket", "publicAccessBlock", "GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
    ("GET", "bucket", "ownershipControls", "GetBucketOwnershipControls", "GetBucketOwnershipControls"),
    ("GET", "bucket", "notification", "GetBucketNotificationConfiguration", "GetBucketNotification"),
    ("GET", "bucket", "logging", "GetBucketLogging", "GetBucketLogging"),
    ("GET", "bucket", "website", "GetBucketWebsite", "GetBucketWebsite"),
    ("GET", "bucket", "replication", "GetBucketReplication", "GetReplicationConfiguration"),
    ("GET", "bucket", "", "ListObjects", "ListBucket"),
    ("HEAD", "bucket", "", "HeadBucket", "ListBucket"),
    ("PUT", "bucket", "versioning", "PutBucketVersioning", "PutBucketVersioning"),
    ("PUT", "bucket", "policy", "PutBucketPolicy", "PutBucketPolicy"),
    ("PUT", "bucket", "tagging", "PutBucketTagging", "PutBucketTagging"),
    ("PUT", "bucket", "acl", "PutBucketAcl", "PutBucketAcl"),
    ("PUT", "bucket", "lifecycle", "PutBucketLifecycleConfiguration", "PutLifecycleConfiguration"),
    ("PUT", "bucket", "encryption", "PutBucketEncryption", "PutEncryptionConfiguration"),
    ("PUT", "bucket", "cors", "PutBucketCors", "PutBucketCORS"),
    ("PUT", "bucket", "object-lock", "PutObjectLockConfiguration", "PutBucketObjectLockConfiguration"),
    ("PUT", "bucket", "publicAccessBlock", "PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("PUT", "bucket", "ownershipControls", "PutBucketOwnershipControls", "PutBucketOwnershipControls"),
    ("PUT", "bucket", "notification", "PutBucketNotificationConfiguration", "PutBucketNotification"),
    ("PUT", "bucket", "logging", "PutBucketLogging", "PutBucketLogging"),
    ("PUT", "bucket", "website", "PutBucketWebsite", "PutBucketWebsite"),
    ("PUT", "bucket", "replication", "PutBucketReplication", "PutReplicationConfiguration"),
    ("PUT", "bucket", "", "CreateBucket", "CreateBucket"),
    ("DELETE", "bucket", "policy", "DeleteBucketPolicy", "DeleteBucketPolicy"),
    ("DELETE", "bucket", "tagging", "DeleteBucketTagging", "PutBucketTagging"),
    ("DELETE", "bucket", "lifecycle", "DeleteBucketLifecycle", "PutLifecycleConfiguration"),
    ("DELETE", "bucket", "encryption", "DeleteBucketEncryption", "PutEncryptionConfiguration"),
    ("DELETE", "bucket", "cors", "DeleteBucketCors", "PutBucketCORS"),
    ("DELETE", "bucket", "publicAccessBlock", "DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("DELETE", "bucket", "ownershipControls", "DeleteBucketOwnershipControls", "PutBucketOwnershipControls"),
    ("DELETE", "bucket", "website", "DeleteBucketWebsite", "DeleteBucketWebsite"),
    ("DELETE", "bucket", "replication", "DeleteBucketReplication", "PutReplicationConfiguration"),
    ("DELETE", "bucket", "", "DeleteBucket", "DeleteBucket"),
    ("POST", "bucket", "delete", "DeleteObjects", "DeleteObject"),
    # objects
    ("GET", "object", "uploadId", "ListParts", "ListMultipartUploadParts"),
    ("GET", "object", "tagging", "GetObjectTagging", "GetObjectTagging"),
    ("GET", "object", "acl", "GetObjectAcl", "GetObjectAcl"),
    ("GET", "object", "attributes", "GetObjectAttributes", "GetObjectAttributes"),
    ("GET", "object", "retention", "GetObjectRetention", "GetObjectRetention"),
    ("GET", "object", "legal-hold", "GetObjectLegalHold", "GetObjectLegalHold"),
    ("GET", "object", "", "GetObject", "GetObject"),
    ("HEAD", "object", "", "HeadObject", "GetObject"),
    ("PUT", "object", "partNumber", "UploadPart", "PutObject"),
    ("PUT", "object", "tagging", "PutObjectTagging", "PutObjectTagging"),
    ("PUT", "object", "acl", "PutObjectAcl", "PutObjectAcl"),
    ("PUT", "object", "retention", "PutObjectRetention", "PutObjectRetention"),
    ("PUT", "object", "legal-hold", "PutObjectLegalHold", "PutObjectLegalHold"),
    ("PUT", "object", "", "PutObject", "PutObject"),
    ("DELETE", "object", "uploadId", "AbortMultipartUpload", "AbortMultipartUpload"),
    ("DELETE", "object", "tagging", "DeleteObjectTagging", "DeleteObjectTagging"),
    ("DELETE", "object", "", "DeleteObject", "DeleteObject"),
    ("POST", "object", "uploads", "CreateMultipartUpload", "PutObject"),
    ("POST", "object", "uploadId", "CompleteMultipartUpload", "PutObject"),
    ("POST", "object", "restore", "RestoreObject", "RestoreObject"),
    ("POST", "object", "select", "SelectObjectContent", "GetObject"),
)
# A versionId turns these into their *Version IAM actions.
_S3_VERSION_IAM = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion"}
# Writes that take If-None-Match / If-Match (conditional writes and deletes).
S3_CONDITIONAL_WRITES = ("PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject")
_S3_VIRTUAL_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.-]*[a-z0-9])\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?::\d+)?$", re.I
)
_S3_HOST = re.compile(r"(?:^|\.)s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?::\d+)?$", re.I)
_SCOPE = re.compile(r"Credential=[^/,\s&]+/[^/]+/[^/]+/([^/]+)/aws4_request")


class S3Call(NamedTuple):
    """One S3 REST request: its API operation, the IAM actions it needs
    (without ``s3:``), the bucket and key it names, whether it is a
    conditional write (If-None-Match or If-Match on PutObject, CopyObject,
    CompleteMultipartUpload; If-Match on DeleteObject)."""

    action: str | None
    iam_actions: tuple[str, ...]
    bucket: str | None
    key: str | None
    conditional: bool

    @property
    def resource(self) -> str:
        """The ARN an AccessDenied message names."""
        if self.bucket is None:
            return "*"
        return f"arn:aws:s3:::{self.bucket}" + (f"/{self.key}" if self.key is not None else "")


def signing_service(authorization: str, query: str = "") -> str | None:
    """The service of a SigV4 credential scope: the Authorization header's, or
    a presigned URL's ``X-Amz-Credential`` query parameter."""
    match = _SCOPE.search(authorization or "")
    if match is None and "X-Amz-Credential" in (query or ""):
        match = _SCOPE.search("Credential=" + parse_qs(query).get("X-Amz-Credential", [""])[0])
    return match.group(1) if match else None


def is_s3_host(host: str) -> bool:
    """Whether a Host header names S3 (``s3.amazonaws.com``, ``bucket.s3.REGION.amazonaws.com``, ...)."""
    return bool(_S3_HOST.search(host or ""))


def s3_call(method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None, host: str = "") -> S3Call:
    """Name an S3 REST request. ``path`` is the request path as sent
    (percent-encoded, without the query), ``headers`` any mapping with
    case-insensitive ``get`` (or a dict with canonical names)."""
    headers = headers or {}

    def header(name: str) -> str | None:
        value = headers.get(name)
        if value is None and isinstance(headers, dict):
            lower = name.lower()
            value = next((v for k, v in headers.items() if k.lower() == lower), None)
        return value

    method = method.upper()
    parts = (path or "/").split("?", 1)[0].lstrip("/").split("/", 1)
    virtual = _S3_VIRTUAL_HOST.match(host or "")
    if virtual:
        bucket: str | None = virtual.group("bucket")
        key = (path or "/").split("?", 1)[0].lstrip("/") or None
    else:
        bucket = parts[0] or None
        key = parts[1] if len(parts) > 1 and parts[1] != "" else None
    if key is not None:
        key = unquote(key)
    if bucket is not None:
        bucket = unquote(bucket)
    level = "service" if bucket is None else ("bucket" if key is None else "object")
    params = parse_qs(query or "", keep_blank_values=True)
    action = iam = None
    for verb, at, subresource, name, permission in _S3_ACTIONS:
        if verb == method and at == level and (subresource == "" or subresource in params):
            action, iam = name, permission
            break
    if action is not None and header("x-amz-copy-source"):
        if action == "UploadPart":
            action = "UploadPartCopy"
        elif action == "PutObject":
            action = "CopyObject"
    if action in _S3_VERSION_IAM and params.get("versionId", [""])[0]:
        iam = _S3_VERSION_IAM[action]
    conditional = action in S3_CONDITIONAL_WRITES and bool(
        header("If-Match") or (action != "DeleteObject" and header("If-None-Match"))
    )
    iam_actions: tuple[str, ...] = (iam,) if iam else ()
    if action == "DeleteObject" and header("If-Match"):
        # "To perform conditional deletes with the If-Match header ... you
        # must have the s3:DeleteObject and s3:GetObject permissions."
        iam_actions = (iam, "GetObject")  # type: ignore[assignment]
    return S3Call(action, iam_actions, bucket, key, conditional)


def is_mutating(action: str | None) -> bool:
    """True for an action that may change state (not Describe*, Get*, List*)."""
    return bool(action) and not action.startswith(READ_PREFIXES)


def xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def reason_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status ("Error" if unknown)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def aws_error(
    service: str, code: str, message: str, status: int, fields: Mapping[str, str] | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """An AWS error response as (status line, headers, body).

    ``service`` ``elasticloadbalancing`` gets ELBv2's ``<ErrorResponse>`` shape
    (``Type`` Sender below 500, Receiver from 500); ``ecs`` the JSON 1.1
    protocol's ``{"__type", "message"}``; ``s3`` S3's REST shape,
    ``<Error><Code/><Message/>...<RequestId/><HostId/></Error>`` (``fields``:
    further elements after Message, e.g. ``Condition``, ``Key``), with the
    ``x-amz-request-id`` and ``x-amz-id-2`` headers; anything else gets EC2's
    ``<Response><Errors>`` shape.
    """
    if service == "s3":
        return s3_error(code, message, status, fields)
    request_id = str(uuid.uuid4())
    if service == "ecs":
        data = json.dumps({"__type": code, "message": message}).encode("utf-8")
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", request_id),
        ]
        return f"{status} {reason_phrase(status)}", headers, data
    if service == "elasticloadbalancing":
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
            f"<Error><Type>{kind}</Type><Code>{xml_escape(code)}</Code>"
            f"<Message>{xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    else:  # EC2's error format
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Errors><Error><Code>{xml_escape(code)}</Code>"
            f"<Message>{xml_escape(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    data = body.encode("utf-8")
    headers = [
        ("Content-Type", "text/xml"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", request_id),
    ]
    return f"{status} {reason_phrase(status)}", headers, data


def s3_error(
    code: str, message: str, status: int, fields: Mapping[str, str] | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """An S3 error response (REST XML) as (status line, headers, body)."""
    request_id = uuid.uuid4().hex[:16].upper()
    host_id = base64.b64encode(os.urandom(48)).decode("ascii")
    extra = "".join(f"<{name}>{xml_escape(str(value))}</{name}>" for name, value in (fields or {}).items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
    )
    data = body.encode("utf-8")
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(data))),
        ("x-amz-request-id", request_id),
        ("x-amz-id-2", host_id),
    ]
    return f"{status} {reason_phrase(status)}", headers, data


def serve_until_signal(server: Any, name: str, ready_line: str, on_stop: Callable[[], None]) -> int:
    """Serve ``server`` (already bound and listening) on a thread, print the one
    ``ready_line`` on stdout, and run until SIGTERM or SIGINT; then ``on_stop``
    (release a held call) and shut down. Returns the exit code, 0."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    serving = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    serving.start()
    sys.stdout.write(ready_line + "\n")
    sys.stdout.flush()
    sys.stdout = sys.stderr  # keep the promise of exactly one stdout line

    while not stop.wait(0.2):
        pass
    on_stop()
    server.shutdown()
    server.server_close()
    return 0
