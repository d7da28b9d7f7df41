#!/usr/bin/env python3
"""DNSSEC benchmark (not a test): the community of MEMBERS members of
dns_bench.py, every query with DO=1 (dnsperf -D), served by dnsd signed
(Ed25519 KSK + ZSK), dnsd unsigned, and Knot DNS with mod-onlinesign
serving the same answers as a static zone file with the same keys, one
after the other in one run.

    dnssec_bench.py POLICYCTL DNSD [MEMBERS] [SECONDS]

For each server: queries per second over SECONDS with the mix of
dns_bench.py (10% unknown names) once its answers are warm, and the cold
pass: every member's SRV once, in a fresh process, which for dnsd is one
signing (or one rendering, unsigned) per answer; the difference per
answer between dnsd signed and unsigned cold is the cost of signing one.
Then the size of a member's SRV answer with DO=1, Ed25519 and ECDSA
P-256, in the default view and in the largest view of the sample
community (delta.fed.example's two fallback targets with their
addresses), which must fit in 1232 bytes.  Everything lives in a
temporary directory, removed at the end.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_bench import HOST, ZONE, free_port, stop, wait_up, write_inputs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def keygen(keydir, zone, algorithm):
    os.makedirs(keydir, exist_ok=True)
    for flags in (["-f", "KSK"], []):
        subprocess.run(["dnssec-keygen", "-q", "-K", keydir, "-a", algorithm, *flags, zone],
                       check=True, capture_output=True)
    return keydir


def dnsd_cmd(dnsd, work, db, zone_file, port, keydir, name):
    conf = os.path.join(work, f"{name}.yaml")
    with open(conf, "w") as f:
        # Rate limiting off, as in dns_bench.py: dnsperf is the load.
        f.write(f"db: {db}\nzones: [{zone_file}]\nlisten: ['{HOST}:{port}']\nthreads: 1\n"
                "rrl: {rate: 0}\n")
        if keydir:
            f.write(f"dnssec: {{keys: {keydir}}}\n")
    return [dnsd, "--config", conf]


def knot_cmd(work, port, keydir):
    conf = os.path.join(work, "knot-sign.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
    listen: {HOST}@{port}
    rundir: {work}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {work}
policy:
  - id: manual
    manual: on
mod-onlinesign:
  - id: sign
    policy: manual
template:
  - id: default
    storage: {work}
    semantic-checks: off
zone:
  - domain: {ZONE}
    file: {work}/full.zone
    zonefile-sync: -1
    journal-content: none
    module: mod-onlinesign/sign
""")
    for name in sorted(os.listdir(keydir)):
        if name.endswith(".private"):
            subprocess.run(["keymgr", "-c", conf, ZONE, "import-bind", os.path.join(keydir, name)],
                           check=True, capture_output=True)
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    return [knotd, "-c", conf]


def perf(port, queries, seconds=None):
    """dnsperf with DO=1: (qps, lost); with seconds None, one pass of the file."""
    args = ["dnsperf", "-s", HOST, "-p", str(port), "-d", queries, "-D", "-T", "1", "-c", "1",
            "-q", "200"]
    args += ["-l", str(seconds)] if seconds else ["-n", "1"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=(seconds or 300) + 60)
    m = re.search(r"Queries per second:\s+([\d.]+)", r.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", r.stdout)
    if not m:
        sys.exit("dnsperf failed:\n" + r.stdout + r.stderr)
    return float(m.group(1)), int(lost.group(1)) if lost else 0


def signed_check(port, name):
    r = subprocess.run(["dig", f"@{HOST}", "-p", str(port), "+norec", "+dnssec",
                        f"_xmpp-server._tcp.m00042.{ZONE}", "SRV"], capture_output=True, text=True)
    if "0 0 5269 ch." not in r.stdout:
        sys.exit(f"{name} gives a different answer:\n{r.stdout}")
    return "RRSIG" in r.stdout


def run(name, cmd, port, work, seconds):
    log = open(os.path.join(work, f"{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, proc, name)
        cold = perf(port, os.path.join(work, "cold"))
        signed = signed_check(port, name)
        warm = perf(port, os.path.join(work, "queries"), seconds)
        return {"cold": cold, "warm": warm, "signed": signed}
    finally:
        stop(proc, log)


def answer_size(port, name, source=HOST):
    r = subprocess.run(["dig", f"@{HOST}", "-p", str(port), "-b", source, "+norec", "+dnssec",
                        "+bufsize=1232", "+ignore", name, "SRV"], capture_output=True, text=True)
    m = re.search(r"MSG SIZE\s+rcvd: (\d+)", r.stdout)
    tc = " tc" in r.stdout.split("flags:", 1)[1].split(";", 1)[0] if "flags:" in r.stdout else None
    return (int(m.group(1)) if m else None), tc, r.stdout.count("RRSIG")


def sizes(policyctl, dnsd, work):
    """SRV answer sizes with DO=1 for each algorithm, in the sample community."""
    db = os.path.join(work, "sample-store")
    subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([policyctl, "--db", db, "load", os.path.join(ROOT, "zones",
                    "fed.example.policy.yaml")], check=True, stdout=subprocess.DEVNULL)
    out = {}
    for alg in ("ED25519", "ECDSAP256SHA256"):
        keydir = keygen(os.path.join(work, f"sample-keys-{alg}"), "fed.example", alg)
        port = free_port()
        cmd = dnsd_cmd(dnsd, work, db, os.path.join(ROOT, "zones", "fed.example.zone"), port,
                       keydir, f"sample-{alg}")
        log = open(os.path.join(work, f"sample-{alg}.log"), "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                if answer_size(port, "fed.example")[0]:
                    break
            out[alg] = {
                "alpha, default view": answer_size(port, "_xmpp-server._tcp.alpha.fed.example"),
                "delta, for alpha's querier": answer_size(port,
                                                          "_xmpp-server._tcp.alpha.fed.example",
                                                          "127.0.0.2"),
                "delta, delta's view": answer_size(port, "_xmpp-server._tcp.delta.fed.example",
                                                   "127.0.0.2"),
            }
        finally:
            stop(proc, log)
    return out


def main():
    policyctl, dnsd = sys.argv[1], sys.argv[2]
    members = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    work = tempfile.mkdtemp(prefix="dnssec-bench-")
    try:
        policy = write_inputs(work, members)
        with open(os.path.join(work, "cold"), "w") as f:
            for i in range(members):
                f.write(f"_xmpp-server._tcp.m{i:05d}.{ZONE} SRV\n")
        db = os.path.join(work, "store")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([policyctl, "--db", db, "load", policy], check=True,
                       stdout=subprocess.DEVNULL)
        keydir = keygen(os.path.join(work, "keys"), ZONE, "ED25519")
        apex = os.path.join(work, "apex.zone")
        res = {}
        port = free_port()
        res["dnsd signed"] = run("dnsd-signed", dnsd_cmd(dnsd, work, db, apex, port, keydir,
                                                         "signed"), port, work, seconds)
        port = free_port()
        res["dnsd unsigned"] = run("dnsd-unsigned", dnsd_cmd(dnsd, work, db, apex, port, None,
                                                             "unsigned"), port, work, seconds)
        port = free_port()
        res["knot onlinesign"] = run("knot", knot_cmd(work, port, keydir), port, work, seconds)
        print(f"{members} members, DO=1 on every query, Ed25519 KSK+ZSK, one server thread, "
              f"dnsperf -T 1 -q 200")
        print(f"  {'':16s} {'warm qps':>10s} {'cold qps':>10s} {'cold us/answer':>15s}  signed")
        for name, r in res.items():
            (wq, wl), (cq, cl) = r["warm"], r["cold"]
            print(f"  {name:16s} {wq:10.0f} {cq:10.0f} {1e6 / cq:15.1f}  {r['signed']}"
                  f"   (lost {wl} warm, {cl} cold)")
        s, u, k = (res[n]["warm"][0] for n in ("dnsd signed", "dnsd unsigned", "knot onlinesign"))
        print(f"  warm: dnsd signed / unsigned {s / u:.2f}x, dnsd signed / Knot onlinesign "
              f"{s / k:.2f}x")
        cs, cu = res["dnsd signed"]["cold"][0], res["dnsd unsigned"]["cold"][0]
        print(f"  cold: signing costs {1e6 / cs - 1e6 / cu:.1f} us per answer "
              f"(signed {1e6 / cs:.1f}, unsigned {1e6 / cu:.1f})")
        print("SRV answer sizes with DO=1 (bytes, TC, RRSIGs) in the sample community:")
        for alg, rows in sizes(policyctl, dnsd, work).items():
            for what, (size, tc, nsig) in rows.items():
                print(f"  {alg:16s} {what:28s} {size} bytes, tc={tc}, {nsig} RRSIG"
                      f"{'  (over 1232!)' if size and size > 1232 else ''}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
