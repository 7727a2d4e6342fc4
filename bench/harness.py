"""Processes and control APIs the benchmark drives: emulator, fault proxy, gunicorn, dualstack.

* The emulator is ``tests/emulator/launcher.py --port 0`` (moto corrected to
  AWS's IPv6 behaviour); the fault proxy ``tests/emulator/faultproxy.py
  --upstream URL --port 0 --latency-ms N --verbose`` sits in front of it and
  adds N ms to every AWS call, standing in for the network to a real region.
  Each prints exactly one line ending in its URL; we read that line and never
  read stdout again.
* For the time-to-IPv4 runs a `Relay` (a small HTTP relay in this process)
  sits between the tool and the proxy and stamps every AWS call: when the
  request arrived, when the proxy's answer came back, when it was written to
  the tool. The intervals tell how much of a stretch of the tool's run was
  spent waiting on AWS (proxy latency plus emulator), the rest being the
  tool's own time; the relay's own cost is reported separately.
* The emulator serves S3 too: ``Emulator.create_bucket`` makes the bucket for
  ``--state s3://...`` straight at the emulator (path-style addressing), and
  ``Emulator.s3_keys`` lists what the tool wrote; neither goes through the
  proxy, so neither is counted.
* Every process is started in its own session and stopped by its own pid
  (SIGTERM to its process group, then SIGKILL), at exit too.
"""

from __future__ import annotations

import atexit
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
REGION = "ap-northeast-1"

_started: list[subprocess.Popen] = []


def stop(p: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop a process this module started (and its own children), by its pid."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if p in _started:
        _started.remove(p)


@atexit.register
def stop_all() -> None:
    for p in list(reversed(_started)):
        stop(p)


def _spawn(argv: list[str], **kw) -> subprocess.Popen:
    p = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kw)
    _started.append(p)
    return p


def _ready_line(p: subprocess.Popen, what: str) -> str:
    line = p.stdout.readline().decode().strip()
    url = line.rsplit(" ", 1)[-1]
    if not url.startswith("http://"):
        stop(p)
        raise RuntimeError(f"{what} did not start: {line!r}")
    return url


def control(url: str, method: str, path: str, body: dict | None = None) -> dict:
    """A JSON call to the launcher's or the proxy's control API."""
    data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
    return json.loads(text) if text else {}


class Emulator:
    def __init__(self, log: Path):
        self.log = open(log, "wb")
        self.proc = _spawn([str(PY), str(ROOT / "tests/emulator/launcher.py"), "--port", "0"], stdout=subprocess.PIPE, stderr=self.log)
        self.url = _ready_line(self.proc, "the emulator")

    def reset(self) -> None:
        control(self.url, "POST", "/_emulator/reset")

    def seed_cutover(self) -> dict:
        """The incident's topology with its load balancer (tests/fixtures/topology.py)."""
        out = subprocess.run(
            [str(PY), str(ROOT / "tests/fixtures/topology.py"), self.url, "--region", REGION, "--load-balancer"],
            capture_output=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"topology.py failed: {out.stderr.decode()}")
        return json.loads(out.stdout)

    def s3(self):
        """A boto3 S3 client straight to the emulator (path-style, as the tool addresses a custom endpoint)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION, aws_access_key_id="testing",
                            aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}))

    def create_bucket(self, bucket: str) -> None:
        """The bucket for S3 state (gone at every reset), created straight at the emulator: never counted."""
        s3 = self.s3()
        try:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass

    def s3_keys(self, bucket: str, prefix: str) -> list[str]:
        s3 = self.s3()
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def target_health(self, group: str, state: str) -> None:
        control(self.url, "POST", "/_emulator/target-health", {"target_group": group, "target": "*", "state": state})

    def close(self) -> None:
        stop(self.proc)
        self.log.close()


class Proxy:
    def __init__(self, upstream: str, latency_ms: float, log: Path):
        self.log = open(log, "wb")
        self.proc = _spawn(
            [str(PY), str(ROOT / "tests/emulator/faultproxy.py"), "--upstream", upstream, "--port", "0",
             "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.url = _ready_line(self.proc, "the fault proxy")

    def clear(self) -> None:
        control(self.url, "POST", "/_proxy/calls/clear")

    def stats(self) -> dict:
        return control(self.url, "GET", "/_proxy/stats")

    def hold(self, k: int, when: str = "after") -> None:
        control(self.url, "POST", "/_proxy/hold", {"mutation": k, "when": when})

    def held(self) -> bool:
        return bool(control(self.url, "GET", "/_proxy/hold").get("held"))

    def release(self) -> None:
        control(self.url, "POST", "/_proxy/release")

    def close(self) -> None:
        stop(self.proc)
        self.log.close()


def is_mutating(action: str) -> bool:
    """The fault proxy's rule (tests/emulator/faultproxy.py): mutating unless a Describe, Get, List, Head or Select."""
    name = action.split(":", 1)[-1]
    return not name.startswith(("Describe", "Get", "List", "Head", "Select"))


_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "expect"}


class Relay:
    """A stamping HTTP relay in front of the fault proxy (in this process).

    For each call it records when the request had been read (``t_in``), when it
    was sent on to the proxy and its answer received (``up0``, ``up1``), and
    when the answer had been written back (``t_out``). ``[t_in, t_out]`` is
    time the client spent waiting on the call; ``[up0, up1]`` is the proxy's
    and emulator's share (added latency plus emulation); the difference is the
    relay's own cost, reported so that it can be subtracted.
    """

    def __init__(self, upstream: str):
        u = urllib.parse.urlsplit(upstream)
        host, port = u.hostname, u.port
        calls = self.calls = []
        lock = self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per call

            def log_message(self, *a):  # quiet
                pass

            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                t_in = time.time()
                for attempt in (1, 2):
                    conn = getattr(self, "up", None)
                    if conn is None:
                        conn = self.up = http.client.HTTPConnection(host, port, timeout=600)
                    reused = conn.sock is not None
                    try:
                        if conn.sock is None:
                            conn.connect()
                            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        up0 = time.time()
                        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                        for k, v in self.headers.items():
                            if k.lower() not in _HOP:
                                conn.putheader(k, v)
                        conn.putheader("Content-Length", str(len(body)))
                        conn.endheaders(body)
                        resp = conn.getresponse()
                        data = resp.read()
                        up1 = time.time()
                        break
                    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                        conn.close()
                        self.up = None
                        if not reused or attempt == 2:
                            raise
                head = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n"]
                head += [f"{k}: {v}\r\n" for k, v in resp.getheaders() if k.lower() not in _HOP]
                head.append(f"Content-Length: {len(data)}\r\n\r\n")
                self.wfile.write("".join(head).encode("latin-1") + data)  # one write: no Nagle stall
                self.wfile.flush()
                t_out = time.time()
                with lock:
                    calls.append((t_in, up0, up1, t_out))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()

    def timeline(self) -> "Timeline":
        with self.lock:
            return Timeline(list(self.calls))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _union(intervals: list[tuple[float, float]], t0: float, t1: float) -> float:
    """Length of the union of the intervals, clipped to [t0, t1]."""
    total, end = 0.0, t0
    for a, b in sorted((max(a, t0), min(b, t1)) for a, b in intervals):
        if b <= a:
            continue
        if a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


class Timeline:
    """AWS calls as the relay saw them."""

    def __init__(self, calls: list[tuple[float, float, float, float]]):
        self.calls = calls

    def within(self, t0: float, t1: float) -> dict:
        """Seconds in [t0, t1] the client waited on a call, of which the proxy and emulator's; calls started."""
        waited = _union([(c[0], c[3]) for c in self.calls], t0, t1)
        aws = _union([(c[1], c[2]) for c in self.calls], t0, t1)
        started = sum(1 for c in self.calls if t0 <= c[0] <= t1)
        return {"waited": waited, "aws": aws, "relay": max(0.0, waited - aws), "calls": started}


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::", 0))
        return s.getsockname()[1]


class App:
    """gunicorn serving tests/fixtures/app.py on `host` (`[::]` or `0.0.0.0`), as tests/support/mod.rs starts it."""

    def __init__(self, host: str):
        self.port = free_port()
        self.proc = _spawn(
            [str(GUNICORN), "--bind", f"{host}:{self.port}", "--workers", "1", "--chdir", str(ROOT / "tests/fixtures"), "app:app"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn on {host} exited with {self.proc.returncode}")
            for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                try:
                    with socket.socket(family, socket.SOCK_STREAM) as s:
                        s.settimeout(0.5)
                        s.connect((addr, self.port))
                        return
                except OSError:
                    pass
            if time.time() > deadline:
                raise RuntimeError(f"gunicorn on {host}:{self.port} never listened")
            time.sleep(0.05)

    def close(self) -> None:
        stop(self.proc)


def tool_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "DUALSTACK_LOG"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true", AWS_REGION=REGION)
    return env


class Result:
    def __init__(self, argv, rc, wall, stdout: Path, stderr: Path, timed_out=False, spawned_at=0.0):
        self.argv, self.rc, self.wall, self.stdout_path, self.stderr_path, self.timed_out = argv, rc, wall, stdout, stderr, timed_out
        self.spawned_at = spawned_at  # wall clock (time.time()) just before the process was started

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")


def run(argv: list[str], out_prefix: Path, env: dict | None = None, timeout: float | None = None, cwd: Path | None = None) -> Result:
    """Run to completion (output to files, never a pipe), timing the wall clock."""
    so, se = out_prefix.with_suffix(".stdout"), out_prefix.with_suffix(".stderr")
    with open(so, "wb") as o, open(se, "wb") as e:
        spawned_at = time.time()
        t0 = time.perf_counter()
        p = _spawn(argv, stdout=o, stderr=e, env=env, cwd=cwd)
        try:
            rc = p.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            stop(p, timeout=30)  # SIGTERM first: dualstack pauses cleanly (exit 4)
            rc, timed_out = p.returncode, True
        wall = time.perf_counter() - t0
    if p in _started:
        _started.remove(p)
    return Result(argv, rc, wall, so, se, timed_out, spawned_at)


def spawn(argv: list[str], out_prefix: Path, env: dict | None = None) -> subprocess.Popen:
    """Start in the background (output to files)."""
    so, se = out_prefix.with_suffix(".stdout"), out_prefix.with_suffix(".stderr")
    return _spawn(argv, stdout=open(so, "wb"), stderr=open(se, "wb"), env=env)


def journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ts(record: dict) -> float:
    """A journal line's `at` as seconds since the epoch."""
    from datetime import datetime

    return datetime.fromisoformat(record["at"].replace("Z", "+00:00")).timestamp()
