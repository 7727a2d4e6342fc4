"""Tests for correction o of the emulator launcher (S3 conditional writes;
launcher.py section o, s3_model.py), S3's classification and denials.

As in test_corrections.py, each departure is tested twice: against the
corrected launcher, asserting AWS's documented behaviour, and against the same
launcher with --pristine, asserting that plain moto departs from it. What moto
already gets right is checked on both (the ``either`` fixture). One corrected
and one pristine launcher run per module; every test starts from
POST /_emulator/reset.

The tool's S3 calls are path-style at the emulator's endpoint, so boto3 is
configured the same way (``addressing_style: path``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import urllib.error
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import awswire
from test_corrections import (  # the shared harness and its fixtures
    REGION,
    Emulator,
    aws,
    code_of,
    corrected_server,
    either,
    error_of,
    moto,
    pristine_server,
    status_of,
)

BUCKET = "dualstack-state"
PREFIX = "runs/prod-vpc"
RACERS = 32  # writers per key in the race tests
DELAY = 0.2  # seconds between moto's condition check and its write, in the races

_s3_clients: dict[str, Any] = {}


def s3(emu: Emulator) -> Any:
    """A path-style S3 client of the emulator, no SDK retries, enough connections to race."""
    if emu.url not in _s3_clients:
        _s3_clients[emu.url] = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=emu.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                max_pool_connections=RACERS + 4,
                read_timeout=30,
            ),
        )
    return _s3_clients[emu.url]


def md5_etag(body: bytes) -> str:
    return '"' + hashlib.md5(body).hexdigest() + '"'


def raw_error(client: Any, call: Callable[[], Any]) -> tuple[int, bytes, dict[str, str]]:
    """(status, raw body, headers) of a failing S3 call, as the wire carried
    them (header names lower case)."""
    seen: dict[str, Any] = {}

    def capture(http_response: Any, **_: Any) -> None:
        seen["status"] = http_response.status_code
        seen["body"] = http_response.content
        seen["headers"] = {k.lower(): v for k, v in http_response.headers.items()}

    client.meta.events.register("after-call", capture)
    try:
        with pytest.raises(ClientError):
            call()
    finally:
        client.meta.events.unregister("after-call", capture)
    return seen["status"], seen["body"], seen["headers"]


def bucket(emu: Emulator) -> Any:
    client = s3(emu)
    client.create_bucket(Bucket=BUCKET)
    return client


def set_delay(emu: Emulator, seconds: float) -> None:
    assert emu.control("POST", "s3-config", {"conditional_write_delay_seconds": seconds}) == {
        "conditional_write_delay_seconds": seconds
    }


def race(client: Any, writers: list[Callable[[], Any]]) -> list[int]:
    """Start every writer at once (a barrier); the HTTP status each got."""
    barrier = threading.Barrier(len(writers))
    statuses: list[int] = [0] * len(writers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            writers[i]()
            statuses[i] = 200
        except ClientError as err:
            statuses[i] = status_of(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def race_creates(emu: Emulator, keys: int = 3) -> list[tuple[list[int], bytes]]:
    """RACERS writers PUT If-None-Match: * to each of `keys` keys; per key, the
    statuses and the body that stayed."""
    client = bucket(emu)
    set_delay(emu, DELAY)
    results = []
    for k in range(keys):
        key = f"{PREFIX}/journal/{k + 1:020d}.json"

        def writer(i: int) -> Callable[[], Any]:
            return lambda: client.put_object(Bucket=BUCKET, Key=key, Body=f'{{"writer": {i}}}'.encode(), IfNoneMatch="*")

        statuses = race(client, [writer(i) for i in range(RACERS)])
        results.append((statuses, client.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    return results


# ---------------------------------------------------------------------------
# Classification (pure)
# ---------------------------------------------------------------------------


def test_s3_calls_are_named_by_method_path_and_query() -> None:
    call = awswire.s3_call
    journal = f"/{BUCKET}/{PREFIX}/journal/00000000000000000001.json"
    put = call("PUT", journal, "", {"If-None-Match": "*"})
    assert put == awswire.S3Call("PutObject", ("PutObject",), BUCKET, journal.split("/", 2)[2], True)
    assert put.resource == f"arn:aws:s3:::{BUCKET}/{PREFIX}/journal/00000000000000000001.json"
    assert call("PUT", journal, "").conditional is False
    assert call("GET", journal, "")[:2] == ("GetObject", ("GetObject",))
    assert call("HEAD", journal, "")[:2] == ("HeadObject", ("GetObject",))
    assert call("DELETE", f"/{BUCKET}/{PREFIX}/lock.json", "", {"If-Match": '"e"'})[:2] == (
        "DeleteObject",
        ("DeleteObject", "GetObject"),
    )
    assert call("DELETE", f"/{BUCKET}/k", "")[:2] == ("DeleteObject", ("DeleteObject",))
    assert call("GET", f"/{BUCKET}", "list-type=2&prefix=runs%2F")[:2] == ("ListObjectsV2", ("ListBucket",))
    assert call("GET", f"/{BUCKET}/", "")[:2] == ("ListObjects", ("ListBucket",))
    assert call("PUT", f"/{BUCKET}", "")[:2] == ("CreateBucket", ("CreateBucket",))
    assert call("HEAD", f"/{BUCKET}", "")[:2] == ("HeadBucket", ("ListBucket",))
    assert call("DELETE", f"/{BUCKET}", "").action == "DeleteBucket"
    assert call("GET", "/", "").action == "ListBuckets"
    assert call("PUT", f"/{BUCKET}", "versioning").action == "PutBucketVersioning"
    assert call("GET", f"/{BUCKET}", "location").action == "GetBucketLocation"
    assert call("POST", f"/{BUCKET}", "delete").action == "DeleteObjects"
    assert call("PUT", f"/{BUCKET}/k", "", {"x-amz-copy-source": "/a/b"}).action == "CopyObject"
    assert call("POST", f"/{BUCKET}/k", "uploads").action == "CreateMultipartUpload"
    assert call("PUT", f"/{BUCKET}/k", "partNumber=1&uploadId=u").action == "UploadPart"
    assert call("POST", f"/{BUCKET}/k", "uploadId=u").action == "CompleteMultipartUpload"
    assert call("GET", f"/{BUCKET}/k", "versionId=v1").iam_actions == ("GetObjectVersion",)
    assert call("GET", "/a%20b", "", {}, f"{BUCKET}.s3.us-east-1.amazonaws.com")[2:4] == (BUCKET, "a b")
    for action, mutating in (("PutObject", True), ("DeleteObject", True), ("CreateBucket", True),
                             ("GetObject", False), ("HeadObject", False), ("ListObjectsV2", False)):
        assert awswire.is_mutating(action) is mutating, action
    scope = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"
    assert awswire.signing_service(scope) == "s3"
    assert awswire.signing_service("", "X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request") == "s3"


# ---------------------------------------------------------------------------
# Reachability and what moto already gets right (both modes)
# ---------------------------------------------------------------------------


def test_s3_is_served_path_style_and_logged(either: Emulator) -> None:
    client = s3(either)
    assert client.create_bucket(Bucket=BUCKET)["Location"] == f"/{BUCKET}"
    client.create_bucket(Bucket=BUCKET)  # us-east-1: idempotent for its owner, as on AWS
    key = f"{PREFIX}/journal/00000000000000000001.json"
    body = b'{"step": "vpc", "state": "applied"}'
    put = client.put_object(Bucket=BUCKET, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
    assert put["ETag"] == md5_etag(body)
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    assert client.head_object(Bucket=BUCKET, Key=key)["ETag"] == md5_etag(body)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/journal/")
    assert [(o["Key"], o["ETag"]) for o in listed["Contents"]] == [(key, md5_etag(body))]
    client.delete_object(Bucket=BUCKET, Key=key)
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["KeyCount"] == 0  # strongly consistent
    calls = [(c["service"], c["action"], c["mutating"], c["status"]) for c in either.control("GET", "calls")["calls"]]
    assert calls == [
        ("s3", "CreateBucket", True, 200),
        ("s3", "CreateBucket", True, 200),
        ("s3", "PutObject", True, 200),
        ("s3", "GetObject", False, 200),
        ("s3", "HeadObject", False, 200),
        ("s3", "ListObjectsV2", False, 200),
        ("s3", "DeleteObject", True, 204),
        ("s3", "ListObjectsV2", False, 200),
    ]


def test_plain_put_etag_is_the_md5_of_the_body(either: Emulator) -> None:
    client = bucket(either)
    lease = b'{"holder": "run-1", "expires": 1700000000}'
    first = client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/lock.json", Body=lease)["ETag"]
    assert first == md5_etag(lease)
    # A renewal that rewrites the same body keeps the ETag.
    again = client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/lock.json", Body=lease, IfMatch=first)["ETag"]
    assert again == first


def test_conditional_status_codes_moto_gets_right(either: Emulator) -> None:
    client = bucket(either)
    lock = f"{PREFIX}/lock.json"
    etag = client.put_object(Bucket=BUCKET, Key=lock, Body=b"lease-1", IfNoneMatch="*")["ETag"]

    err = error_of(client.put_object, Bucket=BUCKET, Key=lock, Body=b"lease-2", IfNoneMatch="*")
    assert (code_of(err), status_of(err)) == ("PreconditionFailed", 412)
    assert err.response["Error"]["Condition"] == "If-None-Match"
    for call in (client.put_object, client.delete_object):
        extra = {"Body": b"x"} if call is client.put_object else {}
        err = error_of(call, Bucket=BUCKET, Key=f"{PREFIX}/missing.json", IfMatch=etag, **extra)
        assert (code_of(err), status_of(err)) == ("NoSuchKey", 404), call
        err = error_of(call, Bucket=BUCKET, Key=lock, IfMatch='"0123456789abcdef0123456789abcdef"', **extra)
        assert (code_of(err), status_of(err)) == ("PreconditionFailed", 412), call
        assert err.response["Error"]["Condition"] == "If-Match"
    assert client.get_object(Bucket=BUCKET, Key=lock)["Body"].read() == b"lease-1"  # nothing written

    renewed = client.put_object(Bucket=BUCKET, Key=lock, Body=b"lease-2", IfMatch=etag.strip('"'))["ETag"]  # quotes optional
    assert renewed == md5_etag(b"lease-2")
    deleted = client.delete_object(Bucket=BUCKET, Key=lock, IfMatch=renewed)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    err = error_of(client.delete_object, Bucket=BUCKET, Key=lock, IfMatch=renewed)  # a deleted object
    assert (code_of(err), status_of(err)) == ("NoSuchKey", 404)
    client.put_object(Bucket=BUCKET, Key=lock, Body=b"lease-3", IfNoneMatch="*")  # free again


# ---------------------------------------------------------------------------
# o. Atomic conditional writes
# ---------------------------------------------------------------------------


def test_racing_creates_exactly_one_wins(aws: Emulator) -> None:
    for statuses, stored in race_creates(aws):
        assert sorted(statuses) == [200] + [412] * (RACERS - 1), statuses
        winner = statuses.index(200)
        assert stored == f'{{"writer": {winner}}}'.encode()  # the winner's body stayed


def test_pristine_racing_creates_all_win(moto: Emulator) -> None:
    # moto checks, then writes: every writer that checked before the first
    # write landed gets 200 (with the delay: all of them), the last body stays.
    for statuses, _ in race_creates(moto):
        assert statuses.count(200) > 1, statuses


def race_renewals(emu: Emulator) -> tuple[list[int], bytes]:
    """16 holders renew the lock with the same If-Match ETag and their own body."""
    client = bucket(emu)
    lock = f"{PREFIX}/lock.json"
    etag = client.put_object(Bucket=BUCKET, Key=lock, Body=b'{"holder": "old"}', IfNoneMatch="*")["ETag"]
    set_delay(emu, DELAY)

    def writer(i: int) -> Callable[[], Any]:
        return lambda: client.put_object(Bucket=BUCKET, Key=lock, Body=f'{{"holder": {i}}}'.encode(), IfMatch=etag)

    statuses = race(client, [writer(i) for i in range(16)])
    return statuses, client.get_object(Bucket=BUCKET, Key=lock)["Body"].read()


def test_racing_takeovers_exactly_one_wins(aws: Emulator) -> None:
    statuses, stored = race_renewals(aws)
    assert sorted(statuses) == [200] + [412] * 15, statuses
    assert stored == f'{{"holder": {statuses.index(200)}}}'.encode()


def test_pristine_racing_takeovers_all_win(moto: Emulator) -> None:
    statuses, _ = race_renewals(moto)
    assert statuses.count(200) > 1, statuses


def test_racing_release_and_renewal_one_wins(aws: Emulator) -> None:
    # A release (DeleteObject If-Match) and a renewal (PutObject If-Match) of
    # the same version: one of them, never both.
    client = bucket(aws)
    lock = f"{PREFIX}/lock.json"
    etag = client.put_object(Bucket=BUCKET, Key=lock, Body=b"v1", IfNoneMatch="*")["ETag"]
    set_delay(aws, DELAY)
    statuses = race(
        client,
        [
            lambda: client.delete_object(Bucket=BUCKET, Key=lock, IfMatch=etag),
            lambda: client.put_object(Bucket=BUCKET, Key=lock, Body=b"v2", IfMatch=etag),
        ],
    )
    assert sorted(statuses) in ([200, 404], [200, 412]), statuses


def test_delete_if_match_star(aws: Emulator) -> None:
    client = bucket(aws)
    client.put_object(Bucket=BUCKET, Key="exists.json", Body=b"x")
    assert client.delete_object(Bucket=BUCKET, Key="exists.json", IfMatch="*")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    err = error_of(client.delete_object, Bucket=BUCKET, Key="exists.json", IfMatch="*")
    assert (code_of(err), status_of(err)) == ("NoSuchKey", 404)


def test_pristine_delete_if_match_star_is_refused(moto: Emulator) -> None:
    client = bucket(moto)
    client.put_object(Bucket=BUCKET, Key="exists.json", Body=b"x")
    err = error_of(client.delete_object, Bucket=BUCKET, Key="exists.json", IfMatch="*")
    assert (code_of(err), status_of(err)) == ("PreconditionFailed", 412)  # moto compares "*" with the ETag
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_put_if_none_match_with_an_etag_is_not_implemented(aws: Emulator) -> None:
    client = bucket(aws)
    etag = client.put_object(Bucket=BUCKET, Key="k.json", Body=b"one")["ETag"]
    status, body, headers = raw_error(
        client, lambda: client.put_object(Bucket=BUCKET, Key="k.json", Body=b"two", IfNoneMatch=etag)
    )
    assert status == 501
    assert b"<Code>NotImplemented</Code>" in body and b"<Header>If-None-Match</Header>" in body
    assert headers["content-type"] == "application/xml"
    assert client.get_object(Bucket=BUCKET, Key="k.json")["Body"].read() == b"one"


def test_pristine_put_if_none_match_with_an_etag_overwrites(moto: Emulator) -> None:
    client = bucket(moto)
    etag = client.put_object(Bucket=BUCKET, Key="k.json", Body=b"one")["ETag"]
    client.put_object(Bucket=BUCKET, Key="k.json", Body=b"two", IfNoneMatch=etag)  # ignored: written
    assert client.get_object(Bucket=BUCKET, Key="k.json")["Body"].read() == b"two"


# ---------------------------------------------------------------------------
# Control API for S3: the write delay, denials, faults
# ---------------------------------------------------------------------------


def test_s3_config_endpoint(either: Emulator) -> None:
    assert either.control("GET", "s3-config") == {"conditional_write_delay_seconds": 0.0}
    for bad in ({"conditional_write_delay_seconds": -1}, {"conditional_write_delay_seconds": "1"},
                {"conditional_write_delay_seconds": 31}, {"write_delay": 1}):
        with pytest.raises(urllib.error.HTTPError) as info:
            either.control("POST", "s3-config", bad)
        assert info.value.code == 400, bad
    set_delay(either, 0.05)
    either.control("POST", "reset")
    assert either.control("GET", "s3-config") == {"conditional_write_delay_seconds": 0.0}


def test_s3_denials(either: Emulator) -> None:
    client = bucket(either)
    journal = f"{PREFIX}/journal/00000000000000000001.json"
    etag = client.put_object(Bucket=BUCKET, Key=journal, Body=b"{}")["ETag"]
    either.control("POST", "calls/clear")
    assert either.control("POST", "deny", {"actions": ["s3:PutObject"]}) == {"actions": ["s3:PutObject"]}

    status, body, headers = raw_error(
        client, lambda: client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/lock.json", Body=b"l", IfNoneMatch="*")
    )
    assert status == 403
    assert headers["content-type"] == "application/xml" and "x-amz-request-id" in headers
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>')
    assert (
        b"User: arn:aws:iam::123456789012:user/test is not authorized to perform: s3:PutObject on resource: "
        b"&quot;arn:aws:s3:::dualstack-state/runs/prod-vpc/lock.json&quot; because no identity-based policy "
        b"allows the s3:PutObject action</Message>"
    ) in body
    assert b"<RequestId>" in body and b"<HostId>" in body
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/lock")["KeyCount"] == 0  # not applied

    either.control("POST", "deny", {"actions": ["s3:GetObject", "s3:ListBucket", "s3:DeleteObject"]})
    for call, kwargs in (
        (client.get_object, {"Key": journal}),
        (client.list_objects_v2, {"Prefix": PREFIX}),
        (client.delete_object, {"Key": journal}),
    ):
        err = error_of(call, Bucket=BUCKET, **kwargs)
        assert (code_of(err), status_of(err)) == ("AccessDenied", 403), call
    err = error_of(client.head_object, Bucket=BUCKET, Key=journal)  # HEAD: no body, the status says it
    assert status_of(err) == 403

    # A conditional delete needs s3:GetObject too (S3 User Guide).
    either.control("POST", "deny/clear")
    either.control("POST", "deny", {"actions": ["s3:Get*"]})
    client.list_objects_v2(Bucket=BUCKET)  # s3:ListBucket is allowed again
    err = error_of(client.delete_object, Bucket=BUCKET, Key=journal, IfMatch=etag)
    assert (code_of(err), status_of(err)) == ("AccessDenied", 403)
    assert "s3:GetObject" in err.response["Error"]["Message"]
    either.control("POST", "deny/clear")
    client.delete_object(Bucket=BUCKET, Key=journal, IfMatch=etag)

    calls = [(c["action"], c["mutating"], c["status"], c.get("denied")) for c in either.control("GET", "calls")["calls"]]
    assert calls == [
        ("PutObject", False, 403, True),
        ("ListObjectsV2", False, 200, None),
        ("GetObject", False, 403, True),
        ("ListObjectsV2", False, 403, True),
        ("DeleteObject", False, 403, True),
        ("HeadObject", False, 403, True),
        ("ListObjectsV2", False, 200, None),
        ("DeleteObject", False, 403, True),
        ("DeleteObject", True, 204, None),
    ]


def test_s3_faults_answer_in_s3_shape(aws: Emulator) -> None:
    client = bucket(aws)
    aws.control("POST", "faults", {"action": "PutObject", "service": "s3", "code": "ConditionalRequestConflict",
                                   "message": "A conflicting conditional operation is currently in progress "
                                   "against this resource. Please try again."})
    status, body, _ = raw_error(
        client, lambda: client.put_object(Bucket=BUCKET, Key="j.json", Body=b"x", IfNoneMatch="*")
    )
    assert status == 409 and b"<Error><Code>ConditionalRequestConflict</Code>" in body
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0  # not applied
    client.put_object(Bucket=BUCKET, Key="j.json", Body=b"x", IfNoneMatch="*")  # the retry succeeds


class InProcess:
    """moto's WSGI app behind the control middleware in this process, with
    ``pristine`` state (so no moto lock: requests reach moto concurrently)
    and only correction o and the write delay installed."""

    def __init__(self) -> None:
        from werkzeug.serving import make_server

        import launcher
        import s3_model
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log
        self.state = launcher.EmulatorState(associating_reads=1, pristine=True)
        s3_model.install(self.state.s3)
        s3_model.install_instrument(self.state.s3)
        app = launcher.ControlMiddleware(DomainDispatcherApplication(create_backend_app), self.state)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    control = Emulator.control

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_key_lock_alone_closes_the_race() -> None:
    # The corrected launcher also serializes every request (its moto lock,
    # correction m); correction o must not depend on it. This process's moto
    # is patched with correction o only, in front of no moto lock.
    emu = InProcess()
    try:
        for statuses, stored in race_creates(emu, keys=2):  # type: ignore[arg-type]
            assert sorted(statuses) == [200] + [412] * (RACERS - 1), statuses
            assert stored == f'{{"writer": {statuses.index(200)}}}'.encode()
    finally:
        emu.stop()
