#!/usr/bin/python3
"""Spoofed-source flood (not a test): what a query costs dnsd when every
query comes from another address, against the same queries from one.

    spoof_bench.py POLICYCTL DNSD [MEMBERS] [QUERIES] [SOURCES]

(DNSD may be an older build, to compare: rate limiting is turned off
where the build has it.)

A community of MEMBERS members (100,000 by default), each with a
`queriers` prefix (10.x.y.0/24) and `fallback: allowed`, so that every
query asks which view its source falls in.  One UDP socket sends
QUERIES queries (200,000), each from a source address of 127.0.0.0/8
given with IP_PKTINFO (loopback owns all of 127/8, so the answers come
back): first all from one address, then from SOURCES different
addresses in turn (65,536), far more than dnsd's per-address memo
holds.  dnsd runs with one thread; its CPU time (user + system, from
/proc) per answered query is the figure, and the ratio of the two runs
says whether the cost of a query depends on how many sources there are.
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import dns.message

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_bench import HOST, ZONE, apex_text, stop  # noqa: E402

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((HOST, 0))
        return u.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def source(i):
    """The i-th source address: 127.1.0.0 upwards (127.0.0.1 is dnsd's)."""
    return socket.inet_aton(f"127.{1 + (i >> 16) % 250}.{(i >> 8) & 255}.{i & 255 or 1}")


def flood(port, queries, sources, wires):
    """Send queries from sources addresses in turn, a window at a time;
    returns how many were answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.settimeout(0.5)
    answered, sent, window = 0, 0, 64
    while sent < queries:
        for _ in range(window):
            src = source(sent % sources)
            pktinfo = struct.pack("I4s4s", 0, src, src)
            s.sendmsg([wires[sent % len(wires)]], [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)],
                      0, (HOST, port))
            sent += 1
        for _ in range(window):
            try:
                s.recv(4096)
                answered += 1
            except socket.timeout:
                break
    s.close()
    return answered


def main():
    policyctl, dnsd = sys.argv[1], sys.argv[2]
    members = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    queries = int(sys.argv[4]) if len(sys.argv) > 4 else 200000
    sources = int(sys.argv[5]) if len(sys.argv) > 5 else 65536
    work = tempfile.mkdtemp(prefix="spoof-bench-")
    try:
        policy = os.path.join(work, "policy.yaml")
        with open(policy, "w") as f:
            f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n"
                    f"    - {{host: ch.{ZONE}, port: 5269}}\n  fallback: allowed\n  ttl: 60\n"
                    "members:\n")
            for i in range(members):
                f.write(f"  m{i:06d}.{ZONE}: {{level: 1, targets: [xmpp.m{i:06d}.{ZONE}:5269], "
                        f"queriers: [10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32]}}\n")
        with open(os.path.join(work, "apex.zone"), "w") as f:
            f.write(apex_text(1))
        db = os.path.join(work, "store")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([policyctl, "--db", db, "load", policy], check=True,
                       stdout=subprocess.DEVNULL)
        wires = [dns.message.make_query(f"_xmpp-server._tcp.m{i:06d}.{ZONE}", "SRV").to_wire()
                 for i in range(0, members, max(1, members // 1000))]
        port = free_port()
        log = open(os.path.join(work, "dnsd.log"), "w")
        # Rate limiting off where there is any: the flood is the load here.
        has_rrl = "--rrl-rate" in subprocess.run([dnsd, "--help"], capture_output=True,
                                                 text=True).stdout
        proc = subprocess.Popen([dnsd, "--db", db, "--zone", os.path.join(work, "apex.zone"),
                                 "--listen", f"{HOST}:{port}", "--threads", "1",
                                 *(["--rrl-rate", "0"] if has_rrl else [])],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(1)
            flood(port, 2000, 1, wires)          # warm: views built, answers cached
            results = {}
            for name, n in (("one source", 1), (f"{sources} sources", sources)):
                c0 = cpu_seconds(proc.pid)
                t0 = time.monotonic()
                got = flood(port, queries, n, wires)
                results[name] = ((cpu_seconds(proc.pid) - c0) / max(got, 1) * 1e6, got,
                                 time.monotonic() - t0)
        finally:
            stop(proc, log)
        print(f"{members} members with queriers, fallback: allowed, {queries} queries, "
              "dnsd --threads 1")
        for name, (us, got, secs) in results.items():
            print(f"  {name:16s} {us:6.2f} us of dnsd CPU a query   ({got} answered in {secs:.1f} s)")
        a, b = results["one source"][0], results[f"{sources} sources"][0]
        print(f"  cost from {sources} sources / from one: {b / a:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
