#!/usr/bin/python3
"""Commits under load (not a test): dnsd serving a community of MEMBERS
members (default 1,000,000; 20,000 of them with querier prefixes) while
policyctl commits one change at RATES per second, against the same run
without commits; and Knot DNS serving the same SRV records as a static zone
while dnspython sends it RFC 2136 updates at the same rates.

    churn_bench.py POLICYCTL DNSD [MEMBERS] [SECONDS] [RATES] [THREADS] [SERVERS]

RATES is a comma list (default 0,1,10,100; 0 is the run without
commits; a rate given several times is run that many times, and the
summary gives the medians); SERVERS a comma list of dnsd and knot (default both).  dnsd runs once with "fallback: always" and once with
"fallback: allowed".  The load is two dnsperf processes (-T 1 -c 1 -q 100),
one from 127.0.0.1 (no view) and one from 127.0.1.1 (a member's view),
over a working set of 50,000 names of the MEMBERS; a probe from 127.0.1.2
(another view) asks one query at a time, 200 a second, for the latency
percentiles, which dnsperf does not give.  Each commit changes the level
of a random member, so most commits touch no name of the working set, as
in a large federation.  A commit runs policyctl (dnsd) or sends one
update over TCP (Knot DNS); when they cannot keep the rate, the rate made
is what is printed.  dnsperf counts the queries still in flight when
its time is up as lost: a few dozen a run.  Before the reported runs a warm-up fills the
caches.  Everything lives in a temporary directory, removed
at the end; every run stops after SECONDS.
"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import dns.message
import dns.query
import dns.rdatatype
import dns.update

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_bench import HOST, ZONE, apex_text, free_port, stop, wait_up  # noqa: E402

SOURCES = ["127.0.0.1", "127.0.1.1"]   # dnsperf: no view, a view
PROBE = "127.0.1.2"                     # the latency probe: another view
WORKING_SET = 50000
WITH_QUERIERS = 20000


def mname(i):
    return f"m{i:07d}.{ZONE}"


def write_policy(path, members, fallback):
    with open(path, "w") as f:
        f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n"
                f"    - {{host: ch.{ZONE}, port: 5269, tls-port: 5270}}\n"
                f"  fallback: {fallback}\n  ttl: 60\n  default: {{min-peer-level: 1}}\n"
                "members:\n")
        for i in range(members):
            q = ""
            if i < WITH_QUERIERS:
                # The first members are the views the load comes from.
                pfx = f"127.0.1.{i}/32" if 1 <= i <= 2 else f"10.{i >> 8 & 255}.{i & 255}.0/24"
                q = f", queriers: [{pfx}]"
            f.write(f"  {mname(i)}: {{level: {1 + i % 3}, targets: [xmpp.{mname(i)}:5269]{q}}}\n")


def write_static(work, members):
    """The clearinghouse-only answers as a zone, for Knot DNS."""
    path = os.path.join(work, "full.zone")
    with open(path, "w") as f:
        f.write(apex_text(1))
        for i in range(members):
            f.write(f"_xmpp-server._tcp.m{i:07d} 60 IN SRV 0 0 5269 ch.{ZONE}.\n")
    return path


def write_queries(work, members):
    rnd = random.Random(7)
    path = os.path.join(work, "queries")
    names = [rnd.randrange(members) for _ in range(WORKING_SET)]
    with open(path, "w") as f:
        for _ in range(200000):
            f.write(f"_xmpp-server._tcp.{mname(rnd.choice(names))} SRV\n")
    return path, names


def dnsperf(port, source, queries, seconds, out):
    r = subprocess.run(["dnsperf", "-s", HOST, "-a", source, "-p", str(port), "-d", queries,
                        "-l", str(seconds), "-T", "1", "-c", "1", "-q", "100"],
                       capture_output=True, text=True, timeout=seconds + 60)
    qps = re.search(r"Queries per second:\s+([\d.]+)", r.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", r.stdout)
    sent = re.search(r"Queries sent:\s+(\d+)", r.stdout)
    if not qps:
        out.append((0.0, 0, 0, r.stdout + r.stderr))
        return
    out.append((float(qps.group(1)), int(lost.group(1)) if lost else 0,
                int(sent.group(1)) if sent else 0, ""))


def probe(port, names, stop_at, out):
    """One query at a time from a view: latency, and queries unanswered in 1 s."""
    rnd = random.Random(3)
    lat, lost = [], 0
    while time.monotonic() < stop_at:
        q = dns.message.make_query(f"_xmpp-server._tcp.{mname(rnd.choice(names))}", "SRV")
        t = time.monotonic()
        try:
            dns.query.udp(q, HOST, port=port, source=PROBE, timeout=1)
            lat.append(time.monotonic() - t)
        except dns.exception.Timeout:
            lost += 1
        time.sleep(max(0.0, 0.005 - (time.monotonic() - t)))
    out.append((lat, lost))


def committer(commit, rate, stop_at, out):
    """commit(i) at rate per second until stop_at (behind time, as fast as
    it can); how many were made and how many failed."""
    n, failed = 0, 0
    if rate:
        start = time.monotonic()
        while time.monotonic() < stop_at:
            due = start + n / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            try:
                commit(n)
            except Exception:   # noqa: BLE001 - a lost update is counted, not fatal
                failed += 1
            n += 1
    out.append((n - failed, failed))


def warm_up(port, queries, seconds):
    """Fill the server's cache before the runs that are reported."""
    out = []
    threads = [threading.Thread(target=dnsperf, args=(port, s, queries, seconds, out))
               for s in SOURCES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure(port, queries, names, seconds, rate, commit):
    stop_at = time.monotonic() + seconds
    perf, pr, com = [], [], []
    threads = [threading.Thread(target=dnsperf, args=(port, s, queries, seconds, perf))
               for s in SOURCES]
    threads.append(threading.Thread(target=probe, args=(port, names, stop_at, pr)))
    threads.append(threading.Thread(target=committer, args=(commit, rate, stop_at, com)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in perf:
        if p[3]:
            sys.exit("dnsperf failed:\n" + p[3])
    lat = sorted(pr[0][0])
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else float("nan")  # noqa: E731
    return {"qps": sum(p[0] for p in perf), "lost": sum(p[1] for p in perf),
            "sent": sum(p[2] for p in perf), "p50": pct(0.50), "p99": pct(0.99),
            "max": lat[-1] * 1000 if lat else float("nan"), "probe_lost": pr[0][1],
            "commits": com[0][0], "failed": com[0][1]}


def report(label, rate, r, seconds):
    print(f"  {label:16s} {rate:4d}/s ({r['commits'] / seconds:5.1f}/s made) {r['qps']:9.0f} qps  "
          f"lost {r['lost']}/{r['sent']}  probe p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms "
          f"max {r['max']:.1f} ms lost {r['probe_lost']}", flush=True)


def summary(label, runs):
    """Per rate, the median over its runs, against the median of the runs
    without commits (the machine may be shared: repeat rates to see the
    spread)."""
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    base = med([r["qps"] for rate, r in runs if rate == 0]) if any(x == 0 for x, _ in runs) else 0
    for rate in sorted({x for x, _ in runs}):
        rs = [r for x, r in runs if x == rate]
        qps = med([r["qps"] for r in rs])
        ratio = f"{qps / base * 100:5.1f}% of no commits" if base else ""
        print(f"  = {label:14s} {rate:4d}/s: {qps:9.0f} qps {ratio}, "
              f"p50 {med([r['p50'] for r in rs]):.2f} ms, p99 {med([r['p99'] for r in rs]):.2f} ms, "
              f"lost {sum(r['lost'] for r in rs)}/{sum(r['sent'] for r in rs)}, "
              f"probe lost {sum(r['probe_lost'] for r in rs)} ({len(rs)} runs)", flush=True)


def knot_conf(work, port, threads):
    path = os.path.join(work, "knot.conf")
    with open(path, "w") as f:
        f.write(f"""server:
    listen: {HOST}@{port}
    rundir: {work}
    udp-workers: {threads}
    tcp-workers: 1
    background-workers: 1
database:
    storage: {work}
acl:
  - id: update
    address: 127.0.0.0/8
    action: update
template:
  - id: default
    storage: {work}
    semantic-checks: off
zone:
  - domain: {ZONE}
    file: {work}/full.zone
    zonefile-sync: -1
    journal-content: changes
    acl: update
""")
    return path


def main():
    policyctl, dnsd = sys.argv[1], sys.argv[2]
    members = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    rates = [int(x) for x in (sys.argv[5] if len(sys.argv) > 5 else "0,1,10,100").split(",")]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    servers = (sys.argv[7] if len(sys.argv) > 7 else "dnsd,knot").split(",")
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    work = tempfile.mkdtemp(prefix="churn-bench-")
    try:
        queries, names = write_queries(work, members)
        db = os.path.join(work, "store")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(work, "apex.zone"), "w") as f:
            f.write(apex_text(1))
        rnd = random.Random(11)

        def pdb_commit(i):
            subprocess.run([policyctl, "--db", db, "set", mname(rnd.randrange(members)), "level",
                            str(1 + i % 3)], check=True, stdout=subprocess.DEVNULL)

        print(f"{members} members ({WITH_QUERIERS} with queriers), {seconds} s a run, "
              f"{threads} server thread(s); load: 2 x dnsperf -T 1 -c 1 -q 100 over "
              f"{WORKING_SET} names; probe: 200 q/s, one at a time", flush=True)
        for fallback in ("always", "allowed") if "dnsd" in servers else ():
            policy = os.path.join(work, "policy.yaml")
            write_policy(policy, members, fallback)
            subprocess.run([policyctl, "--db", db, "load", policy], check=True,
                           stdout=subprocess.DEVNULL)
            port = free_port()
            log = open(os.path.join(work, f"dnsd-{fallback}.log"), "w")
            proc = subprocess.Popen([dnsd, "--db", db, "--zone", f"{work}/apex.zone", "--listen",
                                     f"{HOST}:{port}", "--threads", str(threads)],
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_up(port, proc, "dnsd")
                warm_up(port, queries, min(seconds, 10))
                runs = []
                for rate in rates:
                    runs.append((rate, measure(port, queries, names, seconds, rate, pdb_commit)))
                    report(f"dnsd {fallback}", rate, runs[-1][1], seconds)
                summary(f"dnsd {fallback}", runs)
            finally:
                stop(proc, log)

        if "knot" not in servers:
            return
        write_static(work, members)
        port = free_port()
        log = open(os.path.join(work, "knot.log"), "w")
        proc = subprocess.Popen([knotd, "-c", knot_conf(work, port, threads)], stdout=log,
                                stderr=subprocess.STDOUT)

        def knot_commit(i):
            u = dns.update.Update(ZONE)
            u.replace(f"_xmpp-server._tcp.m{rnd.randrange(members):07d}", 60, "SRV",
                      f"0 {i % 100} 5269 ch.{ZONE}.")
            dns.query.tcp(u, HOST, port=port, timeout=5)

        try:
            wait_up(port, proc, "knot")
            warm_up(port, queries, min(seconds, 10))
            runs = []
            for rate in rates:
                runs.append((rate, measure(port, queries, names, seconds, rate, knot_commit)))
                report("knot nsupdate", rate, runs[-1][1], seconds)
            summary("knot nsupdate", runs)
        finally:
            stop(proc, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
