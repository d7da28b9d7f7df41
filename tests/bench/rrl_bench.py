#!/usr/bin/env python3
"""Amplification benchmark (not a test): how many bytes a spoofed source
makes a server send per byte it sends, for the worst query it can pick.

    rrl_bench.py POLICYCTL DNSD [QUERIES] [QPS]

The same small community is served by dnsd (with rate limiting off, and
with its defaults) and by Knot DNS from a zone file with the same records
(with mod-rrl off, and with mod-rrl at rate-limit 20, slip 1).  First every
candidate query (SRV of a member, NS and ANY of the apex, A/AAAA of the
clearinghouse, DO=0, EDNS 1232) is asked once of each server and the one
with the largest answer is taken; then QUERIES of it (default 2000) are
sent from one address at QPS a second (default 1000), as a reflection
attack would, and the bytes of the answers that come back are summed.
Prints, per server and setting, the answers that came back whole or
truncated, and bytes out / bytes in.  Everything lives in a temporary
directory, removed at the end.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import dns.flags
import dns.message

from dns_bench import HOST, free_port, stop, wait_up

ZONE = "bench.example"
# Several clearinghouse hosts: the largest SRV answer dnsd can be made to
# give a querier that is no member (every host, its A and AAAA).
CH_HOSTS = 4


def write_inputs(work):
    policy = os.path.join(work, "policy.yaml")
    with open(policy, "w") as f:
        f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n")
        for i in range(CH_HOSTS):
            f.write(f"    - {{host: ch{i}.{ZONE}, port: 5269, tls-port: 5270}}\n")
        f.write("  fallback: allowed\n  ttl: 60\nmembers:\n")
        f.write(f"  m1.{ZONE}: {{level: 1, targets: [xmpp.m1.{ZONE}:5269]}}\n")
    apex = (f"$ORIGIN {ZONE}.\n$TTL 3600\n"
            "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
            "@ IN NS ns1\n@ IN NS ns2\n"
            "ns1 IN A 192.0.2.1\nns1 IN AAAA 2001:db8::1\n"
            "ns2 IN A 192.0.2.2\nns2 IN AAAA 2001:db8::2\n")
    for i in range(CH_HOSTS):
        apex += f"ch{i} IN A 192.0.2.{10 + i}\nch{i} IN AAAA 2001:db8::{10 + i:x}\n"
    with open(os.path.join(work, "apex.zone"), "w") as f:
        f.write(apex)
    # What dnsd answers a querier that is no member, as a static zone.
    with open(os.path.join(work, "full.zone"), "w") as f:
        f.write(apex)
        for i in range(CH_HOSTS):
            f.write(f"_xmpp-server._tcp.m1 60 IN SRV 0 0 5269 ch{i}.{ZONE}.\n")
    return policy


def knot_conf(work, port, rrl):
    path = os.path.join(work, f"knot-{port}.conf")
    module = ""
    if rrl:
        module = ("mod-rrl:\n  - id: default\n    rate-limit: 20\n    slip: 1\n")
    with open(path, "w") as f:
        f.write(f"""server:
    listen: {HOST}@{port}
    rundir: {work}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {work}/knot-{port}
{module}template:
  - id: default
    storage: {work}
    semantic-checks: off
{"    global-module: mod-rrl/default" if rrl else ""}
zone:
  - domain: {ZONE}
    file: {work}/full.zone
    zonefile-sync: -1
    journal-content: none
""")
    return path


CANDIDATES = [(f"_xmpp-server._tcp.m1.{ZONE}", "SRV"), (ZONE, "NS"), (ZONE, "ANY"),
              (f"ch0.{ZONE}", "A"), (f"ch0.{ZONE}", "AAAA"), (ZONE, "SOA")]


def query(name, rdtype, qid=1):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=False)
    q.flags &= ~dns.flags.RD
    q.id = qid
    return q.to_wire()


def ask(port, wire):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(wire, (HOST, port))
        return s.recv(65535)


def worst(port):
    """(factor, name, type, query bytes, answer bytes) of the candidate with
    the largest answer."""
    best = None
    for name, rdtype in CANDIDATES:
        w = query(name, rdtype)
        n = len(ask(port, w))
        if best is None or n / len(w) > best[0]:
            best = (n / len(w), name, rdtype, len(w), n)
    return best


def reflect(port, wire, count, qps):
    """Send count copies of wire from one socket at qps; sum what comes
    back.  Returns (bytes in, bytes out, whole answers, truncated)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    out = whole = tc = 0
    t0 = time.monotonic()

    def drain():
        nonlocal out, whole, tc
        while True:
            try:
                r = s.recv(65535)
            except BlockingIOError:
                return
            out += len(r)
            if r[2] & 0x02:
                tc += 1
            else:
                whole += 1

    for i in range(count):
        b = bytearray(wire)
        b[0], b[1] = i >> 8 & 0xFF, i & 0xFF
        s.sendto(bytes(b), (HOST, port))
        drain()
        delay = t0 + (i + 1) / qps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        drain()
        time.sleep(0.01)
    s.close()
    return count * len(wire), out, whole, tc


def run(name, cmd, port, work, count, qps, results, probe=None):
    log = open(os.path.join(work, f"server-{len(results)}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up_ns(port, proc, name)
        w = worst(port)
        if probe is None:
            probe = w
        wire = query(probe[1], probe[2])
        results.append((name, w, reflect(port, wire, count, qps)))
        return probe
    finally:
        stop(proc, log)


def wait_up_ns(port, proc, name):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode}")
        try:
            if ask(port, query(ZONE, "SOA")):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{name} did not answer")


def main():
    policyctl, dnsd = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    qps = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    work = tempfile.mkdtemp(prefix="rrl-bench-")
    try:
        policy = write_inputs(work)
        db = os.path.join(work, "store")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([policyctl, "--db", db, "load", policy], check=True, stdout=subprocess.DEVNULL)
        results = []
        base = [dnsd, "--db", db, "--zone", f"{work}/apex.zone", "--threads", "1"]
        port = free_port()
        probe = run("dnsd, rrl off", base + ["--listen", f"{HOST}:{port}", "--rrl-rate", "0"],
                    port, work, count, qps, results)
        port = free_port()
        run("dnsd, defaults (20/s, slip 2)", base + ["--listen", f"{HOST}:{port}"], port, work,
            count, qps, results, probe)
        port = free_port()
        run("knotd, no mod-rrl", [knotd, "-c", knot_conf(work, port, False)], port, work, count,
            qps, results, probe)
        port = free_port()
        run("knotd, mod-rrl 20/s, slip 1", [knotd, "-c", knot_conf(work, port, True)], port, work,
            count, qps, results, probe)
        print(f"{count} queries at {qps}/s from one address, UDP, EDNS 1232, DO=0: "
              f"{probe[1]} {probe[2]} ({probe[3]} bytes)")
        for name, w, (bin_, bout, whole, tc) in results:
            print(f"  {name:30s} worst alone: {w[2]:4s} {w[4]:4d} bytes ({w[0]:.1f}x);"
                  f"  flood: {whole:5d} whole, {tc:5d} truncated, {bout / bin_:.2f}x bytes out/in")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
