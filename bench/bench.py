#!/usr/bin/env python3
"""dualstack benchmark: the tool against the emulator behind a fixed network delay.

Run it with ``bench/run`` (which makes sure the two virtualenvs exist); it
needs the built binary ``target/debug/dualstack`` (or ``DUALSTACK_BIN``) and
builds nothing.

Set-up. The emulator (``tests/emulator/launcher.py``, moto corrected to AWS's
IPv6 behaviour) runs on loopback behind the fault proxy
(``tests/emulator/faultproxy.py --latency-ms N``, default 30 ms): every AWS
call, the tool's and the AWS CLI's, pays N ms, a stand-in for the network to a
real region. Call counts come from the proxy (``GET /_proxy/stats``, cleared
before each measured run). Between runs the emulator is reset
(``POST /_emulator/reset``) and re-seeded; seeding is never timed into a
figure. The application is gunicorn serving ``tests/fixtures/app.py``, bound
to ``[::]`` (answers over IPv6) or ``0.0.0.0`` (IPv4 only: the incident).
Every run gets its own folder (runbook, state directory, outputs) under a
temporary work directory (kept with ``--keep``).

What is measured:

1. Incident cutover, tool vs. script. ``dualstack apply --yes`` of
   ``runbooks/incident-cutover.yaml`` (its ``site-v6`` check pointed at
   gunicorn on ``[::]``; gates ``interval: 200ms, healthy_threshold: 1``)
   against ``bench/incident-awscli.sh``, the same migration written by hand
   with the AWS CLI (``bench/.venv``, pinned in ``bench/requirements.txt``),
   with the same gates, on the same emulator and proxy. Wall time, AWS calls,
   mutating calls, and script/tool ratios (medians over ``--cutover-runs``).
   The script is verified, not trusted: after every run the state is read
   with boto3 (``bench/fingerprint.py``) and the script's end state must equal
   the tool's (and differ from the start). The tool must make no more AWS
   calls than the script (a check, in the smoke run too), counted like for
   like: the run's marker on its VPC (src/engine/marker.rs; the script has
   none) is left out of the tool's count. The tool calls ``ec2:DescribeTags``,
   ``ec2:CreateTags`` and ``ec2:DeleteTags`` only for the marker (src/aws/ec2.rs),
   and a completed run must make exactly 2, 1 and 1 of them (a check) and
   leave no ``dualstack:*`` tag on the VPC. The marker's calls and the settle
   delay (``DUALSTACK_MARKER_SETTLE``, default 2 s, kept in the measured runs:
   it is what users get) are reported apart: the delay's share of the tool's
   wall time, the journal's ``mark_intent`` -> ``mark_done`` intervals, and a
   wall time and script/tool ratio computed without the delay (wall minus the
   delay, one sleep; labelled computed, not measured). Ratios of calls are
   like for like; the tool's totals with the marker are given too.
2. Shared state on S3, ``--runs`` times each, paired (which goes first
   alternates): the incident cutover (as 1.) with ``--state
   s3://bench-state/<unique prefix>`` against the same with ``--state-dir``.
   The bucket is created with boto3 straight at the emulator after each reset
   (not counted); the tool's S3 calls go to the same ``--endpoint-url``, so
   through the proxy and its latency, named ``s3:PutObject`` etc. in
   ``by_action``. Wall time, EC2/ELBv2 calls and mutating calls (everything
   but ``s3:*``), S3 calls by action, journal records written (objects under
   ``PREFIX/redash-cutover/journal/``; lines of the local journal), and what
   the S3 journal adds: (median wall on S3 - median wall on local state) per
   EC2/ELBv2 mutating call (the marker's two writes included: they are
   journaled like a change) and per journal record. Checks: both end in the
   end state of 1. (else of the local-state run), the lock object is gone,
   the marker is removed.
3. Large VPC (``bench/large_vpc.py``): seeded with boto3 straight to the
   emulator (seeding time reported apart), the generated runbook validated
   with ``dualstack validate``, then ``dualstack plan`` through the proxy:
   wall time, peak RSS (``/usr/bin/time -v``, else ``getrusage`` of a child),
   AWS calls, calls per resource (subnets + route tables + groups + load
   balancers + target groups), and no mutating call. With ``--large-apply``
   (default in the full run) also ``dualstack apply --yes`` (its mutating calls
   must be the plan's "N mutating API calls, and 2 for the run's marker")
   within a 10-minute limit (``--large-apply-limit``); past it the tool is stopped with SIGTERM
   and how far it got, step kind by step kind, is reported. An Amazon /56
   holds 256 /64s, so of 300 subnets only 255 get ``index`` 1..255; the
   runbook with ``index`` 1..300 is generated too and ``validate`` must
   refuse it (exit 2), which is recorded.
4. Time to IPv4, ``--runs`` times each:
   a. the incident: gunicorn on ``0.0.0.0``, the gate after the ALB step fails
      over IPv6 and the run rolls back (exit 3): from the first failed
      observation to the ALB back on ipv4 and to the last change undone;
   b. weights: the runbook with one target-group step per side, each gated on
      its own new group's target health (as tests/cutover.rs
      ``target_health_failing_at_the_50_percent_stage...``); a watcher makes
      ``redash-blue-v6`` unhealthy (``POST /_emulator/target-health``) as soon
      as the listener gives it weight > 0. From the journal
      (``<state>/redash-cutover.journal.jsonl``), exactly as ``time_to_ipv4``
      in tests/cutover.rs: first observation with ``ok: false`` to the last
      ``undo_done`` of a ``set_forward`` intent (listener and rule back on the
      IPv4 groups). Split into the gate confirming the failure (first failed
      observation to ``step_failed``) and the reaction (``step_failed`` to
      weights restored). For these runs the tool talks to the proxy through a
      stamping relay (``harness.Relay``): of the reaction, the time the tool
      waited on an AWS call is split into the proxy's and emulator's share and
      the relay's own (a fraction of a millisecond per call, reported); what
      is left, no call in flight, is the tool's own time.
   Every run must end in the starting state (fingerprint) with exit 3.
5. Resume overhead, ``--runs`` times: the proxy holds the tool's k-th
   mutating call (k = 1 + half the cutover's changes: the proxy counts the
   marker's ``CreateTags``, the first, too) after it is applied
   (``POST /_proxy/hold {"mutation": k, "when": "after"}``), the tool is
   SIGKILLed while held, the call released; then ``dualstack resume --yes``:
   from its journal ``started`` line to its next ``intent`` (settling the
   interrupted call and re-planning), and its wall time to completion. The end
   state must equal an uninterrupted run's. For scale, the same figures for a
   fresh ``apply`` are given, and both also from process start (the journal's
   ``started`` line of a fresh apply comes after its whole-plan preflight);
   a fresh apply's first change comes after its marker is set and read back
   (the settle delay), so its figures are also given without the marker's
   ``mark_intent`` -> ``mark_done`` interval (labelled).

Notes. The binary is copied into the work directory at the start and that
copy is what runs, so a rebuild during the benchmark cannot mix two builds.
The script sleeps ``--poll-seconds`` (1 s) between polls, what a person
writes; its gates use the tool's 200 ms interval. A large apply that does not
finish within its limit is reported, not counted as a failure; one that exits
non-zero is a failure (with its error). The machine is shared and timings are
noisy: every run's figures are in the JSON, the table shows medians and maxima.

Output: a table on stdout, and every figure with machine information and the
command line in ``bench/results/latest.json`` (``--smoke``:
``bench/results/smoke.json``). Exit status 0 only if every check passed: a
wrong script, an unexpected exit code, a state that differs, a missing figure
all exit 1 (the smoke run is meant for the test suite).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fingerprint as fp  # noqa: E402
import harness as h  # noqa: E402
import large_vpc  # noqa: E402

ROOT = h.ROOT
BENCH = h.BENCH
AWS_CLI = BENCH / ".venv" / "bin" / "aws"
SCRIPT = BENCH / "incident-awscli.sh"
JOURNAL = "redash-cutover.journal.jsonl"
RUNBOOK_NAME = "redash-cutover"
# The run's marker on its VPC (src/engine/marker.rs): the tool calls these three
# only for it (src/aws/ec2.rs: vpc_tags, tag_vpc, untag_vpc; ELBv2's DescribeTags
# is `elbv2:DescribeTags`, a different key). The script has no marker.
MARKER_ACTIONS = ("ec2:DescribeTags", "ec2:CreateTags", "ec2:DeleteTags")
MARKER_WRITES = ("ec2:CreateTags", "ec2:DeleteTags")
# What a run that marks and unmarks its VPC calls for it: a read, the write, a read
# back after the settle delay; the removal at the end.
MARKER_EXPECTED = {"ec2:DescribeTags": 2, "ec2:CreateTags": 1, "ec2:DeleteTags": 1}
STATE_BUCKET = "bench-state"


class Check(Exception):
    """A benchmark expectation that did not hold."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Check(what)


def median(xs):
    return statistics.median(xs) if xs else None


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def settle_delay() -> tuple[float, str]:
    """The marker's settle delay the tool will use: DUALSTACK_MARKER_SETTLE if set and
    readable (humantime: 2s, 500ms, 1m...), else the tool's default of 2 s; and where it came from."""
    raw = os.environ.get("DUALSTACK_MARKER_SETTLE")
    if raw is None:
        return 2.0, "default (DUALSTACK_MARKER_SETTLE unset)"
    units = {"ms": 0.001, "msec": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", raw.strip())
    if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*[a-z]+)+\s*", raw.strip()) and all(u in units for _, u in parts):
        return sum(float(n) * units[u] for n, u in parts), f"DUALSTACK_MARKER_SETTLE={raw}"
    return 2.0, f"DUALSTACK_MARKER_SETTLE={raw!r} unreadable: the tool's default"


def marker_figures(by_action: dict, j: list[dict], wall: float, settle: float) -> dict:
    """What the run's marker cost one run: its AWS calls, the journal's marker intervals, shares of the wall time."""
    calls = {a: by_action.get(a, 0) for a in MARKER_ACTIONS}
    spans = []  # (set, seconds from the marker's intent to its done)
    for n, x in enumerate(j):
        if x["type"] == "mark_intent":
            done = next((y for y in j[n + 1:] if y["type"] == "mark_done"), None)
            if done is not None:
                spans.append((x.get("set"), h.ts(done) - h.ts(x)))
    journaled = sum(t for _, t in spans)
    return {
        "calls": calls,
        "calls_total": sum(calls.values()),
        "mutating": sum(calls[a] for a in MARKER_WRITES),
        "settle_s": settle,
        "settle_share_of_wall": round(settle / wall, 3) if any(st for st, _ in spans) else 0.0,
        # mark_intent -> mark_done: CreateTags + the settle delay + DescribeTags; DeleteTags at the end.
        "journaled_ms": ms(journaled),
        "journaled_share_of_wall": round(journaled / wall, 3),
        "set_ms": ms(sum(t for st, t in spans if st)),
        "removed_ms": ms(sum(t for st, t in spans if not st)),
    }


def non_s3(by_action: dict) -> dict:
    """Calls and mutating calls of EC2, ELBv2 (and the rest) apart from S3's."""
    rows = {k: v for k, v in by_action.items() if not k.startswith("s3:")}
    return {"calls": sum(rows.values()), "mutating": sum(v for k, v in rows.items() if h.is_mutating(k))}


# -- runbooks -------------------------------------------------------------------------


def cutover_runbook(port: int, split: bool = False) -> str:
    """The example runbook pointed at gunicorn's port, gates at 200 ms / 1 healthy round."""
    text = (ROOT / "runbooks/incident-cutover.yaml").read_text()
    out = text.replace("[::1]:8000/", f"[::1]:{port}/").replace(
        "interval: 1s, healthy_threshold: 2", "interval: 200ms, healthy_threshold: 1"
    )
    expect(f"[::1]:{port}/" in out and "interval: 200ms, healthy_threshold: 1" in out, "runbooks/incident-cutover.yaml changed shape")
    if split:
        head, sep, _ = out.partition("  - id: target-groups")
        expect(bool(sep), "runbooks/incident-cutover.yaml has no target-groups step")
        out = (
            head
            + '  - id: green\n    target_group_ipv6: { listener: "redash:80", target_groups: [redash-green] }\n'
            + "    gate: { checks: [site-v6, green-v6-ok] }\n"
            + '  - id: blue\n    target_group_ipv6: { listener: "redash:80", target_groups: [redash-blue] }\n'
            + "    gate: { checks: [site-v6, blue-v6-ok] }\n"
        )
    return out


# -- the benchmark ----------------------------------------------------------------------


class Bench:
    def __init__(self, args, bin_path: Path, work: Path):
        self.a = args
        self.bin = bin_path
        self.work = work
        self.problems: list[str] = []
        self.results: dict = {}
        self.emu: h.Emulator | None = None
        self.proxy: h.Proxy | None = None
        self.app6: h.App | None = None
        self.app4: h.App | None = None
        self.relay: h.Relay | None = None
        self.start_fp: list[str] | None = None
        self.tool_end_fp: list[str] | None = None
        self.tool_mutating: int | None = None  # the cutover's changes: mutating calls without the marker's
        self.settle, self.settle_from = settle_delay()

    # infrastructure
    def up(self) -> None:
        self.emu = h.Emulator(self.work / "emulator.log")
        self.proxy = h.Proxy(self.emu.url, self.a.latency_ms, self.work / "proxy.log")
        self.relay = h.Relay(self.proxy.url)
        self.app6 = h.App("[::]")
        self.app4 = h.App("0.0.0.0")
        self.log(f"emulator {self.emu.url}, proxy {self.proxy.url} (+{self.a.latency_ms} ms per AWS call), "
                 f"gunicorn [::]:{self.app6.port} and 0.0.0.0:{self.app4.port}; work dir {self.work}")

    def down(self) -> None:
        for x in (self.app4, self.app6, self.relay, self.proxy, self.emu):
            if x is not None:
                x.close()

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def fresh_cutover(self) -> list[str]:
        """Reset the emulator, seed the incident's topology; the starting fingerprint."""
        self.emu.reset()
        self.emu.seed_cutover()
        start = fp.fingerprint(self.emu.url)
        if self.start_fp is None:
            self.start_fp = start
        expect(start == self.start_fp, "the seeded topology differs between runs")
        return start

    def dir(self, name: str) -> Path:
        d = self.work / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def tool(self, *args: str, state: Path | str, endpoint: str | None = None) -> list[str]:
        """The tool's command line: state a folder (--state-dir), or an `s3://` URL (--state; S3 goes to the same endpoint)."""
        where = ["--state", state] if isinstance(state, str) else ["--state-dir", str(state)]
        return [str(self.bin), "--endpoint-url", endpoint or self.proxy.url, *where, *args]

    def vpc_marker_tags(self) -> list[str]:
        """The `dualstack:*` tags on the incident's VPC now (straight to the emulator, not counted)."""
        ec2, _ = fp.clients(self.emu.url)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["redash"]}])["Vpcs"][0]
        return sorted(f"{t['Key']}={t['Value']}" for t in vpc.get("Tags", []) if t["Key"].startswith("dualstack:"))

    def stats(self) -> dict:
        s = self.proxy.stats()
        return {"total": s["total"], "mutating": s["mutating"], "applied_mutating": s["applied_mutating"], "faults": s["faults"],
                "by_action": {k: v["calls"] for k, v in s["by_action"].items()}}

    def section(self, name: str, fn) -> None:
        self.log(f"--- {name}")
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, the rest still runs
            detail = f"{name}: {e}" if isinstance(e, Check) else f"{name}: {type(e).__name__}: {e}\n{traceback.format_exc()}"
            self.problems.append(detail)
            self.log(f"PROBLEM {detail}")
        self.results.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t0, 1)
        for what, proc in (("emulator", self.emu.proc), ("fault proxy", self.proxy.proc), ("gunicorn [::]", self.app6.proc),
                           ("gunicorn 0.0.0.0", self.app4.proc)):
            if proc.poll() is not None:
                how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode} (0: SIGTERM/SIGINT)"
                raise RuntimeError(f"the {what} (pid {proc.pid}, started by the benchmark) stopped during `{name}`: {how}; "
                                   "the benchmark did not stop it")

    # 1. tool vs script
    def cutover(self) -> None:
        tool_runs, script_runs = [], []
        site = f"http://[::1]:{self.app6.port}/ping"
        for i in range(self.a.cutover_runs):
            order = ("tool", "script") if i % 2 == 0 else ("script", "tool")
            for who in order:
                d = self.dir(f"cutover-{who}-{i + 1}")
                start = self.fresh_cutover()
                self.proxy.clear()
                if who == "tool":
                    rb = d / "incident-cutover.yaml"
                    rb.write_text(cutover_runbook(self.app6.port))
                    r = h.run(self.tool("apply", "--yes", str(rb), state=d / "state"), d / "apply", env=h.tool_env())
                else:
                    env = h.tool_env() | {"AWS": str(AWS_CLI), "POLL_SECONDS": str(self.a.poll_seconds), "GATE_INTERVAL": "0.2"}
                    r = h.run(["bash", str(SCRIPT), self.proxy.url, site], d / "script", env=env)
                expect(r.rc == 0, f"{who} run {i + 1} exited {r.rc}: {r.stderr[-2000:]}")
                stats = self.stats()
                end = fp.fingerprint(self.emu.url)
                expect(end != start, f"{who} run {i + 1} changed nothing")
                run = {"wall_s": round(r.wall, 3), "calls": stats["total"], "mutating": stats["mutating"], "by_action": stats["by_action"]}
                if who == "tool":
                    j = h.journal(d / "state" / JOURNAL)
                    started = next(h.ts(x) for x in j if x["type"] == "started")
                    first_intent = next(h.ts(x) for x in j if x["type"] == "intent")
                    run["started_to_first_intent_ms"] = ms(first_intent - started)
                    run["process_to_first_intent_ms"] = ms(first_intent - r.spawned_at)
                    mk = run["marker"] = marker_figures(stats["by_action"], j, r.wall, self.settle)
                    # Before the first change: the marker set and read back (mark_intent -> mark_done).
                    before = 0.0
                    mark_at = next((n for n, x in enumerate(j) if x["type"] == "mark_intent" and x.get("set")), None)
                    if mark_at is not None:
                        before = h.ts(next(x for x in j[mark_at + 1:] if x["type"] == "mark_done")) - h.ts(j[mark_at])
                    run["started_to_first_intent_without_marker_ms"] = ms(first_intent - started - before)
                    run["process_to_first_intent_without_marker_ms"] = ms(first_intent - r.spawned_at - before)
                    run["calls_without_marker"] = stats["total"] - mk["calls_total"]
                    run["mutating_without_marker"] = stats["mutating"] - mk["mutating"]
                    run["wall_s_without_settle"] = round(r.wall - self.settle, 3)  # computed: the settle is one sleep
                    expect(mk["calls"] == MARKER_EXPECTED, f"tool run {i + 1}: the marker's calls were {mk['calls']}, expected {MARKER_EXPECTED}")
                    left = self.vpc_marker_tags()
                    expect(not left, f"tool run {i + 1} completed but left its marker on the VPC: {left}")
                    if self.tool_end_fp is None:
                        self.tool_end_fp = end
                    expect(end == self.tool_end_fp, f"tool run {i + 1} ended in a different state:\n" + "\n".join(fp.diff(self.tool_end_fp, end)))
                    tool_runs.append(run)
                else:
                    script_runs.append((run, end))
                self.log(f"{who} run {i + 1}: {r.wall:.1f}s, {stats['total']} calls, {stats['mutating']} mutating"
                         + (f" ({run['calls_without_marker']} and {run['mutating_without_marker']} without the marker's "
                            f"{run['marker']['calls_total']}; settle {self.settle:g} s)" if who == "tool" else ""))
        for i, (run, end) in enumerate(script_runs):
            expect(end == self.tool_end_fp, f"script run {i + 1} does not reach the tool's end state:\n" + "\n".join(fp.diff(self.tool_end_fp, end)))
        script_runs = [r for r, _ in script_runs]
        self.tool_mutating = tool_runs[0]["mutating_without_marker"]
        # What one `aws` invocation costs by itself (process start, loading the EC2 model), straight
        # to the emulator: most of the script's time is this, once per call.
        d = self.dir("awscli-startup")
        per_call = []
        for n in range(3):
            r = h.run([str(AWS_CLI), "--endpoint-url", self.emu.url, "--region", h.REGION, "--output", "text",
                       "ec2", "describe-vpcs", "--query", "Vpcs[0].VpcId"], d / f"call{n}", env=h.tool_env())
            expect(r.rc == 0, f"aws ec2 describe-vpcs exited {r.rc}: {r.stderr[-500:]}")
            per_call.append(r.wall)

        def summary(runs):
            return {"wall_s_median": round(median([r["wall_s"] for r in runs]), 3),
                    "wall_s_min": min(r["wall_s"] for r in runs), "wall_s_max": max(r["wall_s"] for r in runs),
                    "calls_median": median([r["calls"] for r in runs]), "mutating_median": median([r["mutating"] for r in runs])}

        t, s = summary(tool_runs), summary(script_runs)
        t |= {"calls_without_marker_median": median([r["calls_without_marker"] for r in tool_runs]),
              "mutating_without_marker_median": median([r["mutating_without_marker"] for r in tool_runs]),
              "wall_s_without_settle_median": round(median([r["wall_s_without_settle"] for r in tool_runs]), 3),
              "marker": {"settle_s": self.settle, "settle_from": self.settle_from,
                         "calls": tool_runs[0]["marker"]["calls"],
                         "settle_share_of_wall_median": median([r["marker"]["settle_share_of_wall"] for r in tool_runs]),
                         "journaled_ms_median": median([r["marker"]["journaled_ms"] for r in tool_runs]),
                         "journaled_share_of_wall_median": median([r["marker"]["journaled_share_of_wall"] for r in tool_runs]),
                         "set_ms_median": median([r["marker"]["set_ms"] for r in tool_runs]),
                         "removed_ms_median": median([r["marker"]["removed_ms"] for r in tool_runs])}}
        # The target, checked in every run (the smoke run too, so that a
        # change that adds reads fails the test suite): no more AWS calls than
        # the script. Like for like: the script has no marker, so the marker's
        # calls (MARKER_ACTIONS, checked above to be exactly its four) are left
        # out. Call counts do not depend on timing here (the emulator's
        # associating and initial-health states last a number of reads).
        expect(t["calls_without_marker_median"] <= s["calls_median"],
               f"the tool made {t['calls_without_marker_median']} AWS calls without its marker's, more than the script's {s['calls_median']}")
        self.results["cutover"] = {
            "runbook": "runbooks/incident-cutover.yaml (site-v6 -> gunicorn [::]; interval 200ms, healthy_threshold 1)",
            "script_file": "bench/incident-awscli.sh",
            "script_poll_seconds": self.a.poll_seconds,
            "awscli_one_call_s_median": round(median(per_call), 3),
            "end_states_equal": True,
            "end_state": self.tool_end_fp,
            "tool": t | {"runs": tool_runs},
            "script": s | {"runs": script_runs},
            "ratio_script_over_tool": {
                # As measured: the tool's wall time with the marker's settle delay (what users get).
                "wall": round(s["wall_s_median"] / t["wall_s_median"], 2),
                # Computed: the tool's wall time less the settle delay (one sleep), not measured.
                "wall_without_settle": round(s["wall_s_median"] / t["wall_s_without_settle_median"], 2),
                # Like for like: the tool's calls without its marker's (the call guard).
                "calls": round(s["calls_median"] / t["calls_without_marker_median"], 2),
                "mutating": round(s["mutating_median"] / t["mutating_without_marker_median"], 2),
                "calls_with_marker": round(s["calls_median"] / t["calls_median"], 2),
                "mutating_with_marker": round(s["mutating_median"] / t["mutating_median"], 2),
            },
        }

    # 2. shared state on S3
    def s3_state(self) -> None:
        """The incident cutover with --state s3://bench-state/<prefix> against local state, paired, --runs times."""
        s3_runs, file_runs = [], []
        for i in range(self.a.runs):
            order = ("s3", "file") if i % 2 == 0 else ("file", "s3")
            for where in order:
                d = self.dir(f"s3state-{where}-{i + 1}")
                start = self.fresh_cutover()
                rb = d / "incident-cutover.yaml"
                rb.write_text(cutover_runbook(self.app6.port))
                prefix = f"{d.name}-{os.getpid()}-{time.time_ns()}"
                if where == "s3":
                    self.emu.create_bucket(STATE_BUCKET)  # gone with every reset; straight to the emulator, never counted
                    state: Path | str = f"s3://{STATE_BUCKET}/{prefix}"
                else:
                    state = d / "state"
                self.proxy.clear()
                r = h.run(self.tool("apply", "--yes", str(rb), state=state), d / "apply", env=h.tool_env())
                expect(r.rc == 0, f"{where} state run {i + 1} exited {r.rc}: {r.stderr[-2000:]}")
                stats = self.stats()
                end = fp.fingerprint(self.emu.url)
                expect(end != start, f"{where} state run {i + 1} changed nothing")
                left = self.vpc_marker_tags()
                expect(not left, f"{where} state run {i + 1} completed but left its marker on the VPC: {left}")
                rest = non_s3(stats["by_action"])
                run = {"wall_s": round(r.wall, 3), "calls": stats["total"], "mutating": stats["mutating"],
                       "aws_calls": rest["calls"], "aws_mutating": rest["mutating"],
                       "s3_calls": {k: v for k, v in sorted(stats["by_action"].items()) if k.startswith("s3:")},
                       "by_action": stats["by_action"], "end": end}
                if where == "s3":
                    keys = self.emu.s3_keys(STATE_BUCKET, prefix + "/")
                    run["state"] = state
                    run["journal_records"] = sum(1 for k in keys if k.startswith(f"{prefix}/{RUNBOOK_NAME}/journal/"))
                    run["objects_left"] = [k[len(prefix) + 1:] for k in keys if "/journal/" not in k]
                    expect(run["journal_records"] > 0, f"s3 state run {i + 1}: no journal record under {state}")
                    expect(not any(k.endswith("lock.json") for k in run["objects_left"]),
                           f"s3 state run {i + 1}: the lock was not released: {run['objects_left']}")
                    s3_runs.append(run)
                else:
                    run["journal_records"] = len(h.journal(d / "state" / JOURNAL))
                    file_runs.append(run)
                self.log(f"{where} state run {i + 1}: {r.wall:.2f}s, {rest['calls']} EC2/ELBv2 calls ({rest['mutating']} mutating), "
                         f"S3 {run['s3_calls'] or '-'}, {run['journal_records']} journal records")
        ref = self.tool_end_fp or file_runs[0]["end"]
        for who, runs in (("local-state", file_runs), ("s3 state", s3_runs)):
            for i, run in enumerate(runs):
                expect(run["end"] == ref, f"{who} run {i + 1} ended in a different state from the local-state cutover:\n"
                       + "\n".join(fp.diff(ref, run["end"])))
        for run in s3_runs + file_runs:
            del run["end"]

        def summary(runs):
            actions = sorted({k for r in runs for k in r["s3_calls"]})
            return {"wall_s_median": round(median([r["wall_s"] for r in runs]), 3),
                    "wall_s_min": min(r["wall_s"] for r in runs), "wall_s_max": max(r["wall_s"] for r in runs),
                    "aws_calls_median": median([r["aws_calls"] for r in runs]),
                    "aws_mutating_median": median([r["aws_mutating"] for r in runs]),
                    "journal_records_median": median([r["journal_records"] for r in runs]),
                    "s3_calls_median": {a: median([r["s3_calls"].get(a, 0) for r in runs]) for a in actions},
                    "s3_calls_total_median": median([sum(r["s3_calls"].values()) for r in runs])}

        sm, fm = summary(s3_runs), summary(file_runs)
        added = sm["wall_s_median"] - fm["wall_s_median"]
        self.results["s3_state"] = {
            "what": f"runbooks/incident-cutover.yaml applied with --state s3://{STATE_BUCKET}/<prefix> (S3 through the proxy) "
                    "against the same with --state-dir, paired, alternating which goes first",
            "latency_ms": self.a.latency_ms,
            "end_states_equal": True,
            "s3": sm | {"runs": s3_runs},
            "file": fm | {"runs": file_runs},
            "added_wall_s": round(added, 3),
            "added_wall_ratio": round(sm["wall_s_median"] / fm["wall_s_median"], 3),
            # EC2 + ELBv2 mutating calls of the run: the changes and the marker's two writes, each journaled.
            "added_ms_per_mutating_call": ms(added / sm["aws_mutating_median"]),
            "added_ms_per_journal_record": ms(added / sm["journal_records_median"]),
            "paired_added_wall_s": [round(a["wall_s"] - b["wall_s"], 3) for a, b in zip(s3_runs, file_runs)],
        }

    # 3. time to IPv4
    def time_to_ipv4(self) -> None:
        incident, weights = [], []
        for i in range(self.a.runs):
            incident.append(self.ttipv4_incident(i))
            weights.append(self.ttipv4_weights(i))

        def agg(runs, key):
            xs = [r[key] for r in runs if r.get(key) is not None]
            return {"median_ms": round(median(xs), 1) if xs else None, "max_ms": max(xs) if xs else None}

        self.results["time_to_ipv4"] = {
            "incident": {
                "what": "gunicorn on 0.0.0.0: the ALB gate fails over IPv6; from the first failed observation",
                "to_alb_ipv4": agg(incident, "to_alb_ipv4_ms"),
                "to_everything_undone": agg(incident, "to_everything_undone_ms"),
                "runs": incident,
            },
            "weights": {
                "what": "redash-blue-v6 made unhealthy once it has weight > 0: first failed observation -> listener and rule back on the IPv4 groups (tests/cutover.rs time_to_ipv4)",
                "time_to_ipv4": agg(weights, "time_to_ipv4_ms"),
                "gate_confirmation": agg(weights, "gate_confirmation_ms"),
                "reaction": agg(weights, "reaction_ms"),
                "reaction_aws": agg(weights, "reaction_aws_ms"),
                "reaction_relay": agg(weights, "reaction_relay_ms"),
                "reaction_tool_own": agg(weights, "reaction_tool_own_ms"),
                "window_relay_overhead": agg(weights, "window_relay_overhead_ms"),
                "runs": weights,
            },
        }

    def ttipv4_incident(self, i: int) -> dict:
        d = self.dir(f"ttipv4-incident-{i + 1}")
        start = self.fresh_cutover()
        rb = d / "incident-cutover.yaml"
        rb.write_text(cutover_runbook(self.app4.port))
        self.proxy.clear()
        r = h.run(self.tool("apply", "--yes", str(rb), state=d / "state"), d / "apply", env=h.tool_env())
        expect(r.rc == 3, f"incident run {i + 1}: exit {r.rc}, expected 3: {r.stderr[-2000:]}")
        expect("step `alb` failed its health gate" in r.stderr, f"incident run {i + 1}: not the ALB gate: {r.stderr[-1500:]}")
        end = fp.fingerprint(self.emu.url)
        expect(end == start, f"incident run {i + 1} did not return to the start:\n" + "\n".join(fp.diff(start, end)))
        j = h.journal(d / "state" / JOURNAL)
        first_fail = next(h.ts(x) for x in j if x["type"] == "observation" and x["observation"]["ok"] is False)
        alb_seqs = {x["seq"] for x in j if x["type"] == "intent" and x["change"]["kind"] == "load_balancer_ip_type"}
        alb_back = max(h.ts(x) for x in j if x["type"] == "undo_done" and x["seq"] in alb_seqs)
        last_undo = max(h.ts(x) for x in j if x["type"] == "undo_done")
        out = {"wall_s": round(r.wall, 3), "calls": self.stats()["total"],
               "to_alb_ipv4_ms": ms(alb_back - first_fail), "to_everything_undone_ms": ms(last_undo - first_fail)}
        self.log(f"incident run {i + 1}: ALB ipv4 after {out['to_alb_ipv4_ms']} ms, everything undone after {out['to_everything_undone_ms']} ms")
        return out

    def ttipv4_weights(self, i: int) -> dict:
        d = self.dir(f"ttipv4-weights-{i + 1}")
        start = self.fresh_cutover()
        rb = d / "incident-cutover.yaml"
        rb.write_text(cutover_runbook(self.app6.port, split=True))
        self.proxy.clear()
        self.relay.reset()
        p = h.spawn(self.tool("apply", "--yes", str(rb), state=d / "state", endpoint=self.relay.url), d / "apply", env=h.tool_env())
        saw = {}
        done = threading.Event()

        def watch():
            _, elb = fp.clients(self.emu.url)
            new_arn = None
            while not done.is_set():
                try:
                    if new_arn is None:
                        groups = elb.describe_target_groups(Names=["redash-blue-v6"])["TargetGroups"]
                        new_arn = groups[0]["TargetGroupArn"]
                    lb = elb.describe_load_balancers(Names=["redash"])["LoadBalancers"][0]["LoadBalancerArn"]
                    listener = elb.describe_listeners(LoadBalancerArn=lb)["Listeners"][0]
                    tgs = ((listener["DefaultActions"][0].get("ForwardConfig") or {}).get("TargetGroups")) or []
                    if any(g["TargetGroupArn"] == new_arn and g.get("Weight", 0) > 0 for g in tgs):
                        self.emu.target_health("redash-blue-v6", "unhealthy")
                        saw["at"] = time.time()
                        saw["weights"] = fp.listener_weights(self.emu.url)
                        return
                except elb.exceptions.TargetGroupNotFoundException:
                    pass
                time.sleep(0.02)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        try:
            rc = p.wait(300)
        except subprocess.TimeoutExpired:
            h.stop(p)
            rc = None
        finally:
            done.set()
            w.join(5)
            if p in h._started:
                h._started.remove(p)
        timeline = self.relay.timeline()
        stderr = (d / "apply.stderr").read_text(errors="replace")
        expect("at" in saw, f"weights run {i + 1}: redash-blue-v6 never got weight (exit {rc}): {stderr[-1500:]}")
        expect(rc == 3, f"weights run {i + 1}: exit {rc}, expected 3: {stderr[-2000:]}")
        expect("FAIL blue-v6-ok" in stderr, f"weights run {i + 1}: not the blue target-health gate: {stderr[-1500:]}")
        expect(fp.listener_weights(self.emu.url) == ["redash-blue=100", "redash-green=0"], f"weights run {i + 1}: listener not back on IPv4")
        end = fp.fingerprint(self.emu.url)
        expect(end == start, f"weights run {i + 1} did not return to the start:\n" + "\n".join(fp.diff(start, end)))
        j = h.journal(d / "state" / JOURNAL)
        # Exactly tests/cutover.rs time_to_ipv4.
        first_fail = next(h.ts(x) for x in j if x["type"] == "observation" and x["observation"]["ok"] is False)
        forward_seqs = {x["seq"] for x in j if x["type"] == "intent" and x["change"]["kind"] == "target_group_ipv6"
                        and x["change"]["change"]["action"] == "set_forward"}
        restored = max(h.ts(x) for x in j if x["type"] == "undo_done" and x["seq"] in forward_seqs)
        failed = next(h.ts(x) for x in j if x["type"] == "step_failed")
        react = timeline.within(failed, restored)
        whole = timeline.within(first_fail, restored)
        out = {
            "unhealthy_set_at_weights": saw.get("weights"),
            "time_to_ipv4_ms": ms(restored - first_fail),
            "gate_confirmation_ms": ms(failed - first_fail),
            "reaction_ms": ms(restored - failed),
            "reaction_aws_calls": react["calls"],
            "reaction_aws_ms": ms(react["aws"]),
            "reaction_relay_ms": ms(react["relay"]),
            "reaction_tool_own_ms": ms(max(0.0, (restored - failed) - react["waited"])),
            "window_relay_overhead_ms": ms(whole["relay"]),
            # Each call of the reaction: ms after step_failed it reached the relay, went to the
            # proxy, came back, was answered.
            "reaction_calls_ms": [[round((t - failed) * 1000, 1) for t in c] for c in timeline.calls if failed <= c[0] <= restored],
        }
        self.log(f"weights run {i + 1}: time to IPv4 {out['time_to_ipv4_ms']} ms (gate {out['gate_confirmation_ms']}, "
                 f"reaction {out['reaction_ms']}: {react['calls']} AWS calls {out['reaction_aws_ms']} ms, "
                 f"relay {out['reaction_relay_ms']} ms, tool {out['reaction_tool_own_ms']} ms)")
        return out

    # 4. resume
    def resume(self) -> None:
        # The proxy counts every mutating call, the marker's CreateTags (the first) too:
        # hold the call of change `half` of the cutover's changes.
        changes = self.tool_mutating or 34
        half = max(1, changes // 2)
        k = 1 + half
        runs = []
        for i in range(self.a.runs):
            d = self.dir(f"resume-{i + 1}")
            self.fresh_cutover()
            rb = d / "incident-cutover.yaml"
            rb.write_text(cutover_runbook(self.app6.port))
            self.proxy.clear()
            self.proxy.hold(k, "after")
            p = h.spawn(self.tool("apply", "--yes", str(rb), state=d / "state"), d / "apply", env=h.tool_env())
            deadline = time.time() + 120
            while not self.proxy.held():
                expect(p.poll() is None, f"resume run {i + 1}: the tool exited ({p.returncode}) before its mutating call {k}")
                expect(time.time() < deadline, f"resume run {i + 1}: mutating call {k} never held")
                time.sleep(0.02)
            held_action = h.control(self.proxy.url, "GET", "/_proxy/hold").get("action")
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            if p in h._started:
                h._started.remove(p)
            self.proxy.release()
            self.proxy.clear()
            r = h.run(self.tool("resume", "--yes", str(rb), state=d / "state"), d / "resume", env=h.tool_env())
            expect(r.rc == 0, f"resume run {i + 1}: exit {r.rc}: {r.stderr[-2000:]}")
            stats = self.stats()
            end = fp.fingerprint(self.emu.url)
            if self.tool_end_fp is not None:
                expect(end == self.tool_end_fp, f"resume run {i + 1}: not the uninterrupted end state:\n" + "\n".join(fp.diff(self.tool_end_fp, end)))
            j = h.journal(d / "state" / JOURNAL)
            idx = max(n for n, x in enumerate(j) if x["type"] == "started")
            expect(j[idx].get("operation") in (None, "resume"), f"resume run {i + 1}: last started line is {j[idx].get('operation')}")
            started = h.ts(j[idx])
            first_intent = next((h.ts(x) for x in j[idx:] if x["type"] == "intent"), None)
            expect(first_intent is not None, f"resume run {i + 1}: no intent after the resume started")
            left = self.vpc_marker_tags()
            expect(not left, f"resume run {i + 1} completed but left the run's marker on the VPC: {left}")
            run = {"killed_at_mutation": k, "killed_after_change": half, "held_action": held_action, "wall_s": round(r.wall, 3),
                   "started_to_first_intent_ms": ms(first_intent - started), "process_to_first_intent_ms": ms(first_intent - r.spawned_at),
                   "started_to_last_line_ms": ms(h.ts(j[-1]) - started),
                   "calls": stats["total"], "mutating": stats["mutating"],
                   "marker": marker_figures(stats["by_action"], j[idx:], r.wall, self.settle)}
            runs.append(run)
            self.log(f"resume run {i + 1} (killed at mutating call {k} = change {half}, {held_action}): first intent after "
                     f"{run['started_to_first_intent_ms']} ms, done in {r.wall:.1f}s; marker calls {run['marker']['calls']}")
        fresh = self.results.get("cutover", {}).get("tool", {}).get("runs", [])

        def mm(key, xs):
            vals = [x[key] for x in xs if x.get(key) is not None]
            return {"median": median(vals), "max": max(vals)} if vals else {"median": None, "max": None}

        self.results["resume"] = {
            "killed_at_mutation": k,
            "killed_after_change": half,
            "changes": changes,
            "fresh_apply_first_intent_without_marker_ms": mm("started_to_first_intent_without_marker_ms", fresh),
            "fresh_apply_process_to_first_intent_without_marker_ms": mm("process_to_first_intent_without_marker_ms", fresh),
            "first_intent_ms": mm("started_to_first_intent_ms", runs),
            "process_to_first_intent_ms": mm("process_to_first_intent_ms", runs),
            "wall_s": mm("wall_s", runs),
            "fresh_apply_first_intent_ms": mm("started_to_first_intent_ms", fresh),
            "fresh_apply_process_to_first_intent_ms": mm("process_to_first_intent_ms", fresh),
            "runs": runs,
        }

    # 2. large VPC
    def large(self) -> None:
        sizes = large_vpc.Sizes(self.a.subnets, self.a.route_tables, self.a.groups, self.a.load_balancers)
        d = self.dir("large-vpc")
        self.emu.reset()
        seeded = large_vpc.seed(self.emu.url, sizes)
        self.log(f"large VPC seeded in {seeded['seconds']:.1f}s")
        rb = d / "large-vpc.yaml"
        rb.write_text(large_vpc.runbook(sizes))
        out = {"sizes": {"subnets": sizes.subnets, "subnets_with_ipv6": min(sizes.subnets, large_vpc.MAX_INDEX),
                         "route_tables": sizes.route_tables, "security_groups": sizes.groups,
                         "load_balancers": sizes.load_balancers, "target_groups": sizes.target_groups, "resources": sizes.resources},
               "seeding_s": round(seeded["seconds"], 1)}
        self.results["large_vpc"] = out
        v = h.run([str(self.bin), "validate", str(rb)], d / "validate")
        out["validate"] = {"rc": v.rc, "wall_s": round(v.wall, 3), "said": v.stdout.strip()[-300:] or v.stderr.strip()[-300:]}
        expect(v.rc == 0, f"validate of the large runbook: exit {v.rc}: {v.stderr[-1500:]}")
        if sizes.subnets > large_vpc.MAX_INDEX:
            lit = d / "large-vpc-index-1-to-n.yaml"
            lit.write_text(large_vpc.runbook(sizes, literal=True))
            v = h.run([str(self.bin), "validate", str(lit)], d / "validate-literal")
            errors = [line for line in v.stderr.splitlines() if line.startswith("error:")]
            out["validate_index_1_to_n"] = {"rc": v.rc, "errors": len(errors), "first_error": errors[0] if errors else None,
                                            "summary": v.stderr.strip().splitlines()[-1] if v.stderr.strip() else ""}
            expect(v.rc == 2, f"validate accepted index > 255 (exit {v.rc})")

        self.proxy.clear()
        argv = self.tool("plan", str(rb), state=d / "state")
        r, rss_kb = measure_rss(argv, d / "plan")
        stats = self.stats()
        # "N changes in S of T steps (N mutating API calls, and 2 for the run's marker)"; no marker part when N is 0.
        m = re.search(r"(\d+) changes? in (\d+) of (\d+) steps \((\d+) mutating API calls?(?:, and (\d+) for the run's marker)?\)", r.stdout)
        out["plan"] = {"rc": r.rc, "wall_s": round(r.wall, 3), "peak_rss_mb": round(rss_kb / 1024, 1) if rss_kb else None,
                       "calls": stats["total"], "mutating": stats["mutating"],
                       "calls_per_resource": round(stats["total"] / sizes.resources, 3),
                       "planned_changes": int(m.group(1)) if m else None, "planned_mutating_calls": int(m.group(4)) if m else None,
                       "planned_marker_calls": int(m.group(5) or 0) if m else None,
                       "by_action": stats["by_action"]}
        expect(r.rc == 0, f"plan of the large VPC: exit {r.rc}: {r.stderr[-2000:]}")
        expect(m is not None, f"plan of the large VPC: no summary line in its output: {r.stdout[-500:]}")
        expect(stats["mutating"] == 0, f"plan of the large VPC made {stats['mutating']} mutating calls")
        self.log(f"large plan: {r.wall:.1f}s, {out['plan']['peak_rss_mb']} MB, {stats['total']} calls")

        if not self.a.large_apply:
            out["apply"] = {"skipped": "not requested (--large-apply)"}
            return
        self.proxy.clear()
        limit = self.a.large_apply_limit
        r = h.run(self.tool("apply", "--yes", str(rb), state=d / "state"), d / "apply", env=h.tool_env(), timeout=limit)
        stats = self.stats()
        ap = {"rc": r.rc, "wall_s": round(r.wall, 1), "calls": stats["total"], "mutating": stats["mutating"],
              "planned_mutating_calls": out["plan"]["planned_mutating_calls"],
              "planned_marker_calls": out["plan"]["planned_marker_calls"], "by_action": stats["by_action"],
              "marker_calls": {a: stats["by_action"].get(a, 0) for a in MARKER_ACTIONS}}
        out["apply"] = ap
        jpath = d / "state" / "large-vpc.journal.jsonl"
        if jpath.exists():
            j = h.journal(jpath)
            ap["steps"] = step_times(j)
            ap["changes_applied"] = sum(1 for x in j if x["type"] == "intent")
            ap["changes_undone"] = sum(1 for x in j if x["type"] == "undo_done")
            failed = [x for x in j if x["type"] == "step_failed"]
            if failed:
                ap["failed_step"] = {"step": failed[0]["step"], "error": failed[0].get("error"),
                                     "after_s": round(h.ts(failed[0]) - h.ts(j[0]), 1)}
        ap["last_stderr"] = [line.rstrip() for line in r.stderr.splitlines() if line.strip()][-6:]
        ap["last_output"] = [line.strip() for line in r.stdout.splitlines() if line.strip()][-3:]
        if r.timed_out:
            how = "SIGTERM" if r.rc is not None and r.rc >= 0 else "SIGTERM, still running 30 s later: SIGKILL"
            state = (f"{ap.get('changes_applied')} of {out['plan']['planned_mutating_calls']} planned changes applied"
                     + (f", step {ap['failed_step']['step']} failed after {ap['failed_step']['after_s']} s and "
                        f"{ap.get('changes_undone')} changes were rolled back" if ap.get("failed_step") else ""))
            ap["skipped"] = f"did not complete within {limit:.0f}s: stopped ({how}); {state}"
            self.log(f"large apply: {ap['skipped']}")
            return
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        expect(r.rc == 0, f"apply of the large VPC: exit {r.rc}: {' / '.join(errors) or r.stderr[-1500:]}")
        planned = out["plan"]["planned_mutating_calls"] + out["plan"]["planned_marker_calls"]
        expect(stats["mutating"] == planned,
               f"large apply made {stats['mutating']} mutating calls, plan said {out['plan']['planned_mutating_calls']} "
               f"and {out['plan']['planned_marker_calls']} for the run's marker")
        end = fp.fingerprint(self.emu.url, "large")
        blocks = sum(1 for x in end if x.startswith("subnet ") and "associated" in x and "assign=True" in x)
        twins = sum(1 for x in end if x.startswith("sg large-sg") and x.endswith("::/0"))
        dual = sum(1 for x in end if x.startswith("lb ") and x.endswith(" dualstack"))
        ap["verified"] = {"subnets_with_block_and_flags": blocks, "ipv6_rule_twins": twins, "dualstack_lbs": dual}
        expect(blocks == min(sizes.subnets, large_vpc.MAX_INDEX) and twins == 2 * sizes.groups and dual == sizes.load_balancers,
               f"large apply end state incomplete: {ap['verified']}")
        self.log(f"large apply: {r.wall:.1f}s, {stats['total']} calls, {stats['mutating']} mutating")


def step_times(j: list[dict]) -> dict:
    """Per step kind, from a journal: steps finished, seconds spent, mutating calls; and the step running last."""
    kinds: dict[str, dict] = {}
    open_steps: dict[str, tuple[str, float]] = {}
    step_kind: dict[str, str] = {}
    for x in j:
        if x["type"] == "step_started":
            open_steps[x["step"]] = (x.get("kind", "?"), h.ts(x))
            step_kind[x["step"]] = x.get("kind", "?")
        elif x["type"] in ("step_done", "step_failed") and x["step"] in open_steps:
            kind, t0 = open_steps.pop(x["step"])
            k = kinds.setdefault(kind, {"steps": 0, "seconds": 0.0, "mutating": 0})
            k["steps"] += 1
            k["seconds"] = round(k["seconds"] + h.ts(x) - t0, 1)
        elif x["type"] == "intent" and x.get("step") in step_kind:
            kinds.setdefault(step_kind[x["step"]], {"steps": 0, "seconds": 0.0, "mutating": 0})["mutating"] += 1
    running = [f"{s} ({k}) for {round(h.ts(j[-1]) - t0, 1)} s" for s, (k, t0) in open_steps.items()]
    return {"by_kind": kinds, "unfinished": running}


def measure_rss(argv: list[str], prefix: Path) -> tuple[h.Result, int | None]:
    """Run argv under /usr/bin/time -v (else a Python parent reading getrusage); peak RSS in KiB."""
    if Path("/usr/bin/time").exists():
        r = h.run(["/usr/bin/time", "-v", *argv], prefix, env=h.tool_env())
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
        return r, int(m.group(1)) if m else None
    rss = prefix.with_suffix(".rss")
    wrapper = ("import resource,subprocess,sys; rc=subprocess.call(sys.argv[2:]); "
               "open(sys.argv[1],'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(rc)")
    r = h.run([sys.executable, "-c", wrapper, str(rss), *argv], prefix, env=h.tool_env())
    return r, int(rss.read_text()) if rss.exists() else None


# -- machine, table ---------------------------------------------------------------------


def sh(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def sha256(p: Path) -> str:
    hsh = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hsh.update(chunk)
    return hsh.hexdigest()


def machine() -> dict:
    mem = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal:")), None) if Path("/proc/meminfo").exists() else None
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"nproc": os.cpu_count(), "memory_gib": round(int(mem) / 1024 / 1024, 1) if mem else None, "kernel": platform.release(),
            "cpu_model": cpu, "os": platform.platform(), "python": platform.python_version(), "loadavg_start": os.getloadavg()}


def fmt_s(x):
    return "-" if x is None else f"{x:.2f} s"


def fmt_ms(x):
    return "-" if x is None else f"{x:.0f} ms"


def table(res: dict) -> str:
    out = []
    c = res.get("cutover")
    if c:
        t, s, q = c["tool"], c["script"], c["ratio_script_over_tool"]
        out.append(f"Incident cutover through the proxy (+{res['config']['latency_ms']} ms per AWS call), median of {len(t['runs'])} run(s); end states equal: {c['end_states_equal']}")
        out.append(f"  {'':<22}{'dualstack apply':>18}{'AWS CLI script':>18}{'script/tool':>14}")
        mk = t["marker"]
        out.append(f"  {'wall time':<22}{fmt_s(t['wall_s_median']):>18}{fmt_s(s['wall_s_median']):>18}{q['wall']:>13.2f}x")
        out.append(f"  {'  less the settle':<22}{fmt_s(t['wall_s_without_settle_median']):>18}{'':>18}{q['wall_without_settle']:>13.2f}x"
                   "   (computed: wall minus the settle delay)")
        out.append(f"  {'AWS calls':<22}{t['calls_without_marker_median']:>18}{s['calls_median']:>18}{q['calls']:>13.2f}x"
                   f"   (tool without its marker's; with them {t['calls_median']})")
        out.append(f"  {'mutating calls':<22}{t['mutating_without_marker_median']:>18}{s['mutating_median']:>18}{q['mutating']:>13.2f}x"
                   f"   (with the marker's {t['mutating_median']})")
        out.append(f"  the run's marker: {sum(mk['calls'].values())} calls {mk['calls']}; settle delay {mk['settle_s']:g} s "
                   f"({mk['settle_from']}) = {mk['settle_share_of_wall_median']:.0%} of the tool's wall time; "
                   f"marker intents to done {fmt_ms(mk['journaled_ms_median'])} = {mk['journaled_share_of_wall_median']:.0%}")
        out.append(f"  (wall min-max: tool {t['wall_s_min']:.2f}-{t['wall_s_max']:.2f} s, script {s['wall_s_min']:.2f}-{s['wall_s_max']:.2f} s; "
                   f"script polls every {c['script_poll_seconds']:g} s; one `aws` call alone, no proxy: {c['awscli_one_call_s_median']:.2f} s)")
        out.append("")
    st = res.get("s3_state")
    if st:
        sm, fm = st["s3"], st["file"]
        out.append(f"Incident cutover, state on S3 against local state (+{st['latency_ms']:g} ms per call, S3 too), "
                   f"median of {len(sm['runs'])} run(s) each; end states equal: {st['end_states_equal']}")
        out.append(f"  {'':<28}{'--state s3://':>16}{'--state-dir':>16}")
        out.append(f"  {'wall time':<28}{fmt_s(sm['wall_s_median']):>16}{fmt_s(fm['wall_s_median']):>16}"
                   f"   +{st['added_wall_s']:.2f} s ({st['added_wall_ratio']:.2f}x)")
        calls_s3 = f"{sm['aws_calls_median']} ({sm['aws_mutating_median']})"
        calls_file = f"{fm['aws_calls_median']} ({fm['aws_mutating_median']})"
        out.append(f"  {'EC2/ELBv2 calls (mutating)':<28}{calls_s3:>16}{calls_file:>16}")
        out.append(f"  {'journal records':<28}{sm['journal_records_median']:>16}{fm['journal_records_median']:>16}")
        out.append(f"  {'S3 calls':<28}{sm['s3_calls_total_median']:>16}{'0':>16}   {sm['s3_calls_median']}")
        out.append(f"  the S3 journal adds {fmt_ms(st['added_ms_per_mutating_call'])} per EC2/ELBv2 mutating call "
                   f"({sm['aws_mutating_median']}, the marker's 2 included), {fmt_ms(st['added_ms_per_journal_record'])} per journal record")
        out.append("")
    lv = res.get("large_vpc")
    if lv:
        z = lv["sizes"]
        out.append(f"Large VPC: {z['subnets']} subnets ({z['subnets_with_ipv6']} get a /64), {z['route_tables']} route tables, "
                   f"{z['security_groups']} security groups, {z['load_balancers']} ALBs, {z['target_groups']} target groups "
                   f"= {z['resources']} resources (seeding {lv['seeding_s']} s, not counted)")
        if "validate_index_1_to_n" in lv:
            v = lv["validate_index_1_to_n"]
            out.append(f"  index 1..{z['subnets']} runbook: validate exit {v['rc']}, {v['errors']} errors, first: {v['first_error']}")
        p = lv.get("plan")
        if p:
            out.append(f"  plan:  wall {fmt_s(p['wall_s'])}, peak RSS {p['peak_rss_mb']} MB, {p['calls']} AWS calls "
                       f"({p['calls_per_resource']} per resource), {p['mutating']} mutating; plans {p['planned_changes']} changes")
        a = lv.get("apply")
        if a:
            if "rc" not in a:
                out.append(f"  apply: skipped: {a['skipped']}")
            else:
                extra = f", verified {a['verified']}" if a.get("verified") else ""
                out.append(f"  apply: exit {a['rc']}, wall {fmt_s(a['wall_s'])}, {a['calls']} AWS calls, {a['mutating']} mutating{extra}")
                if a.get("skipped"):
                    out.append(f"         {a['skipped']}")
            for kind, k in ((a.get("steps") or {}).get("by_kind") or {}).items():
                out.append(f"    {kind:<24} {k['steps']:>3} step(s) done  {k['seconds']:>7.1f} s  {k['mutating']:>5} mutating")
            if a.get("failed_step"):
                out.append(f"    step {a['failed_step']['step']} failed: {a['failed_step']['error']}")
            for u in (a.get("steps") or {}).get("unfinished") or []:
                out.append(f"    unfinished: {u}; its last output: {' / '.join(a.get('last_output') or [])}")
        out.append("")
    def row(label, d, fmt=fmt_ms, extra=""):
        return f"  {label:<44}{fmt(d.get('median', d.get('median_ms'))):>10}{fmt(d.get('max', d.get('max_ms'))):>10}{extra}"

    tt = res.get("time_to_ipv4")
    if tt:
        inc, w = tt["incident"], tt["weights"]
        out.append(f"{'Time to IPv4 (%d run(s) each)' % len(w['runs']):<46}{'median':>10}{'max':>10}")
        out.append(row("incident: ALB back to ipv4", inc["to_alb_ipv4"]))
        out.append(row("incident: every change undone", inc["to_everything_undone"]))
        out.append(row("weights: listener+rule back on IPv4", w["time_to_ipv4"]))
        out.append(row("  of which the gate confirming the failure", w["gate_confirmation"]))
        out.append(row("  and the reaction after the gate failed", w["reaction"]))
        out.append(row("    waiting on AWS (proxy + emulator)", w["reaction_aws"]))
        out.append(row("    the timing relay", w["reaction_relay"]))
        out.append(row("    the tool's own time", w["reaction_tool_own"]))
        out.append("")
    r = res.get("resume")
    if r:
        out.append(f"{'Resume after SIGKILL at mutating call %d = change %d of %d (%d run(s))' % (r['killed_at_mutation'], r['killed_after_change'], r['changes'], len(r['runs'])):<46}{'median':>10}{'max':>10}")
        out.append(row("journal `started` -> first change", r["first_intent_ms"],
                       extra=f"   fresh apply: {fmt_ms(r['fresh_apply_first_intent_ms']['median'])}, "
                             f"without its marker {fmt_ms(r['fresh_apply_first_intent_without_marker_ms']['median'])}"))
        out.append(row("process start -> first change", r["process_to_first_intent_ms"],
                       extra=f"   fresh apply: {fmt_ms(r['fresh_apply_process_to_first_intent_ms']['median'])}, "
                             f"without its marker {fmt_ms(r['fresh_apply_process_to_first_intent_without_marker_ms']['median'])}"))
        out.append(row("resume to completion", r["wall_s"], fmt=fmt_s))
        out.append("")
    if res.get("problems"):
        out.append("PROBLEMS:")
        out += [f"  - {p.splitlines()[0]}" for p in res["problems"]]
    else:
        out.append("All checks passed.")
    return "\n".join(out)


# -- main -----------------------------------------------------------------------------


def parse(argv):
    p = argparse.ArgumentParser(prog="bench/run", description="dualstack benchmark (see bench/bench.py's docstring)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 run, 5 ms latency, no large apply; for the test suite")
    p.add_argument("--latency-ms", type=float, help="added per AWS call by the proxy (default 30; smoke 5)")
    p.add_argument("--runs", type=int, help="S3-state, time-to-IPv4 and resume runs (default 5; smoke 1)")
    p.add_argument("--cutover-runs", type=int, help="tool-vs-script runs each (default 3; smoke 1)")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="the script's sleep between polls (default 1)")
    p.add_argument("--large-apply", action=argparse.BooleanOptionalAction, default=None, help="also apply the large VPC (default: on, off with --smoke)")
    p.add_argument("--large-apply-limit", type=float, default=600, help="seconds the large apply may take (default 600)")
    p.add_argument("--subnets", type=int)
    p.add_argument("--route-tables", type=int)
    p.add_argument("--groups", type=int)
    p.add_argument("--load-balancers", type=int)
    p.add_argument("--only", help="comma-separated sections: cutover,s3,large,ttipv4,resume")
    p.add_argument("--json", type=Path, help="where to write the results (default bench/results/latest.json; smoke: smoke.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (runbooks, journals, outputs)")
    a = p.parse_args(argv)
    smoke = a.smoke
    defaults = dict(latency_ms=5 if smoke else 30, runs=1 if smoke else 5, cutover_runs=1 if smoke else 3,
                    large_apply=not smoke, subnets=20 if smoke else 300, route_tables=2 if smoke else 30,
                    groups=10 if smoke else 200, load_balancers=2 if smoke else 20)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.json is None:
        a.json = BENCH / "results" / ("smoke.json" if smoke else "latest.json")
    a.sections = set((a.only or "cutover,s3,large,ttipv4,resume").split(","))
    return a


def main(argv=None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    bin_path = Path(os.environ.get("DUALSTACK_BIN", ROOT / "target/debug/dualstack"))
    if not os.access(bin_path, os.X_OK):
        print(f"bench: {bin_path} not found: build it first (cargo build), or set DUALSTACK_BIN. The benchmark builds nothing.", file=sys.stderr)
        return 2
    for need in (h.PY, h.GUNICORN, AWS_CLI):
        if not need.exists():
            print(f"bench: {need} missing: run bench/run, which creates the virtualenvs", file=sys.stderr)
            return 2
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="dualstack-bench-"))
    # Run a private copy: the binary may be rebuilt while the benchmark runs, and every figure
    # must come from one build.
    built_at = datetime.fromtimestamp(bin_path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    bin_copy = work / "dualstack"
    shutil.copy2(bin_path, bin_copy)
    bin_sha = sha256(bin_copy)
    b = Bench(a, bin_copy, work)
    res = b.results
    res["command"] = os.environ.get("BENCH_COMMAND") or " ".join(shlex.quote(x) for x in [sys.argv[0], *sys.argv[1:]])
    res["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    res["machine"] = machine()
    res["versions"] = {"dualstack": sh([str(bin_copy), "--version"]), "dualstack_bin": str(bin_path), "dualstack_sha256": bin_sha,
                       "dualstack_built_at": built_at,
                       "git_head": sh(["git", "-C", str(ROOT), "rev-parse", "HEAD"]),
                       "git_dirty": bool(sh(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])),
                       "awscli": sh([str(AWS_CLI), "--version"])}
    res["config"] = {"smoke": a.smoke, "latency_ms": a.latency_ms, "runs": a.runs, "cutover_runs": a.cutover_runs,
                     "marker_settle_s": b.settle, "marker_settle_from": b.settle_from,
                     "script_poll_seconds": a.poll_seconds, "large_apply": a.large_apply, "large_apply_limit_s": a.large_apply_limit, "gates": "interval 200ms, healthy_threshold 1, unhealthy_threshold 2",
                     "large_sizes": {"subnets": a.subnets, "route_tables": a.route_tables, "groups": a.groups, "load_balancers": a.load_balancers}}
    try:
        b.up()
        if "cutover" in a.sections:
            b.section("cutover", b.cutover)
        if "s3" in a.sections:
            b.section("s3", b.s3_state)
        if "ttipv4" in a.sections:
            b.section("ttipv4", b.time_to_ipv4)
        if "resume" in a.sections:
            b.section("resume", b.resume)
        if "large" in a.sections:  # last: its apply may take up to its 10-minute limit
            b.section("large", b.large)
    except Exception as e:  # noqa: BLE001
        b.problems.append(f"set-up: {type(e).__name__}: {e}\n{traceback.format_exc()}")
    finally:
        b.down()
    if not bin_path.exists() or sha256(bin_path) != bin_sha:
        res["versions"]["note"] = f"{bin_path} was rebuilt during the run; every figure is from the copy taken at the start"
    res["problems"] = b.problems
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["total_seconds"] = round(time.perf_counter() - t_start, 1)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    keep = a.keep or bool(b.problems)
    print(f"\n{a.json.relative_to(ROOT) if a.json.is_relative_to(ROOT) else a.json} written; total {res['total_seconds']} s"
          + (f"; work dir kept: {work}" if keep else ""))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if b.problems else 0


if __name__ == "__main__":
    sys.exit(main())
