#!/usr/bin/python3
"""dnsd's memory at scale (not a test): a community of MEMBERS members
(default 1,000,000) in two shapes, each served by dnsd with THREADS worker
threads (default 2), and dnsd's resident memory read from /proc at three
points: ready (the first answer, which builds the view map), views
(after 16 SRV queries from as many ports, so that every thread of two has
answered in views: where each thread kept a map of its own, each has
built it), and after SECONDS (default 10) of dnsperf over the members'
SRV names.

    mem_bench.py POLICYCTL DNSD [MEMBERS] [SECONDS] [THREADS] [SHAPES] [DNSD_ARG...]

DNSD_ARGs go to dnsd as they are (--cache-size 16M).  SHAPES is a comma
list (default all,some):
  all   every member lists a querier prefix, as dns_bench.py's community
        (10.X.Y.0/24 from the member's number: 65,536 distinct prefixes);
  some  20,000 members list one, as churn_bench.py's community
dnsd runs with --rrl-rate 0 (as in dns_bench.py), so that the load is
answered and fills the answer caches rather than being limited.

For each point the table gives VmRSS, RssAnon (heap: the view maps, the
answer caches, the epoch), RssFile (mostly the store's pages touched) and
the resident part of the store's mapping alone (data.mdb, from smaps);
after the load it adds the heap bytes in use that malloc_stats reports
(attaching gdb for a moment, if gdb is there and may attach).  Then the
parts: one view map (bench_addrmap, built beside dnsd, makes the same
map alone and reports its heap), and the answer caches, the heap after
the load less the heap at "views".  The load
is dnsperf -c 2 (two sockets, so both threads of a two-thread dnsd get
queries) from 127.0.0.1, a querier that is no member, over 200,000 random
SRV names of the members (10% unknown).  Everything lives in a temporary
directory, removed at the end; every daemon started is stopped.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_bench import HOST, ZONE, apex_text, free_port, stop, wait_up  # noqa: E402

WITH_QUERIERS = 20000   # churn_bench.py's "some"


def write_policy(path, members, shape):
    with open(path, "w") as f:
        f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n"
                f"    - {{host: ch.{ZONE}, port: 5269, tls-port: 5270}}\n"
                "  fallback: allowed\n  ttl: 60\nmembers:\n")
        for i in range(members):
            q = ""
            if shape == "all" or i < WITH_QUERIERS:
                q = f", queriers: [10.{i >> 8 & 255}.{i & 255}.0/24]"
            f.write(f"  m{i:07d}.{ZONE}: {{level: 1, targets: [xmpp.m{i:07d}.{ZONE}:5269]{q}}}\n")


def write_queries(path, members):
    rnd = random.Random(7)
    with open(path, "w") as f:
        for _ in range(200000):
            kind = "u" if rnd.random() < 0.1 else "m"
            f.write(f"_xmpp-server._tcp.{kind}{rnd.randrange(members):07d}.{ZONE} SRV\n")


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    store = 0
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                current = line.split()[-1] if len(line.split()) > 5 else ""
            elif line.startswith("Rss:") and current and current.endswith("data.mdb"):
                store += int(line.split()[1])
    out["store"] = store
    return out


def heap_in_use(pid, log_path):
    """The bytes malloc has handed out and not had back, from malloc_stats
    (written to dnsd's stderr, its log), or None."""
    gdb = shutil.which("gdb")
    if not gdb:
        return None
    with open(log_path) as f:
        f.seek(0, 2)
        start = f.tell()
    subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "call (void)malloc_stats()"],
                   capture_output=True, timeout=60)
    time.sleep(0.2)
    with open(log_path) as f:
        f.seek(start)
        text = f.read()
    m = re.findall(r"in use bytes\s*=\s*(\d+)", text)
    return int(m[-1]) if m else None


def view_map_bytes(dnsd, members, shape):
    """The heap of one thread's view map for the shape, or None."""
    exe = os.path.join(os.path.dirname(os.path.abspath(dnsd)), "..", "tests", "bench",
                       "bench_addrmap")
    if not os.path.exists(exe):
        return None
    args = [exe, str(members)] if shape == "all" else [exe, "--distinct", str(WITH_QUERIERS)]
    r = subprocess.run(args + ["0"], capture_output=True, text=True, timeout=300)
    m = re.search(r"(\d+) bytes of heap", r.stdout)
    return int(m.group(1)) if m else None


def dig(port, name, qtype):
    return subprocess.run(["dig", f"@{HOST}", "-p", str(port), "+norec", "+tries=1", "+time=5",
                           name, qtype], capture_output=True, text=True, timeout=30).stdout


def run_shape(policyctl, dnsd, work, members, seconds, threads, shape, extra):
    db = os.path.join(work, f"store-{shape}")
    policy = os.path.join(work, f"policy-{shape}.yaml")
    write_policy(policy, members, shape)
    subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([policyctl, "--db", db, "load", policy], check=True, stdout=subprocess.DEVNULL)
    os.unlink(policy)
    port = free_port()
    cmd = [dnsd, "--db", db, "--zone", f"{work}/apex.zone", "--listen", f"{HOST}:{port}",
           "--threads", str(threads), "--rrl-rate", "0", *extra]
    log_path = os.path.join(work, f"dnsd-{shape}.log")
    log = open(log_path, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        try:
            wait_up(port, proc, "dnsd")
        except SystemExit:
            log.flush()
            with open(log_path) as f:
                sys.stderr.write(f.read()[-2000:])
            raise
        ready = time.monotonic() - t0
        rows.append(("ready", status(proc.pid), None))
        # Each dig asks from a new port, which SO_REUSEPORT hashes to some
        # thread: 16 of them reach every thread of two (all but surely).
        for i in range(16):
            out = dig(port, f"_xmpp-server._tcp.m{i:07d}.{ZONE}", "SRV")
            if "status: NOERROR" not in out:
                sys.exit(f"dnsd gives no SRV answer:\n{out}")
        rows.append(("views", status(proc.pid), heap_in_use(proc.pid, log_path)))
        r = subprocess.run(["dnsperf", "-s", HOST, "-p", str(port), "-d",
                            os.path.join(work, "queries"), "-l", str(seconds), "-T", "1",
                            "-c", "2", "-q", "200"],
                           capture_output=True, text=True, timeout=seconds + 60)
        qps = re.search(r"Queries per second:\s+([\d.]+)", r.stdout)
        st = status(proc.pid)
        rows.append((f"{seconds}s load", st, heap_in_use(proc.pid, log_path)))
    finally:
        stop(proc, log)
    return ready, rows, float(qps.group(1)) if qps else 0.0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    policyctl, dnsd = sys.argv[1], sys.argv[2]
    members = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    shapes = (sys.argv[6] if len(sys.argv) > 6 else "all,some").split(",")
    extra = sys.argv[7:]
    work = tempfile.mkdtemp(prefix="mem-bench-")
    try:
        with open(os.path.join(work, "apex.zone"), "w") as f:
            f.write(apex_text(1))
        write_queries(os.path.join(work, "queries"), members)
        print(f"{members} members, {threads} thread(s), load: dnsperf -c 2 for {seconds} s; "
              f"MiB{'; dnsd ' + ' '.join(extra) if extra else ''}")
        print(f"{'shape':6s} {'point':10s} {'VmRSS':>7s} {'RssAnon':>8s} {'RssFile':>8s} "
              f"{'store':>7s} {'heap':>7s}")
        for shape in shapes:
            ready, rows, qps = run_shape(policyctl, dnsd, work, members, seconds, threads, shape,
                                         extra)
            for point, st, heap in rows:
                h = f"{heap / 1048576:7.1f}" if heap is not None else f"{'-':>7s}"
                print(f"{shape:6s} {point:10s} {st['VmRSS'] / 1024:7.1f} {st['RssAnon'] / 1024:8.1f} "
                      f"{st['RssFile'] / 1024:8.1f} {st['store'] / 1024:7.1f} {h}")
            print(f"{shape:6s} ready after {ready:.2f} s; load {qps:.0f} q/s", flush=True)
            vm = view_map_bytes(dnsd, members, shape)
            views, last = rows[1][2], rows[2][2]
            line = f"{shape:6s} parts:"
            if vm is not None:
                line += f" view map {vm / 1048576:.1f} MiB;"
            if views is not None and last is not None:
                line += f" answer caches {(last - views) / 1048576:.1f} MiB in all"
            print(line, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
