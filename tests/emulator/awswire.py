"""AWS query-protocol wire details shared by the emulator and the fault proxy.

Imported by ``launcher.py`` (the corrected moto server) and ``faultproxy.py``
(the fault-injecting proxy in front of it); both run as scripts from this
directory, so a plain ``import awswire`` finds it. Standard library only.
"""

from __future__ import annotations

import signal
import sys
import threading
import json
import uuid
from http import HTTPStatus
from typing import Any, Callable

# An action is a read (never changes state) when it starts with one of these;
# every other action is *mutating*.
READ_PREFIXES = ("Describe", "Get", "List")

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


def aws_error(service: str, code: str, message: str, status: int) -> tuple[str, list[tuple[str, str]], bytes]:
    """An AWS error response as (status line, headers, body).

    ``service`` ``elasticloadbalancing`` gets ELBv2's ``<ErrorResponse>`` shape
    (``Type`` Sender below 500, Receiver from 500); ``ecs`` the JSON 1.1
    protocol's ``{"__type", "message"}``; anything else gets EC2's
    ``<Response><Errors>`` shape.
    """
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
