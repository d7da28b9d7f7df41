#!/usr/bin/env python3
"""DNS benchmark (not a test): the same community of MEMBERS members served
by dnsd, Knot DNS and NSD, each driven by dnsperf for SECONDS with the same
query mix (SRV of members, 10% of them unknown), one after the other in one
run.  Prints queries per second for each and dnsd's ratio to the better of
the other two.

    dns_bench.py [--tcp] [--pin] [--echo UDP_ECHO] [--load UDP_LOAD] [--rate QPS]
                 [--rounds N] POLICYCTL DNSD [MEMBERS] [SECONDS] [THREADS]

Every server gets THREADS workers (default 1) and dnsperf gets one thread,
so on a two-core machine a server and its load each have a core; with
--pin the server is held to CPU 0 and dnsperf to CPU 1 (taskset), so that
neither borrows the other's.  --tcp sends every query over TCP: dnsperf
keeps 4 connections with up to 200 queries outstanding in all, so each
connection carries a pipelined stream (RFC 7766), which is how resolvers
use TCP under load.  --echo runs tests/bench/udp_echo (built beside the
other benchmarks) as well: the most one thread can answer over UDP when
answering costs nothing, the ceiling the others are measured against.  dnsd
answers a querier that is no member, so every SRV answer is the
clearinghouse alone; the other two serve exactly those records from a
zone file.  NSD runs with rrl-ratelimit: 0 and dnsd with --rrl-rate 0, as
their rate limits would otherwise cap them (Knot DNS limits only with
mod-rrl, which is not loaded here).  Everything lives in a temporary directory, removed at
the end; each run stops after SECONDS.

Each line also gives each side's CPU over its run (the server's with the
processes it forked) and the server's CPU per answer.  On two cores a
pinned dnsperf uses all of its own before any of these servers does, so
its rates say more of dnsperf than of the server: --load runs
tests/bench/udp_load (built beside the other benchmarks) in its place over
UDP, the same closed loop of 200 queries in flight at a fraction of the
cost, and --rate QPS has dnsperf offer a fixed rate that every server
keeps up with, for the CPU per answer alone.

On a shared machine one run of one server can land on a burst of another
tenant's work and lose a fifth of its rate.  --rounds N runs every server
N times, in turn (dnsd, Knot DNS, NSD, the echo; the next round starts with
the next of them), prints each round, and reports each server's median rate and the median of the
rounds' ratios with their range: a burst then moves one round, not the
result.  Every run starts its server afresh, dnsd with an empty cache.
"""
import statistics
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ZONE = "bench.example"
HOST = "127.0.0.1"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((HOST, 0))
        return u.getsockname()[1]


def apex_text(serial):
    return (f"$ORIGIN {ZONE}.\n$TTL 3600\n"
            f"@ IN SOA ns1 hostmaster {serial} 7200 3600 1209600 60\n"
            "@ IN NS ns1\n@ IN NS ns2\n"
            "ns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n"
            "ch IN A 192.0.2.5\nch IN AAAA 2001:db8::5\n")


def write_inputs(work, members, serial=1):
    policy = os.path.join(work, "policy.yaml")
    with open(policy, "w") as f:
        f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n"
                f"    - {{host: ch.{ZONE}, port: 5269, tls-port: 5270}}\n"
                "  fallback: allowed\n  ttl: 60\nmembers:\n")
        for i in range(members):
            f.write(f"  m{i:05d}.{ZONE}: {{level: 1, targets: [xmpp.m{i:05d}.{ZONE}:5269], "
                    f"queriers: [10.{i >> 8 & 255}.{i & 255}.0/24]}}\n")
    with open(os.path.join(work, "apex.zone"), "w") as f:
        f.write(apex_text(serial))
    # The same answers as a static zone, for Knot DNS and NSD.
    with open(os.path.join(work, "full.zone"), "w") as f:
        f.write(apex_text(serial))
        for i in range(members):
            f.write(f"_xmpp-server._tcp.m{i:05d} 60 IN SRV 0 0 5269 ch.{ZONE}.\n")
    rnd = random.Random(7)
    with open(os.path.join(work, "queries"), "w") as f:
        for _ in range(200000):
            if rnd.random() < 0.1:
                f.write(f"_xmpp-server._tcp.u{rnd.randrange(members):05d}.{ZONE} SRV\n")
            else:
                f.write(f"_xmpp-server._tcp.m{rnd.randrange(members):05d}.{ZONE} SRV\n")
    return policy


def wait_up(port, proc, name):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode}")
        r = subprocess.run(["dig", f"@{HOST}", "-p", str(port), "+short", "+tries=1", "+time=1",
                            f"ns1.{ZONE}", "A"], capture_output=True, text=True)
        if "192.0.2.1" in r.stdout:
            return
        time.sleep(0.2)
    sys.exit(f"{name} did not answer")


def check_answer(port, name):
    r = subprocess.run(["dig", f"@{HOST}", "-p", str(port), "+norec",
                        f"_xmpp-server._tcp.m00042.{ZONE}", "SRV"], capture_output=True, text=True)
    if "0 0 5269 ch." not in r.stdout or "status: NOERROR" not in r.stdout:
        sys.exit(f"{name} gives a different answer:\n{r.stdout}")


TCP = False
PIN = False
RATE = 0   # --rate: queries per second dnsperf offers (-Q); 0: as many as answered
LOAD = None   # --load: tests/bench/udp_load in dnsperf's place (UDP only)
CPU = {}   # name: (server's CPU, dnsperf's CPU), in cores, over its run


def pinned(cpu, cmd):
    return ["taskset", "-c", str(cpu), *cmd] if PIN else cmd


def cpu_seconds(pid):
    """User + system CPU seconds used so far by a process and every live
    process below it (NSD answers from a child it forks)."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, ticks, grew = {pid}, 0, True
    while grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in tree and p not in tree:
                tree.add(p)
                grew = True
    for p in tree:
        ticks += stats.get(p, (0, 0))[1]
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def dnsperf(port, queries, seconds):
    if LOAD and not TCP:
        cmd = [LOAD, f"{HOST}:{port}", queries, str(seconds), "200"]
    else:
        mode = ["-m", "tcp", "-c", "4"] if TCP else ["-c", "1"]
        cmd = ["dnsperf", "-s", HOST, "-p", str(port), "-d", queries, "-l", str(seconds), "-T", "1",
               *mode, "-q", "200", *(["-Q", str(RATE)] if RATE else [])]
    r = subprocess.run(pinned(1, cmd),
                       capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"Queries per second:\s+([\d.]+)", r.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", r.stdout)
    if not m:
        sys.exit(f"{cmd[0]} failed:\n" + r.stdout + r.stderr)
    return float(m.group(1)), int(lost.group(1)) if lost else 0


def run_server(name, cmd, port, work, seconds, echo=False):
    log = open(os.path.join(work, f"{name}.log"), "w")
    proc = subprocess.Popen(pinned(0, cmd), stdout=log, stderr=subprocess.STDOUT)
    try:
        if echo:
            time.sleep(0.5)   # it answers anything, once bound
            if proc.poll() is not None:
                sys.exit(f"{name} exited with {proc.returncode}")
        else:
            wait_up(port, proc, name)
            check_answer(port, name)
        # How busy each side was: a server short of its whole core was not
        # what limited the rate (with --pin, each has one core).
        server0, load0, t0 = cpu_seconds(proc.pid), children_cpu(), time.monotonic()
        qps, lost = dnsperf(port, os.path.join(work, "queries"), seconds)
        wall = time.monotonic() - t0
        CPU[name] = ((cpu_seconds(proc.pid) - server0) / wall, (children_cpu() - load0) / wall)
        return qps, lost
    finally:
        stop(proc, log)


def stop(proc, log):
    """End a server started for a run (SIGTERM, then SIGKILL after 20 s)
    and close its log."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def knot_conf(work, port, threads):
    path = os.path.join(work, "knot.conf")
    with open(path, "w") as f:
        f.write(f"""server:
    listen: {HOST}@{port}
    rundir: {work}
    udp-workers: {threads}
    tcp-workers: {threads}
    background-workers: 1
database:
    storage: {work}
template:
  - id: default
    storage: {work}
    semantic-checks: off
zone:
  - domain: {ZONE}
    file: {work}/full.zone
    zonefile-sync: -1
    journal-content: none
""")
    return path


def nsd_conf(work, port, threads):
    path = os.path.join(work, "nsd.conf")
    with open(path, "w") as f:
        f.write(f"""server:
    ip-address: {HOST}@{port}
    server-count: {threads}
    tcp-count: 1000
    zonesdir: "{work}"
    pidfile: "{work}/nsd.pid"
    database: ""
    xfrdfile: "{work}/xfrd.state"
    zonelistfile: "{work}/zone.list"
    username: ""
    rrl-ratelimit: 0
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: {ZONE}
    zonefile: full.zone
""")
    return path


def ratios(runs, r):
    """Round r's dnsd / best peer and dnsd / echo (None without the echo)."""
    dnsd = runs["dnsd"][r][0]
    best = max(runs["knot"][r][0], runs["nsd"][r][0])
    return dnsd / best, dnsd / runs["echo"][r][0] if "echo" in runs else None


def spread(values):
    """One ratio as it was, or the median of several and their range."""
    if len(values) == 1:
        return f"{values[0]:.2f}x"
    return f"{statistics.median(values):.2f}x (median of {len(values)} rounds; " \
           f"{min(values):.2f} to {max(values):.2f})"


def main():
    global TCP, PIN, RATE, LOAD
    args = sys.argv[1:]
    if "--load" in args:
        i = args.index("--load")
        LOAD = args[i + 1]
        del args[i:i + 2]
    TCP, PIN = "--tcp" in args, "--pin" in args
    if "--rate" in args:
        i = args.index("--rate")
        RATE = int(args[i + 1])
        del args[i:i + 2]
    rounds = 1
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1]) if i + 1 < len(args) and args[i + 1].isdigit() else 0
        if rounds < 1:
            sys.exit("--rounds takes a number of rounds, 1 or more")
        del args[i:i + 2]
    echo = None
    if "--echo" in args:
        i = args.index("--echo")
        echo = args[i + 1]
        del args[i:i + 2]
    args = [a for a in args if a not in ("--tcp", "--pin")]
    policyctl, dnsd = args[0], args[1]
    members = int(args[2]) if len(args) > 2 else 10000
    seconds = int(args[3]) if len(args) > 3 else 20
    threads = int(args[4]) if len(args) > 4 else 1
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    nsd = shutil.which("nsd") or "/usr/sbin/nsd"
    work = tempfile.mkdtemp(prefix="dns-bench-")
    try:
        policy = write_inputs(work, members)
        db = os.path.join(work, "store")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([policyctl, "--db", db, "load", policy], check=True, stdout=subprocess.DEVNULL)
        servers = [("dnsd", lambda port: [dnsd, "--db", db, "--zone", f"{work}/apex.zone",
                                          "--listen", f"{HOST}:{port}", "--threads", str(threads),
                                          "--rrl-rate", "0"]),
                   ("knot", lambda port: [knotd, "-c", knot_conf(work, port, threads)]),
                   ("nsd", lambda port: [nsd, "-d", "-c", nsd_conf(work, port, threads)])]
        if echo and not TCP:
            servers.append(("echo", lambda port: [echo, f"{HOST}:{port}"]))
        load = "udp_load, 200 in flight" if LOAD and not TCP else "dnsperf -T 1 -q 200"
        print(f"{members} members, {seconds} s each, {threads} server thread(s), {load}"
              f"{' over TCP on 4 connections' if TCP else ''}{', pinned' if PIN else ''}, "
              f"10% unknown names{f', {rounds} rounds' if rounds > 1 else ''}", flush=True)
        runs = {name: [] for name, _ in servers}
        for r in range(rounds):
            # Each round starts one server further on, so that none is
            # always the first (or always the one after the echo).
            for name, cmd in servers[r % len(servers):] + servers[:r % len(servers)]:
                port = free_port()
                qps, lost = run_server(name, cmd(port), port, work, seconds, echo=name == "echo")
                runs[name].append((qps, lost, CPU.get(name, (0, 0))))
            if rounds > 1:
                print(f"  round {r + 1}: " + ", ".join(f"{n} {v[-1][0]:.0f}" for n, v in runs.items()) +
                      f"; dnsd / best {ratios(runs, r)[0]:.2f}x" +
                      (f", / echo {ratios(runs, r)[1]:.2f}x" if "echo" in runs else ""), flush=True)
        for name, v in runs.items():
            qps = statistics.median(x[0] for x in v)
            lost = sum(x[1] for x in v)
            server_cpu, load_cpu = (statistics.median(x[2][i] for x in v) for i in (0, 1))
            print(f"  {name:5s} {qps:12.0f} qps   ({lost} lost)   CPU: server {server_cpu:4.0%}, "
                  f"load {load_cpu:4.0%}; server CPU per answer "
                  f"{server_cpu / qps * 1e6 if server_cpu else float('nan'):.2f} us"
                  f"{' (medians of the rounds; lost: all rounds)' if rounds > 1 else ''}")
        each = [ratios(runs, r) for r in range(rounds)]
        print(f"  dnsd / best of Knot DNS and NSD: {spread([e[0] for e in each])}")
        if "echo" in runs:
            print(f"  dnsd / echo ceiling: {spread([e[1] for e in each])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
