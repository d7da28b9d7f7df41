"""Differential test: the same static zone served by Knot DNS and by dnsd
(with a store that holds no policy) must give the same answers, field by
field, for SOA, NS, A, AAAA, NXDOMAIN and NODATA names."""
import contextlib
import shutil
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import Ctl
from test_dnsd import HOST, Dnsd, free_port

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"

QUERIES = [
    ("fed.example", "SOA"), ("fed.example", "NS"), ("fed.example", "A"),
    ("fed.example", "MX"), ("FED.Example", "SOA"),
    ("ns1.fed.example", "A"), ("ns1.fed.example", "AAAA"), ("ns2.fed.example", "AAAA"),
    ("ch.fed.example", "A"), ("ch.fed.example", "AAAA"), ("ch.fed.example", "TXT"),
    ("xmpp1.delta.fed.example", "A"), ("xmpp.alpha.fed.example", "AAAA"),
    ("alpha.fed.example", "A"),          # an empty non-terminal: NODATA
    ("delta.fed.example", "AAAA"),
    ("nothing.fed.example", "A"),        # NXDOMAIN
    ("deep.below.nothing.fed.example", "SOA"),
    ("_xmpp-server._tcp.alpha.fed.example", "SRV"),   # no policy loaded: NXDOMAIN
]


@contextlib.contextmanager
def run_knot(tmp_path, zone_file, apex="fed.example"):
    """knotd serving one zone file on a free loopback port; yields the port."""
    if not shutil.which("knotd") and not shutil.which(KNOTD):
        pytest.skip("knotd is not installed (Debian package knot)")
    port = free_port()
    conf = tmp_path / "knot.conf"
    conf.write_text(f"""server:
    listen: {HOST}@{port}
    rundir: {tmp_path}
database:
    storage: {tmp_path}
template:
  - id: default
    storage: {tmp_path}
    semantic-checks: off
zone:
  - domain: {apex}
    file: {zone_file}
    zonefile-sync: -1
    journal-content: none
""")
    log = open(tmp_path / "knot.log", "w")
    proc = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        q = dns.message.make_query(apex, "SOA")
        deadline = time.monotonic() + 10
        while True:
            try:
                dns.query.udp(q, HOST, port=port, timeout=0.1)
                break
            except dns.exception.Timeout:
                assert proc.poll() is None and time.monotonic() < deadline, "knotd did not start"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def knot(tmp_path_factory, sample_zone):
    with run_knot(tmp_path_factory.mktemp("knot"), sample_zone) as port:
        yield port


@pytest.fixture(scope="module")
def plain_dnsd(dnsd_path, policyctl_path, tmp_path_factory, sample_zone):
    # A store with no community and no members: nothing is synthesised.
    ctl = Ctl(policyctl_path, tmp_path_factory.mktemp("plain") / "store")
    ctl.ok("init")
    d = Dnsd(dnsd_path, str(ctl.db), [str(sample_zone)])
    yield d
    assert d.stop() == 0


def sections(r):
    def norm(section):
        return sorted(rrset.to_text() for rrset in section)
    return {
        "rcode": dns.rcode.to_text(r.rcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "tc": bool(r.flags & dns.flags.TC),
        "ra": bool(r.flags & dns.flags.RA),
        "question": [q.to_text() for q in r.question],
        "answer": norm(r.answer),
        "authority": norm(r.authority),
        "additional": norm(r.additional),
        "edns": r.edns,
        "payload": r.payload,
    }


@pytest.mark.parametrize("name,rdtype", QUERIES)
@pytest.mark.parametrize("edns", [False, True])
def test_same_as_knot(knot, plain_dnsd, name, rdtype, edns):
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    q.flags &= ~dns.flags.RD
    theirs = sections(dns.query.udp(q, HOST, port=knot, timeout=2))
    ours = sections(dns.query.udp(q, HOST, port=plain_dnsd.port, timeout=2))
    assert ours == theirs
