#!/usr/bin/env python3
"""Zone transfer benchmark (not a test): AXFR of a community of MEMBERS
members from dnsd, and of the same records from Knot DNS as a primary, in
one run.  Prints, for each, the best wall time of RUNS transfers by kdig
(to /dev/null), the records and bytes received, and the server's peak
resident memory (VmHWM) before the first and after the last transfer.

    xfr_bench.py POLICYCTL DNSD [MEMBERS ...]   (default: 10000 100000)
    xfr_bench.py --ixfr POLICYCTL DNSD [MEMBERS ...]

--ixfr instead measures one commit's IXFR (one member suspended, which
under "inactive: nxdomain" takes its two SRV records out of the default
view): its size and the best time of RUNS, from dnsd, and from Knot DNS
as a primary given the same change as a zone file reload whose IXFR Knot
makes from the difference (zonefile-load: difference); then dnsd's query
throughput (dnsperf, DNSPERF_S seconds) alone and while a secondary
transfers the whole zone in a loop.

Everything lives in a temporary directory, removed at the end.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_bench import (HOST, ZONE, apex_text, check_answer, dnsperf, free_port, stop,  # noqa: E402
                       wait_up, write_inputs)

RUNS = 3
DNSPERF_S = 10
CHANGED = "m00042"


def full_zone(work, members):
    """What dnsd's default view of the community holds, as a zone file."""
    path = os.path.join(work, "xfr-full.zone")
    with open(path, "w") as f:
        f.write(apex_text(1))
        for i in range(members):
            f.write(f"_xmpp-server._tcp.m{i:05d} 60 IN SRV 0 0 5269 ch.{ZONE}.\n")
            f.write(f"_xmpps-server._tcp.m{i:05d} 60 IN SRV 0 0 5270 ch.{ZONE}.\n")
    return path


def knot_conf(work, port, zonefile, ixfr=False):
    path = os.path.join(work, "knot-xfr.conf")
    with open(path, "w") as f:
        f.write(f"""control:
    listen: {work}/knot.sock
server:
    listen: {HOST}@{port}
    rundir: {work}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {work}
acl:
  - id: local
    address: {HOST}
    action: transfer
template:
  - id: default
    storage: {work}
    semantic-checks: off
zone:
  - domain: {ZONE}
    file: {zonefile}
    zonefile-sync: -1
    zonefile-load: {"difference" if ixfr else "whole"}
    journal-content: {"changes" if ixfr else "none"}
    acl: local
""")
    return path


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1))


def transfer(port):
    t0 = time.monotonic()
    r = subprocess.run(["kdig", "-p", str(port), f"@{HOST}", "-t", "AXFR", ZONE],
                       capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    m = re.search(r"Received (\d+) B \((\d+) messages, (\d+) records\)", r.stdout)
    if r.returncode != 0 or not m or "ERROR" in r.stdout:
        sys.exit("kdig failed:\n" + r.stdout[-2000:] + r.stderr)
    return took, int(m.group(1)), int(m.group(2)), int(m.group(3))


def measure(name, cmd, port, work):
    log = open(os.path.join(work, f"{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, proc, name)
        before = hwm_kib(proc.pid)
        runs = [transfer(port) for _ in range(RUNS)]
        after = hwm_kib(proc.pid)
        best = min(runs)
        return best, before, after
    finally:
        stop(proc, log)


def kdig_ixfr(port, serial, source=HOST):
    """One IXFR from serial: (seconds, bytes, records)."""
    t0 = time.monotonic()
    r = subprocess.run(["kdig", "-p", str(port), f"@{HOST}", "-b", source, "-t",
                        f"IXFR={serial}", ZONE], capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    m = re.search(r"Received (\d+) B \((\d+) messages, (\d+) records\)", r.stdout)
    if r.returncode != 0 or not m:
        sys.exit("kdig failed:\n" + r.stdout[-2000:] + r.stderr)
    return took, int(m.group(1)), int(m.group(3))


def soa(port):
    r = subprocess.run(["dig", f"@{HOST}", "-p", str(port), "+short", ZONE, "SOA"],
                       capture_output=True, text=True, timeout=30)
    return int(r.stdout.split()[2])


def wait_serial_moves(port, old):
    deadline = time.monotonic() + 120
    while soa(port) == old:
        if time.monotonic() > deadline:
            sys.exit("the serial did not move")
        time.sleep(0.2)
    return soa(port)


def ixfr_dnsd(policyctl, dnsd, work, db, conf):
    port = free_port()
    log = open(os.path.join(work, "dnsd-ixfr.log"), "w")
    proc = subprocess.Popen([dnsd, "--config", conf, "--db", db, "--zone", f"{work}/apex.zone",
                             "--listen", f"{HOST}:{port}", "--threads", "1"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, proc, "dnsd")
        old = soa(port)
        kdig_ixfr(port, old)   # a secondary at the current serial
        subprocess.run([policyctl, "--db", db, "suspend", f"{CHANGED}.{ZONE}"], check=True,
                       stdout=subprocess.DEVNULL)
        wait_serial_moves(port, old)
        best = min(kdig_ixfr(port, old) for _ in range(RUNS))
        subprocess.run([policyctl, "--db", db, "resume", f"{CHANGED}.{ZONE}"], check=True,
                       stdout=subprocess.DEVNULL)
        return best
    finally:
        stop(proc, log)


def ixfr_knot(work, members):
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    if not os.access(knotd, os.X_OK):
        return None
    zonefile = full_zone(work, members)
    port = free_port()
    conf = knot_conf(work, port, zonefile, ixfr=True)
    log = open(os.path.join(work, "knot-ixfr.log"), "w")
    proc = subprocess.Popen([knotd, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, proc, "knot")
        old = soa(port)
        with open(zonefile) as f:
            text = f.read()
        # The same change: the member's two SRV records go, the serial moves.
        text = "".join(line for line in text.splitlines(True)
                       if f"._tcp.{CHANGED} " not in line)
        text = text.replace(f" {old} ", f" {old + 1} ", 1)
        with open(zonefile, "w") as f:
            f.write(text)
        subprocess.run(["knotc", "-c", conf, "zone-reload", ZONE], check=True,
                       capture_output=True, timeout=600)
        wait_serial_moves(port, old)
        return min(kdig_ixfr(port, old) for _ in range(RUNS))
    finally:
        stop(proc, log)


def axfr_loop(port, stop_at):
    """A secondary that transfers the whole zone again and again."""
    n = 0
    while time.monotonic() < stop_at:
        subprocess.run(["kdig", "-p", str(port), f"@{HOST}", "-t", "AXFR", ZONE],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=max(5, stop_at - time.monotonic() + 60))
        n += 1
    return n


def qps_dnsd(dnsd, work, db, conf, with_transfers):
    port = free_port()
    log = open(os.path.join(work, "dnsd-qps.log"), "w")
    proc = subprocess.Popen([dnsd, "--config", conf, "--db", db, "--zone", f"{work}/apex.zone",
                             "--listen", f"{HOST}:{port}", "--threads", "1"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, proc, "dnsd")
        check_answer(port, "dnsd")
        loop = None
        if with_transfers:
            out = []
            stop_at = time.monotonic() + DNSPERF_S + 2
            loop = threading.Thread(target=lambda: out.append(axfr_loop(port, stop_at)))
            loop.start()
            time.sleep(1)   # the first transfer under way
        qps, lost = dnsperf(port, os.path.join(work, "queries"), DNSPERF_S)
        if loop:
            loop.join()
            return qps, lost, out[0]
        return qps, lost, 0
    finally:
        stop(proc, log)


def main_ixfr(policyctl, dnsd, sizes):
    for members in sizes:
        work = tempfile.mkdtemp(prefix="xfr-bench-")
        try:
            policy = write_inputs(work, members)
            with open(policy) as f:
                text = f.read()
            with open(policy, "w") as f:
                f.write(text.replace("  fallback: allowed\n",
                                     "  fallback: allowed\n  inactive: nxdomain\n", 1))
            db = os.path.join(work, "store")
            subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
            t0 = time.monotonic()
            subprocess.run([policyctl, "--db", db, "load", policy], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"{members} members: loaded in {time.monotonic() - t0:.1f} s")
            conf = os.path.join(work, "dnsd.yaml")
            with open(conf, "w") as f:
                # Rate limiting off, as in dns_bench.py: dnsperf is the load.
                f.write(f"transfer:\n  - {{address: {HOST}/32}}\nrrl: {{rate: 0}}\n")
            for name, r in (("dnsd", ixfr_dnsd(policyctl, dnsd, work, db, conf)),
                            ("knot", ixfr_knot(work, members))):
                if r:
                    print(f"  IXFR of one commit, {name:5s} {r[0]:7.3f} s  {r[2]:3d} records  "
                          f"{r[1]:6d} B (best of {RUNS})")
            for transfers in (False, True):
                qps, lost, n = qps_dnsd(dnsd, work, db, conf, transfers)
                what = f"while {n} AXFRs ran" if transfers else "alone"
                print(f"  dnsd queries {what}: {qps:9.0f} q/s, {lost} lost ({DNSPERF_S} s)")
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main():
    if sys.argv[1] == "--ixfr":
        return main_ixfr(sys.argv[2], sys.argv[3], [int(a) for a in sys.argv[4:]] or [10000])
    policyctl, dnsd = sys.argv[1], sys.argv[2]
    sizes = [int(a) for a in sys.argv[3:]] or [10000, 100000]
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    for members in sizes:
        work = tempfile.mkdtemp(prefix="xfr-bench-")
        try:
            policy = write_inputs(work, members)
            db = os.path.join(work, "store")
            subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([policyctl, "--db", db, "load", policy], check=True,
                           stdout=subprocess.DEVNULL)
            conf = os.path.join(work, "dnsd.yaml")
            with open(conf, "w") as f:
                # Rate limiting off, as in dns_bench.py: dnsperf is the load.
                f.write(f"transfer:\n  - {{address: {HOST}/32}}\nrrl: {{rate: 0}}\n")
            results = {}
            port = free_port()
            results["dnsd"] = measure("dnsd", [dnsd, "--config", conf, "--db", db, "--zone",
                                               f"{work}/apex.zone", "--listen", f"{HOST}:{port}",
                                               "--threads", "1"], port, work)
            if os.access(knotd, os.X_OK):
                port = free_port()
                results["knot"] = measure("knot", [knotd, "-c", knot_conf(
                    work, port, full_zone(work, members))], port, work)
            print(f"AXFR of {members} members (best of {RUNS}, kdig to /dev/null):")
            for name, ((took, size, msgs, records), before, after) in results.items():
                print(f"  {name:5s} {took:7.3f} s  {records:8d} records  {msgs:6d} messages  "
                      f"{size / 1e6:7.2f} MB   peak RSS {before / 1024:7.1f} MiB before, "
                      f"{after / 1024:7.1f} MiB after")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
