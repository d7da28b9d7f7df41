#!/usr/bin/env python3
"""The policy store benchmark (not a test): load a community of COUNT
members (default 1,000,000) with policyctl, reload it with 1% changed, and
measure decisions per second on it.  Prints wall time and peak memory of
each load.  Bounded: the store and the file live in a temporary directory
that is removed at the end, and each decision run lasts SECONDS.

    policydb_bench.py POLICYCTL BENCH_DECIDE [COUNT] [SECONDS]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

TAGS = ["auth:pki", "auth:password", "industry:finance", "industry:logistics",
        "industry:retail", "clearance:secret"]


def write_policy(path, count, changed_every=0):
    with open(path, "w") as f:
        f.write("community:\n  zone: bench.example\n  clearinghouse:\n"
                "    - {host: ch.bench.example, port: 5269, tls-port: 5270}\n"
                "  default: {min-peer-level: 1}\nmembers:\n")
        for i in range(count):
            level = i % 4
            if changed_every and i % changed_every == 0:
                level = (level + 1) % 4
            t1 = TAGS[i % 6]
            t2 = TAGS[(i % 6 + 1 + (i // 6) % 5) % 6]  # never t1
            name = f"m-{i:07d}.bench.example"
            extra = ""
            if i % 10 == 0:
                extra = ", policy: {min-peer-level: 2, forbid-tags: [auth:password]}"
            f.write(f"  {name}: {{level: {level}, tags: [{t1}, {t2}], "
                    f"targets: [xmpp.{name}:5269], queriers: [10.{i >> 16 & 255}.{i >> 8 & 255}.0/24]"
                    f"{extra}}}\n")


def timed(cmd):
    """Run cmd; return (seconds, peak RSS in MiB, stdout)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.monotonic() - start
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {err}")
    return elapsed, usage.ru_maxrss / 1024, out


def main():
    policyctl, bench = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    seconds = sys.argv[4] if len(sys.argv) > 4 else "5"
    work = tempfile.mkdtemp(prefix="pdb-bench-")
    try:
        db = os.path.join(work, "store")
        pfile = os.path.join(work, "policy.yaml")
        t0 = time.monotonic()
        write_policy(pfile, count)
        size = os.path.getsize(pfile) / 2**20
        print(f"policy file: {count} members, {size:.0f} MiB, written in {time.monotonic() - t0:.1f} s")
        subprocess.run([policyctl, "--db", db, "init"], check=True, stdout=subprocess.DEVNULL)
        secs, rss, _ = timed([policyctl, "--db", db, "load", pfile])
        store = os.path.getsize(os.path.join(db, "data.mdb")) / 2**20
        print(f"load (into an empty store):  {secs:6.1f} s  {count / secs:9.0f} members/s  "
              f"peak RSS {rss:6.0f} MiB  data.mdb {store:.0f} MiB")
        write_policy(pfile, count, changed_every=100)
        secs, rss, out = timed([policyctl, "--db", db, "load", pfile])
        print(f"reload (1% of members changed): {secs:6.1f} s  peak RSS {rss:6.0f} MiB")
        print("  " + out.strip().split(": ", 1)[-1])
        secs, rss, _ = timed([policyctl, "--db", db, "check",
                              "m-0000001.bench.example", "m-0000002.bench.example"])
        print(f"one policyctl check on it:   {secs * 1000:6.1f} ms  peak RSS {rss:6.1f} MiB")
        _, _, out = timed([bench, db, "m", str(count), seconds])
        print(out.rstrip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
