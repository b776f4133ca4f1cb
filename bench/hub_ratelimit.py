"""Hub crawl under the rate limit: this crawler against a plain paced script.

The stand-in allows L requests per window of W seconds (120 per 10 s by
default, as fixed windows like the Hub's) and serves an org of 200
repositories with 3 tags each.  Each client reads all of it:

* the crawler, ``scrapy crawl org``, with the project's settings
  (AutoThrottle on), and once more with AutoThrottle off;
* a sequential client as the usual scripts are written: urllib, one
  request at a time, ``time.sleep(W / L)`` after each, following the same
  endpoints (listing pages, each repository's detail, its tag pages) and
  waiting ``Retry-After`` when it gets a 429.

Every client runs twice: against the stand-in as it is, answering in about
a millisecond, and with a latency added to every answer (150 ms by default,
of the order of a round trip to the real Hub).

Printed for each run: wall time, Hub requests, 429 answers, completeness
(tags stored or read against tags served), the share of L used in each
rate-limit window that closed before the run ended (mean and lowest), and
requests per second as a share of L / W over the run.

Targets (issue 4): >= 90% of L used per window, <= 1% of answers 429.

Usage: ``python -m bench.hub_ratelimit [--limit 120] [--window 10]
[--repos 200] [--tags 3] [--latency 0 0.15]``
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import run_crawl
from standin.process import StandIn

NAMESPACE = "bench"
PAGE_SIZE = 100


@dataclass
class Run:
    title: str
    wall_seconds: float
    tags: int
    extra: str = ""


@dataclass
class Windows:
    """Requests the stand-in let through, grouped into its rate-limit windows."""

    used: list[int]  # per window that closed before the run ended
    admitted: int
    rate_limited: int
    span: float  # seconds from the first request to the last


def windows_of(log: list[list[Any]], window: float, opened: float) -> Windows:
    """Replay the stand-in's windows over its request log.

    Setting the limit opens the first window (at ``opened``); each later one
    opens with the first request after the last one closed.  The log's times
    (when each answer went out) follow the same rule closely enough.
    """
    times = sorted((entry[0], entry[3]) for entry in log)
    used: list[int] = []
    start = opened
    count = 0
    for moment, status in times:
        if moment >= start + window:
            used.append(count)
            start, count = moment, 0
        if status != 429:
            count += 1
    rate_limited = sum(1 for _, status in times if status == 429)
    span = times[-1][0] - times[0][0] if times else 0.0
    return Windows(used, len(times) - rate_limited, rate_limited, span)


def sequential_client(base_url: str, limit: int, window: float) -> int:
    """Read the org one request at a time, sleeping W / L after each."""
    pause = window / limit

    def get(url: str) -> Any:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=60) as answer:
                    body = answer.read()
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 60))
                continue
            finally:
                time.sleep(pause)
            return json.loads(body)

    names: list[str] = []
    url: str | None = (
        f"{base_url}/v2/namespaces/{NAMESPACE}/repositories?page_size={PAGE_SIZE}"
    )
    while url:
        page = get(url)
        names += [entry["name"] for entry in page["results"]]
        url = page["next"]
    tags = 0
    for name in names:
        repository = f"{base_url}/v2/namespaces/{NAMESPACE}/repositories/{name}"
        get(repository)
        url = f"{repository}/tags?page_size={PAGE_SIZE}"
        while url:
            page = get(url)
            tags += len(page["results"])
            url = page["next"]
    return tags


def crawler(hub: StandIn, workdir: Path, autothrottle: bool) -> Run:
    db = workdir / f"crawl-{time.monotonic_ns()}.db"
    measured = run_crawl(
        "org",
        [f"org={NAMESPACE}"],
        {
            "DOCKERHUB_HUB_URL": hub.url,
            "DOCKERHUB_DB": str(db),
            "AUTOTHROTTLE_ENABLED": str(autothrottle).lower(),
            "LOG_LEVEL": "WARNING",
        },
    )
    if measured.returncode != 0:
        print(measured.log[-3000:])
        raise SystemExit(f"crawl failed with exit {measured.returncode}")
    with sqlite3.connect(db) as connection:
        tags = int(connection.execute("SELECT count(*) FROM tags").fetchone()[0])
        (text,) = connection.execute(
            "SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    stats = json.loads(text)
    extra = (
        f"pauses {stats.get('dockerhub/ratelimit/pauses', 0)}, "
        f"paused {stats.get('dockerhub/ratelimit/paused_seconds', 0):.1f} s"
    )
    title = f"crawler, AutoThrottle {'on' if autothrottle else 'off'}"
    return Run(title, measured.wall_seconds, tags, extra)


def script(hub: StandIn, limit: int, window: float) -> Run:
    started = time.perf_counter()
    tags = sequential_client(hub.url, limit, window)
    return Run("sequential script, sleep(W/L)", time.perf_counter() - started, tags)


def prepare(hub: StandIn, limit: int, window: float, latency: float) -> float:
    """Set the stand-in up for one run; return when its first window opened."""
    faults = []
    if latency:
        faults = [{"match": ".", "action": "delay", "seconds": latency, "times": None}]
    hub.control("PUT", "/_standin/faults", faults)
    hub.control("POST", "/_standin/stats/reset")
    # Setting the limit again opens a fresh window.
    opened = time.time()
    hub.control("PUT", "/_standin/ratelimit", {"limit": limit, "window": window})
    return opened


def report(
    run: Run, hub: StandIn, limit: int, window: float, opened: float, expected: int
) -> None:
    stats = hub.control("GET", "/_standin/stats")
    assert isinstance(stats, dict)
    seen = windows_of(stats["log"], window, opened)
    requests = seen.admitted + seen.rate_limited
    print(f"\n  {run.title}")
    print(f"    wall time            {run.wall_seconds:>8.1f} s")
    print(f"    Hub requests         {requests:>8,}")
    print(
        f"    429 answers          {seen.rate_limited:>8,}"
        f"  ({100 * seen.rate_limited / max(requests, 1):.2f}%)"
    )
    print(f"    tags                 {run.tags:>8,} of {expected:,}")
    if seen.used:
        shares = [100 * used / limit for used in seen.used]
        # The first window opens when the limit is set, so it also holds the
        # client's start-up; every closed window is listed, in order.
        listed = " ".join(f"{share:.0f}" for share in shares)
        print(
            f"    L used per window    {sum(shares) / len(shares):>8.1f}%"
            f"  (lowest {min(shares):.1f}%; each: {listed})"
        )
    else:
        print("    L used per window         n/a  (no window closed)")
    rate = seen.admitted / seen.span if seen.span else 0.0
    print(
        f"    requests per second  {rate:>8.2f}"
        f"  ({100 * rate / (limit / window):.1f}% of L/W)"
    )
    if run.extra:
        print(f"    rate limiter         {run.extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=120)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--tags", type=int, default=3)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.15])
    options = parser.parse_args()
    expected = options.repos * options.tags
    minimum = math.ceil(options.repos / PAGE_SIZE) + options.repos * (
        1 + math.ceil(options.tags / PAGE_SIZE)
    )
    spec = f"{NAMESPACE}:{options.repos}:{options.tags}"
    print(
        f"limit {options.limit} per {options.window:g} s window; org of "
        f"{options.repos} repositories x {options.tags} tags: {minimum} requests "
        f"at least, {minimum / options.limit:.1f} windows"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        StandIn("standin.hub", "--synthetic-org", spec) as hub,
    ):
        for latency in options.latency:
            print(f"\nlatency {1000 * latency:.0f} ms per answer")
            runs = [
                lambda: script(hub, options.limit, options.window),
                lambda: crawler(hub, Path(tmp), autothrottle=True),
                lambda: crawler(hub, Path(tmp), autothrottle=False),
            ]
            for run in runs:
                opened = prepare(hub, options.limit, options.window, latency)
                result = run()
                report(result, hub, options.limit, options.window, opened, expected)


if __name__ == "__main__":
    main()
