#!/usr/bin/env python3
"""xmppd benchmark (not a test): redirect decisions per second and latency
over loopback, plain and with direct TLS, against a baseline that does the
least a stream responder can (accept, read once, write a fixed answer,
close; tests/bench/s2s_baseline.c), in the same run.

    xmppd_bench.py POLICYCTL XMPPD S2S_BASELINE S2S_LOAD [SECONDS] [THREADS]

Each exchange is a whole connection: connect, (TLS handshake,) send a
stream header from alpha.fed.example to delta.fed.example (the sample
community: allowed, so xmppd reads the store and redirects), read the
answer to </stream:stream>, close.  s2s_load runs THREADS blocking
client threads (default 2) for SECONDS (default 10) per server; servers
and load share the machine.  Prints a table with xmppd's ratios to the
baseline.  Everything lives in a temporary directory, removed at the end.
"""
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing on port {port}")


def load(s2s_load, port, seconds, threads, tls):
    args = [s2s_load, f"{HOST}:{port}", str(seconds), str(threads)]
    if tls:
        args.append("tls")
    args += ["alpha.fed.example", "delta.fed.example"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = dict(re.findall(r"(\w+)=(\d+)", out))
    return {k: int(v) for k, v in m.items()}


def main(policyctl, xmppd, baseline, s2s_load, seconds=10, threads=2):
    work = pathlib.Path(tempfile.mkdtemp(prefix="xmppd-bench-"))
    procs = []
    try:
        db = work / "store"
        subprocess.run([policyctl, "--db", db, "init"], check=True, capture_output=True)
        subprocess.run([policyctl, "--db", db, "load", ROOT / "zones" / "fed.example.policy.yaml"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", work / "ch.key",
                        "-out", work / "ch.pem", "-days", "1", "-subj", "/CN=ch.fed.example"],
                       check=True, capture_output=True)
        log = open(work / "servers.log", "w")

        def start(args, port):
            p = subprocess.Popen(args, stdout=log, stderr=log)
            procs.append(p)
            wait_port(port, p)
            return p

        ports = {k: free_port() for k in ("xp", "xt", "bp", "bt")}
        # xmppd's log line per decision is part of its cost: keep it, to a file.
        start([xmppd, "--db", db, "--listen", f"{HOST}:{ports['xp']}"], ports["xp"])
        start([xmppd, "--db", db, "--tls-listen", f"{HOST}:{ports['xt']}",
               "--cert", work / "ch.pem", "--key", work / "ch.key"], ports["xt"])
        start([baseline, f"{HOST}:{ports['bp']}"], ports["bp"])
        start([baseline, f"{HOST}:{ports['bt']}", work / "ch.pem", work / "ch.key"], ports["bt"])

        rows = []
        for name, tls, xp, bp in (("plain", False, ports["xp"], ports["bp"]),
                                  ("direct TLS", True, ports["xt"], ports["bt"])):
            x = load(s2s_load, xp, seconds, threads, tls)
            b = load(s2s_load, bp, seconds, threads, tls)
            rows.append((name, x, b))
        print(f"{'transport':<11} {'server':<9} {'exchanges/s':>12} {'p50 us':>8} "
              f"{'p99 us':>8} {'errors':>7}")
        for name, x, b in rows:
            for who, r in (("xmppd", x), ("baseline", b)):
                print(f"{name:<11} {who:<9} {r.get('rate', 0):>12} {r.get('p50_us', 0):>8} "
                      f"{r.get('p99_us', 0):>8} {r.get('errors', 0):>7}")
            print(f"{name:<11} {'ratio':<9} {x['rate'] / max(b['rate'], 1):>12.2f} "
                  f"{x['p50_us'] / max(b['p50_us'], 1):>8.2f} "
                  f"{x['p99_us'] / max(b['p99_us'], 1):>8.2f}")
        decisions = (work / "servers.log").read_text().count("action=see-other-host")
        print(f"xmppd logged {decisions} redirect decisions")
        return 0
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:5], *(int(a) for a in sys.argv[5:7])))
