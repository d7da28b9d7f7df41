"""dnsd's signed answers proven with the validating resolvers operators run:
unbound, Knot Resolver and PowerDNS Recursor (each started here on
loopback, trusting the community zone's DS and forwarding the zones to
the signer), and delv.  Every kind of answer is secure (AD set; delv:
"fully validated"), in the default view and in a member's view, and after
a policy change and a cache flush; one bit flipped in a signature on the
way makes each resolver answer SERVFAIL; signatures are renewed before
they expire.

Each check runs against dnsd and against Knot DNS with mod-onlinesign
serving the same answers (rendered from dnsd's own zone transfers) with
the same keys: the control that proves the lab itself."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest
import yaml

import resolvers
from conftest import Ctl
from resolvers import KINDS, TamperProxy, delv, ds_of, flip_signature_bit, keygen, served_ds
from test_dnsd import HOST, free_port

ZONE = "fed.example"
APEXES = ["_xmpp-server._tcp.gamma.example", "_xmpps-server._tcp.gamma.example"]
VIEW = "127.0.0.2"               # delta.fed.example's querier in the sample
PIN = "a" * 64                   # a member's SPKI pin: its TLSA 3 1 1 record
SIGNERS = ["dnsd", "knot"]

pytestmark = pytest.mark.skipif(bool(resolvers.missing()),
                                reason=f"not installed: {resolvers.missing()}")


def policy_with_pin(sample_policy, path):
    p = yaml.safe_load(sample_policy.read_text())
    p["members"]["alpha.fed.example"]["pins"] = [PIN]
    path.write_text(yaml.safe_dump(p))
    return path


class Signer:
    """The authoritative signer under test: where it listens, the anchors a
    resolver needs, how it denies, and the store behind it."""

    def __init__(self, kind, port, anchors, ctl, stop, log):
        self.kind, self.port, self.anchors, self.ctl = kind, port, anchors, ctl
        self._stop, self.log = stop, log
        # Knot's mod-onlinesign denies a name with NODATA ("black lies").
        self.nxdomain = dns.rcode.NXDOMAIN if kind == "dnsd" else dns.rcode.NOERROR

    def forwards(self, port=None):
        return {z: (HOST, port or self.port) for z in [ZONE, *APEXES]}

    def stop(self):
        self._stop()


def write_dnsd_config(path, ctl, zone_file, port, keydir=None, extra=None, also=None):
    # Every resolver of the lab asks from 127.0.0.0/24, dozens of negative
    # answers a second: response rate limiting, on by default, would drop
    # half of them past 20 a second and make the resolvers time out.
    conf = {"db": str(ctl.db), "zones": [str(zone_file)],
            "listen": [f"{HOST}:{port}"] + ([f"{also}:53"] if also else []), "threads": 1,
            "rrl": {"rate": 0}}
    if keydir:
        conf["dnssec"] = {"keys": str(keydir), **(extra or {})}
    path.write_text(yaml.safe_dump(conf))
    return path


def start_dnsd(dnsd_path, conf, port, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen([dnsd_path, "--config", str(conf)], stderr=log)
    deadline = time.monotonic() + 10
    q = dns.message.make_query(ZONE, "SOA")
    while True:
        try:
            dns.query.udp(q, HOST, port=port, timeout=0.2)
            break
        except (dns.exception.Timeout, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                text = open(log_path).read()
                raise RuntimeError(f"dnsd did not start ({proc.poll()}):\n{text}")

    def stop():
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    return proc, stop


def port53_address():
    """A loopback address whose port 53 is free for UDP and TCP, or None
    (not root, or none found)."""
    for _ in range(20):
        addr = f"127.53.{random.randrange(1, 255)}.{random.randrange(1, 255)}"
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                t.bind((addr, 53))
                u.bind((addr, 53))
            return addr
        except PermissionError:
            return None
        except OSError:
            continue
    return None


def make_keys(keydir, algorithm="ED25519"):
    """A KSK and a ZSK for the community zone and for each apex of the
    member outside it, as an operator makes them with dnssec-keygen."""
    keydir.mkdir(exist_ok=True)
    ksk = {}
    for zone in [ZONE, *APEXES]:
        ksk[zone] = keygen(keydir, zone, algorithm, ksk=True)
        keygen(keydir, zone, algorithm)
    return ksk


def axfr_to_file(port, zone, path):
    msgs = dns.query.xfr(HOST, zone + ".", port=port, timeout=5, lifetime=20)
    z = dns.zone.from_xfr(msgs)
    z.to_file(str(path), relativize=False)
    return path


@pytest.fixture(scope="module", params=SIGNERS)
def signer(request, dnsd_path, policyctl_path, tmp_path_factory, sample_policy, sample_zone):
    work = tmp_path_factory.mktemp(f"sign-{request.param}")
    ctl = Ctl(policyctl_path, work / "store")
    ctl.ok("init")
    ctl.ok("load", policy_with_pin(sample_policy, work / "policy.yaml"))
    keydir = work / "keys"
    ksk = make_keys(keydir)
    port = free_port()
    # dnsviz 0.9.4 asks port 53 only: the signer listens there too, on a
    # loopback address of its own, when it may.
    at53 = port53_address()
    if request.param == "dnsd":
        conf = write_dnsd_config(work / "dnsd.yaml", ctl, sample_zone, port, keydir, also=at53)
        proc, stop = start_dnsd(dnsd_path, conf, port, work / "dnsd.log")
        if not served_ds(HOST, port, ZONE):
            stop()
            pytest.fail("dnsd serves no DNSKEY at fed.example with dnssec: keys: set")
        log = work / "dnsd.log"
    else:
        # dnsd unsigned renders the answers; Knot signs them.
        conf = write_dnsd_config(work / "dnsd.yaml", ctl, sample_zone, port)
        text = yaml.safe_load(conf.read_text())
        text["transfer"] = [{"address": "127.0.0.1/32"}]
        conf.write_text(yaml.safe_dump(text))
        proc, stop_dnsd = start_dnsd(dnsd_path, conf, port, work / "dnsd.log")
        files = {z: axfr_to_file(port, z, work / f"{z}.zone") for z in [ZONE, *APEXES]}
        stop_dnsd()
        # dnsd's TLSA for the pinned member, as the static zone gets it.
        with open(files[ZONE], "a") as f:
            f.write(f"_5269._tcp.xmpp.alpha.{ZONE}. 60 IN TLSA 3 1 1 {PIN}\n")
        knot = resolvers.KnotSigner(work, files, {z: keydir for z in files}, port=port,
                                    also=at53).start()
        stop, log = knot.stop, knot.logfile
    try:
        anchors = {ZONE: [ds_of(ksk[ZONE])]}
        served = served_ds(HOST, port, ZONE)
        assert anchors[ZONE][0] in served, (anchors, served)
        for apex in APEXES:
            anchors[apex] = served_ds(HOST, port, apex)
            assert anchors[apex], f"no DNSKEY at {apex}"
        s = Signer(request.param, port, anchors, ctl, stop, log)
        s.at53 = at53
        yield s
    finally:
        stop()


@pytest.fixture(scope="module")
def resolver_set(signer, tmp_path_factory):
    """Each resolver twice: querying from 127.0.0.1 (no member: the default
    view) and from 127.0.0.2 (delta's querier: delta's view)."""
    work = tmp_path_factory.mktemp(f"res-{signer.kind}")
    started = {}
    try:
        for kind, cls in KINDS.items():
            for source in (HOST, VIEW):
                started[kind, source] = cls(work, signer.anchors, signer.forwards(),
                                            source=source).start()
        yield started
    finally:
        for r in started.values():
            r.stop()


def check(r, resolver, name, rdtype, rcode=dns.rcode.NOERROR):
    """'' when r is a secure answer with rcode, else why not, with the
    resolver's log lines that say so."""
    if r.rcode() == rcode and r.flags & dns.flags.AD:
        return ""
    why = resolvers.bogus_lines(resolver.log_text())[-5:]
    return (f"{resolver.kind}@{resolver.source}: {name} {rdtype}: "
            f"{dns.rcode.to_text(r.rcode())} AD={bool(r.flags & dns.flags.AD)}\n  "
            + "\n  ".join(why))


def srv_targets(r):
    """(priority, target) of the SRV answer, sorted: a resolver may give an
    RRset's records in any order."""
    return sorted((rd.priority, rd.target.to_text()) for rrset in r.answer
                  if rrset.rdtype == dns.rdatatype.SRV for rd in rrset)


def queries(signer):
    """(name, type, rcode, what the answer section must hold) for each kind
    of answer the zone gives."""
    return [
        (f"_xmpp-server._tcp.alpha.{ZONE}", "SRV", dns.rcode.NOERROR, dns.rdatatype.SRV),
        (f"_xmpps-server._tcp.alpha.{ZONE}", "SRV", dns.rcode.NOERROR, dns.rdatatype.SRV),
        (f"_xmpp-server._tcp.epsilon.{ZONE}", "SRV", dns.rcode.NOERROR, dns.rdatatype.SRV),
        (f"_xmpp-server._tcp.nobody.{ZONE}", "SRV", signer.nxdomain, None),
        (f"ch.{ZONE}", "TXT", dns.rcode.NOERROR, None),              # NODATA
        (f"_tcp.alpha.{ZONE}", "SRV", dns.rcode.NOERROR, None),       # empty non-terminal
        (f"ch.{ZONE}", "AAAA", dns.rcode.NOERROR, dns.rdatatype.AAAA),
        (ZONE, "DNSKEY", dns.rcode.NOERROR, dns.rdatatype.DNSKEY),
        (ZONE, "SOA", dns.rcode.NOERROR, dns.rdatatype.SOA),
        (f"_5269._tcp.xmpp.alpha.{ZONE}", "TLSA", dns.rcode.NOERROR, dns.rdatatype.TLSA),
        (APEXES[0], "SRV", dns.rcode.NOERROR, dns.rdatatype.SRV),
        (APEXES[1], "SRV", dns.rcode.NOERROR, dns.rdatatype.SRV),
        (APEXES[0], "DNSKEY", dns.rcode.NOERROR, dns.rdatatype.DNSKEY),
        (APEXES[0], "TXT", dns.rcode.NOERROR, None),                  # NODATA at an apex
        (f"x.{APEXES[0]}", "A", signer.nxdomain, None),
    ]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_answer_validates(signer, resolver_set, kind):
    failures = []
    for source in (HOST, VIEW):
        res = resolver_set[kind, source]
        for name, rdtype, rcode, holds in queries(signer):
            r = res.ask(name, rdtype)
            why = check(r, res, name, rdtype, rcode)
            if not why and holds is not None and not any(rr.rdtype == holds for rr in r.answer):
                why = f"{kind}@{source}: {name} {rdtype}: no {dns.rdatatype.to_text(holds)}"
            if not why and holds is None and any(rr.rdtype == dns.rdatatype.from_text(rdtype)
                                                 for rr in r.answer):
                why = f"{kind}@{source}: {name} {rdtype}: an answer where none is"
            if why:
                failures.append(why)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_members_view_validates(signer, resolver_set, kind):
    if signer.kind != "dnsd":
        pytest.skip("views are dnsd's: a static zone has one answer")
    name = f"_xmpp-server._tcp.alpha.{ZONE}"
    default = resolver_set[kind, HOST].ask(name, "SRV")
    view = resolver_set[kind, VIEW].ask(name, "SRV")
    assert check(default, resolver_set[kind, HOST], name, "SRV") == ""
    assert check(view, resolver_set[kind, VIEW], name, "SRV") == ""
    assert srv_targets(default) == [(0, "ch.fed.example.")]
    assert srv_targets(view) == [(0, "ch.fed.example."), (10, "xmpp.alpha.fed.example.")]


def test_delv_fully_validates(signer, resolver_set, tmp_path):
    """delv through unbound, and delv straight at the signer with the zone as
    its root of trust."""
    failures = []
    unbound = resolver_set["unbound", HOST]
    for name, rdtype, rcode, _ in queries(signer):
        root = next((a for a in APEXES if name.endswith(a)), ZONE)
        anchors = {root: signer.anchors[root]}
        for server, port in ((HOST, unbound.port), (HOST, signer.port)):
            _, out = delv(server, port, anchors, root, name, rdtype, tmp_path)
            first = out.splitlines()[0] if out else ""
            if "fully validated" not in first:
                failures.append(f"delv @{server}#{port} {name} {rdtype}: {out.strip()[:300]}")
    assert not failures, "\n".join(failures)


def test_suspension_validates_after_a_flush(signer, resolver_set):
    if signer.kind != "dnsd":
        pytest.skip("a policy change is dnsd's: the static zone does not follow the store")
    name = f"_xmpp-server._tcp.alpha.{ZONE}"
    for kind in KINDS:
        r = resolver_set[kind, VIEW].ask(name, "SRV")
        assert (10, "xmpp.alpha.fed.example.") in srv_targets(r), kind
    signer.ctl.ok("suspend", "alpha.fed.example")
    try:
        failures = []
        for kind in KINDS:
            res = resolver_set[kind, VIEW]
            res.flush()
            r = res.ask(name, "SRV")
            why = check(r, res, name, "SRV")
            if not why and srv_targets(r) != [(0, "ch.fed.example.")]:
                why = f"{kind}: still {srv_targets(r)} after the suspension and a flush"
            if why:
                failures.append(why)
        assert not failures, "\n".join(failures)
    finally:
        signer.ctl.ok("resume", "alpha.fed.example")
        for r in resolver_set.values():
            r.flush()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_flipped_signature_bit_is_servfail(signer, tmp_path, kind):
    qtypes = {dns.rdatatype.SRV}
    with TamperProxy((HOST, signer.port), lambda w: flip_signature_bit(w, qtypes)) as proxy:
        with KINDS[kind](tmp_path, signer.anchors, signer.forwards(proxy.port)) as res:
            # The proxy passes everything else: the keys and the A records validate.
            r = res.ask(f"ch.{ZONE}", "A")
            assert check(r, res, f"ch.{ZONE}", "A") == ""
            r = res.ask(f"_xmpp-server._tcp.alpha.{ZONE}", "SRV")
            assert proxy.tampered > 0
            assert r.rcode() == dns.rcode.SERVFAIL, r.to_text()
            assert not r.answer
            r = res.ask(APEXES[0], "SRV")
            assert r.rcode() == dns.rcode.SERVFAIL, r.to_text()


# dnsviz codes that Knot DNS's mod-onlinesign earns and dnsd must not: in a
# negative answer Knot lowers the SOA's TTL to its minimum (RFC 2308) but
# keeps the RRSIG's.
KNOT_KNOWN = {"RRSET_TTL_MISMATCH"}


SHIM = """#!/bin/sh
for a; do
    case $a in *.conf)
        grep -q check-names "$a" ||
            sed -i 's/recursion no;/recursion no; check-names primary ignore;/' "$a";;
    esac
done
exec {real} "$@"
"""


def named_shim(workdir):
    """A directory with named and named-checkconf that let names with
    underscores be hosts.  dnsviz serves the parent zone given with -N
    from a named of its own, whose zone names its apex as NS; for the
    parent of _xmpp-server._tcp.gamma.example that apex is
    _tcp.gamma.example, which check-names refuses as a host name."""
    d = workdir / "named-shim"
    d.mkdir(exist_ok=True)
    for prog in ("named", "named-checkconf"):
        real = shutil.which(prog, path="/usr/sbin:/usr/bin:/sbin")
        path = d / prog
        path.write_text(SHIM.format(real=real))
        path.chmod(0o755)
    return d


def dnsviz(workdir, *args):
    """dnsviz with its temporary files in workdir; the named it starts for a
    parent given with -N (on fixed ports from 50053) is stopped even when
    dnsviz is not."""
    tmp = workdir / "dnsviz-tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp),
           "PATH": f"{named_shim(workdir)}:{os.environ['PATH']}"}
    try:
        return subprocess.run(["dnsviz", *args], capture_output=True, text=True, timeout=240,
                              env=env)
    finally:
        for pid in pids_of(str(tmp)):
            os.kill(pid, signal.SIGTERM)


def pids_of(path):
    """The processes whose command line names something under path."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if path.encode() in f.read():
                        out.append(int(entry))
            except OSError:
                continue
    return out


def grok_findings(grok):
    """(errors or warnings, where, code, description) of a dnsviz grok JSON."""
    out = []

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("errors", "warnings") and isinstance(v, list):
                    out.extend((k, path, e.get("code"), e.get("description")) for e in v)
                else:
                    walk(v, f"{path}/{k}")
        elif isinstance(x, list):
            for v in x:
                walk(v, path)
    walk(grok, "")
    return out


@pytest.mark.parametrize("apex", [ZONE, APEXES[0]])
def test_dnsviz_finds_no_error_and_no_warning(signer, tmp_path, apex):
    if not shutil.which("dnsviz"):
        pytest.skip("dnsviz is not installed")
    if not signer.at53:
        pytest.skip("dnsviz asks port 53 only: it needs root and a free loopback address")
    ns = f"ns1.{ZONE}={signer.at53}"
    names = [apex, f"_xmpp-server._tcp.alpha.{ZONE}", f"_tcp.alpha.{ZONE}",
             f"_5269._tcp.xmpp.alpha.{ZONE}"] if apex == ZONE else [apex]
    probe = tmp_path / "probe.json"
    # -A with the delegation (-N), the DS (-D) and the servers (-x) given:
    # no root, no Internet, only the signer on loopback.
    r = dnsviz(tmp_path, "probe", "-A", "-N", f"{apex}:{ns}",
               "-D", f"{apex}:" + ",".join(signer.anchors[apex]),
               "-x", f"{apex}:{ns}", "-o", str(probe), *names)
    assert r.returncode == 0, r.stderr
    r = dnsviz(tmp_path, "grok", "-P", "-r", str(probe))
    assert r.returncode == 0, r.stderr
    (tmp_path / "grok.json").write_text(r.stdout)
    grok = json.loads(r.stdout)
    findings = grok_findings(grok)
    if signer.kind == "knot":
        findings = [f for f in findings if f[2] not in KNOT_KNOWN]
    assert not findings, "\n".join(f"{k} {where}: {code}: {d}" for k, where, code, d in findings)
    assert grok[apex + "."]["delegation"]["status"] == "SECURE"
    assert set(grok) == {n + "." for n in names}
    statuses = set()

    def walk(x):
        if isinstance(x, dict):
            statuses.add(x.get("status"))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(grok)
    assert statuses - {None} <= {"NOERROR", "SECURE", "VALID"}, statuses
