#!/usr/bin/python3
"""Soak (not a test): the clearinghouse under everything at once, for a
bounded time, then what it cost.

    soak.py [--seconds N] [--build DIR] [--members N] [--qps N]

For N seconds (600 by default) on loopback:
  - dnsperf asks dnsd at a steady rate (--qps, 1000 by default) for the SRV
    names of a community of --members members (2000), a tenth unknown;
  - a spoofed-source flood: the same large answer asked as fast as one
    thread can from 254 source addresses of 127.0.1.0/24, at the rate
    limit (RRL), counting what comes back;
  - s2s_load opens redirected streams against one xmppd, one after the
    other; a second xmppd in relay mode carries a relayed stream every
    half second to a member's server (a socket here that echoes), and
    each must carry its bytes both ways;
  - policyctl changes a member that none of the above uses every second;
  - every 30 s, 300 idle TCP connections to each daemon for 10 s, while a
    TCP query to dnsd and a stream to xmppd must still be answered.
At the start and the end it reads each daemon's resident memory and open
descriptors from /proc, and at the end prints queries lost, streams that
failed or were refused for another reason than policy, and, for a build
made with -Db_sanitize=address,undefined (--build build-asan), every
sanitizer report in the daemons' logs.  It exits non-zero if any stream
failed, a daemon died, or a sanitizer reported anything.
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import dns.message
import dns.query
import dns.rcode

HOST = "127.0.0.1"
ZONE = "soak.example"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehavior")


def free_port():
    with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        t.bind((HOST, 0))
        port = t.getsockname()[1]
        u.bind((HOST, port))
        return port


def write_community(work, members, echo_port):
    """The community: members m0000..., one (relay.soak.example) whose only
    target is the echo server here, one (churn.soak.example) that the
    policyctl changes touch and nothing else asks for."""
    path = os.path.join(work, "policy.yaml")
    with open(path, "w") as f:
        f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n"
                f"    - {{host: ch.{ZONE}, port: 5269, tls-port: 5270}}\n"
                "  fallback: allowed\n  ttl: 60\nmembers:\n"
                f"  churn.{ZONE}: {{level: 1, targets: [xmpp.churn.{ZONE}:5269]}}\n"
                f"  relay.{ZONE}: {{level: 1, targets: [{{host: 127.0.0.0x1, port: {echo_port}}}]}}\n")
        for i in range(members):
            f.write(f"  m{i:04d}.{ZONE}: {{level: 1, targets: [xmpp.m{i:04d}.{ZONE}:5269]}}\n")
    with open(os.path.join(work, "apex.zone"), "w") as f:
        f.write(f"$ORIGIN {ZONE}.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
                "@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n"
                "ch IN A 192.0.2.5\nch IN AAAA 2001:db8::5\n")
    rnd = random.Random(3)
    with open(os.path.join(work, "queries"), "w") as f:
        for _ in range(100000):
            prefix = "u" if rnd.random() < 0.1 else "m"
            f.write(f"_xmpp-server._tcp.{prefix}{rnd.randrange(members):04d}.{ZONE} SRV\n")
    return path


def proc_usage(pid):
    """(resident KiB, open descriptors) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Daemon:
    def __init__(self, name, args, work):
        self.name = name
        self.logpath = os.path.join(work, f"{name}.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        with open(self.logpath, errors="replace") as f:
            return f.read()


def wait_tcp(port, daemon, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            sys.exit(f"{daemon.name} exited at start:\n{daemon.stop()}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{daemon.name} did not listen")


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}

    def add(self, key, k=1):
        with self.lock:
            self.n[key] = self.n.get(key, 0) + k


def stream_header(frm, to):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            f"from='{frm}' to='{to}' version='1.0'>").encode()


def echo_server(sock, stop):
    """The relay member's server: echoes whatever a relay carries."""
    sock.settimeout(0.5)

    def serve(c):
        c.settimeout(10)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    while not stop.is_set():
        try:
            c, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def relay_loop(port, stop, counts):
    """A relayed stream every half second: the header comes back (echoed by
    the member's server through the splice), then a stanza both ways."""
    hdr = stream_header(f"m0001.{ZONE}", f"relay.{ZONE}")
    while not stop.wait(0.5):
        try:
            with socket.create_connection((HOST, port), timeout=10) as s:
                s.sendall(hdr)
                got = b""
                while len(got) < len(hdr):
                    b = s.recv(65536)
                    if not b:
                        raise OSError(f"closed after {got[:200]!r}")
                    got += b
                if got[:len(hdr)] != hdr:
                    raise OSError(f"not relayed: {got[:200]!r}")
                s.sendall(b"<presence/>")
                if s.recv(100) != b"<presence/>":
                    raise OSError("stanza lost")
            counts.add("relays ok")
        except OSError as e:
            counts.add("relays failed")
            counts.add(f"relay failure: {e!r}"[:120])


def redirect_load(s2s_load, port, seconds, counts):
    r = subprocess.run([s2s_load, f"{HOST}:{port}", str(seconds), "1", f"m0001.{ZONE}",
                        f"m0002.{ZONE}"], capture_output=True, text=True, timeout=seconds + 120)
    m = re.search(r"exchanges=(\d+) errors=(\d+)", r.stdout)
    if not m:
        counts.add("redirect load did not run")
        return
    counts.add("redirected streams", int(m.group(1)))
    counts.add("redirected streams failed", int(m.group(2)))


def dnsperf_load(port, queries, seconds, qps, result):
    r = subprocess.run(["dnsperf", "-s", HOST, "-p", str(port), "-d", queries, "-l", str(seconds),
                        "-Q", str(qps), "-c", "4", "-T", "1"],
                       capture_output=True, text=True, timeout=seconds + 120)
    for key, pat in (("sent", r"Queries sent:\s+(\d+)"), ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)")):
        m = re.search(pat, r.stdout)
        result[key] = int(m.group(1)) if m else None


def spoof_flood(port, stop, counts):
    """Sources 127.0.1.1-254, each asking the largest answer there is (the
    apex NS with its addresses, EDNS 1232) as fast as one thread goes."""
    socks = []
    for i in range(1, 255):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.1.{i}", 0))
        s.setblocking(False)
        socks.append(s)
    q = dns.message.make_query(ZONE, "NS", use_edns=0, payload=1232)
    wire = q.to_wire()
    sent = recv = tc = bytes_in = bytes_out = 0
    while not stop.is_set():
        for s in socks:
            try:
                s.sendto(wire, (HOST, port))
                sent += 1
                bytes_out += len(wire)
            except BlockingIOError:
                pass
        time.sleep(0.001)
        for s in socks:
            while True:
                try:
                    b = s.recv(65535)
                except BlockingIOError:
                    break
                recv += 1
                bytes_in += len(b)
                if len(b) > 2 and b[2] & 0x02:
                    tc += 1
    for s in socks:
        s.close()
    counts.add("flood queries", sent)
    counts.add("flood answers", recv)
    counts.add("flood TC answers", tc)
    counts.add("flood bytes asked", bytes_out)
    counts.add("flood bytes answered", bytes_in)


def idle_floods(dns_port, x_port, stop, counts):
    """Every 30 s: 300 silent connections to each daemon for 10 s, from
    another address than the real clients (dnsd caps connections per
    source address, so from the same one they would be refused by
    design); a real TCP query and a real stream must get through
    meanwhile."""
    hdr = stream_header(f"m0001.{ZONE}", f"m0002.{ZONE}")
    while not stop.wait(30):
        held = []
        for port in (dns_port, x_port):
            for _ in range(300):
                try:
                    held.append(socket.create_connection((HOST, port), timeout=2,
                                                         source_address=("127.0.0.3", 0)))
                except OSError:
                    counts.add("idle connections not taken")
        try:
            q = dns.message.make_query(f"_xmpp-server._tcp.m0001.{ZONE}", "SRV")
            r = dns.query.tcp(q, HOST, port=dns_port, timeout=3)
            counts.add("TCP queries during idle flood ok" if r.rcode() == dns.rcode.NOERROR
                       else "TCP queries during idle flood failed")
        except Exception as e:   # a timeout, a reset: either is a failure here
            counts.add("TCP queries during idle flood failed")
            counts.add(f"TCP query failure: {e!r}"[:120])
        try:
            with socket.create_connection((HOST, x_port), timeout=5) as s:
                s.sendall(hdr)
                got = b""
                while b"</stream:stream>" not in got:
                    b = s.recv(4096)
                    if not b:
                        break
                    got += b
            counts.add("streams during idle flood ok" if b"see-other-host" in got
                       else "streams during idle flood failed")
        except OSError:
            counts.add("streams during idle flood failed")
        stop.wait(10)
        for c in held:
            c.close()


def policy_churn(policyctl, db, stop, counts):
    level = 1
    while not stop.wait(1):
        level = 3 - level
        r = subprocess.run([policyctl, "--db", db, "set", f"churn.{ZONE}", "level", str(level)],
                           capture_output=True, text=True)
        counts.add("commits" if r.returncode == 0 else "commits failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--qps", type=int, default=1000)
    a = ap.parse_args()
    policyctl = os.path.join(a.build, "tools", "policyctl")
    dnsd = os.path.join(a.build, "dnsd", "dnsd")
    xmppd = os.path.join(a.build, "xmppd", "xmppd")
    s2s_load = os.path.join(a.build, "tests", "bench", "s2s_load")
    work = tempfile.mkdtemp(prefix="soak-")
    daemons = []
    stop = threading.Event()
    counts = Counts()
    try:
        echo = socket.socket()
        echo.bind((HOST, 0))
        echo.listen(128)
        policy = write_community(work, a.members, echo.getsockname()[1])
        db = os.path.join(work, "store")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([policyctl, "--db", db, "load", policy], check=True,
                       stdout=subprocess.DEVNULL)
        dport, xport, rport = free_port(), free_port(), free_port()
        # Rate limiting as deployed, but for the steady load's address: it
        # stands for a resolver that is answered in full (dnsperf does not
        # fall back to TCP on a truncated answer, as a resolver does).
        conf = os.path.join(work, "dnsd.yaml")
        with open(conf, "w") as f:
            f.write(f"rrl: {{exempt: \"{HOST}/32\"}}\n")
        d = Daemon("dnsd", [dnsd, "--config", conf, "--db", db, "--zone",
                            os.path.join(work, "apex.zone"), "--listen", f"{HOST}:{dport}",
                            "--threads", "2"], work)
        x = Daemon("xmppd", [xmppd, "--db", db, "--listen", f"{HOST}:{xport}"], work)
        xr = Daemon("xmppd-relay", [xmppd, "--db", db, "--listen", f"{HOST}:{rport}",
                                    "--mode", "relay"], work)
        daemons = [d, x, xr]
        wait_tcp(dport, d)
        wait_tcp(xport, x)
        wait_tcp(rport, xr)
        start = {dm.name: proc_usage(dm.proc.pid) for dm in daemons}
        perf = {}
        threads = [
            threading.Thread(target=echo_server, args=(echo, stop)),
            threading.Thread(target=dnsperf_load, args=(dport, os.path.join(work, "queries"),
                                                        a.seconds, a.qps, perf)),
            threading.Thread(target=redirect_load, args=(s2s_load, xport, a.seconds, counts)),
            threading.Thread(target=relay_loop, args=(rport, stop, counts)),
            threading.Thread(target=spoof_flood, args=(dport, stop, counts)),
            threading.Thread(target=idle_floods, args=(dport, xport, stop, counts)),
            threading.Thread(target=policy_churn, args=(policyctl, db, stop, counts)),
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # The loads with a length of their own end by themselves; the rest
        # when told.  Stop early if a daemon dies.
        while time.monotonic() - t0 < a.seconds and all(dm.alive() for dm in daemons):
            time.sleep(1)
        stop.set()
        for t in threads:
            t.join(timeout=a.seconds + 180)
        echo.close()
        end = {dm.name: proc_usage(dm.proc.pid) for dm in daemons if dm.alive()}
        died = [dm.name for dm in daemons if not dm.alive()]
        logs = {dm.name: dm.stop() for dm in daemons}
        daemons = []

        print(f"soak: {a.seconds} s, {a.members} members, dnsperf at {a.qps} qps, build {a.build}")
        for name in start:
            e = end.get(name)
            print(f"  {name:12s} RSS {start[name][0] / 1024:7.1f} -> "
                  f"{e[0] / 1024 if e else float('nan'):7.1f} MiB   descriptors {start[name][1]} -> "
                  f"{e[1] if e else 'died'}")
        print(f"  dnsperf: sent {perf.get('sent')}, completed {perf.get('completed')}, "
              f"lost {perf.get('lost')}")
        for k in sorted(counts.n):
            print(f"  {k}: {counts.n[k]}")
        asked = counts.n.get("flood bytes asked", 0)
        if asked:
            print(f"  flood amplification: {counts.n.get('flood bytes answered', 0) / asked:.2f} "
                  "bytes out per byte in")
        reports = {n: [l for l in text.splitlines() if SANITIZER.search(l)]
                   for n, text in logs.items()}
        bad = False
        for n, lines in reports.items():
            if lines:
                bad = True
                print(f"  {n}: {len(lines)} sanitizer report lines, first: {lines[0]}")
        print(f"  sanitizer reports: {sum(len(v) for v in reports.values())}")
        failed = (counts.n.get("relays failed", 0) + counts.n.get("redirected streams failed", 0)
                  + counts.n.get("streams during idle flood failed", 0)
                  + counts.n.get("TCP queries during idle flood failed", 0))
        if died:
            print(f"  died: {', '.join(died)}")
        return 1 if bad or died or failed else 0
    finally:
        stop.set()
        for dm in daemons:
            dm.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
