"""dnsd at the apexes a member outside the community zone delegates to it
(_xmpp-server._tcp.gamma.example and _xmpps-server._tcp.gamma.example):
they keep existing, with SOA and NS, when the member is inactive."""
import re
import subprocess

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from test_dnsd import HOST, Dnsd, assert_authoritative

APEXES = ["_xmpp-server._tcp.gamma.example", "_xmpps-server._tcp.gamma.example"]


def zone_serial(d):
    return d.ask("fed.example", "SOA").answer[0][0].serial


def write_policy(sample_policy, path, edit):
    p = yaml.safe_load(sample_policy.read_text())
    edit(p)
    path.write_text(yaml.safe_dump(p))
    return path


def assert_empty_apex(d, apex):
    """SOA and NS answered at the apex; NODATA with the apex SOA for the
    rest (SRV included); NXDOMAIN with the apex SOA below it."""
    r = d.ask(apex, "SOA")
    assert_authoritative(r)
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.SOA]
    assert r.answer[0].name.to_text() == apex + "."
    assert r.answer[0][0].serial == zone_serial(d)
    r = d.ask(apex, "NS")
    assert_authoritative(r)
    assert {rd.target.to_text() for rd in r.answer[0]} == {"ns1.fed.example.", "ns2.fed.example."}
    for rdtype in ("SRV", "TXT", "A"):
        r = d.ask(apex, rdtype)
        assert_authoritative(r)
        assert not r.answer, rdtype
        (soa,) = r.authority
        assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == apex + "."
    r = d.ask("x.y." + apex, "A")
    assert_authoritative(r, dns.rcode.NXDOMAIN)
    assert r.authority[0].name.to_text() == apex + "."


@pytest.fixture
def start(dnsd_path, loaded, sample_zone):
    started = []

    def run(*extra, zone=sample_zone):
        d = Dnsd(dnsd_path, str(loaded.db), [str(zone)], extra=("--threads", "1", *extra))
        d.ctl = loaded
        started.append(d)
        return d
    yield run
    for d in started:
        if d.proc.poll() is None:
            assert d.stop() == 0, d.stderr()


# ---- an inactive member's apexes under inactive: nxdomain --------------------------

INACTIVE = {
    "suspended": lambda m: m.update(status="suspended"),
    "revoked": lambda m: m.update(status="revoked"),
    "expired": lambda m: m.update({"not-after": "2020-01-01"}),
}


@pytest.mark.parametrize("how", sorted(INACTIVE))
def test_inactive_nxdomain_apex_keeps_soa_and_ns(start, sample_policy, tmp_path, how):
    def edit(p):
        p["community"]["inactive"] = "nxdomain"
        INACTIVE[how](p["members"]["gamma.example"])
    d = start()
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", edit))
    for apex in APEXES:
        assert_empty_apex(d, apex)
    out = subprocess.run(["dig", f"@{HOST}", "-p", str(d.port), "+norec", APEXES[0], "NS"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "status: NOERROR" in out and re.search(r"flags: qr aa;", out)
    assert re.search(r"IN\s+NS\s+ns1\.fed\.example\.", out), out
    # Inside the community zone, where the name is no apex: NXDOMAIN, as set.
    r = d.ask("_xmpp-server._tcp.epsilon.fed.example", "SRV")
    assert_authoritative(r, dns.rcode.NXDOMAIN)
