#!/usr/bin/env python3
"""Zone transfer benchmark (not a test): AXFR of a community of MEMBERS
members from dnsd, and of the same records from Knot DNS as a primary, in
one run.  Prints, for each, the best wall time of RUNS transfers by kdig
(to /dev/null), the records and bytes received, and the server's peak
resident memory (VmHWM) before the first and after the last transfer.

    xfr_bench.py POLICYCTL DNSD [MEMBERS ...]   (default: 10000 100000)

Everything lives in a temporary directory, removed at the end.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_bench import HOST, ZONE, apex_text, free_port, stop, wait_up, write_inputs  # noqa: E402

RUNS = 3


def full_zone(work, members):
    """What dnsd's default view of the community holds, as a zone file."""
    path = os.path.join(work, "xfr-full.zone")
    with open(path, "w") as f:
        f.write(apex_text(1))
        for i in range(members):
            f.write(f"_xmpp-server._tcp.m{i:05d} 60 IN SRV 0 0 5269 ch.{ZONE}.\n")
            f.write(f"_xmpps-server._tcp.m{i:05d} 60 IN SRV 0 0 5270 ch.{ZONE}.\n")
    return path


def knot_conf(work, port, zonefile):
    path = os.path.join(work, "knot-xfr.conf")
    with open(path, "w") as f:
        f.write(f"""server:
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
    journal-content: none
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


def main():
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
                f.write(f"transfer:\n  - {{address: {HOST}/32}}\n")
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
