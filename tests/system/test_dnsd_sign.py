"""Signed answers on the wire, checked by a validator: BIND's delv asks dnsd
directly with the zone's KSK as its trust anchor, for the sample community's
SRV records, a member apex outside the zone, NXDOMAIN, NODATA and empty
non-terminals; with DO=0 there are no signatures; a member's SRV answer with
DO fits in 1232 bytes with Ed25519 and with ECDSA P-256."""
import signal
import subprocess
import time

import dns.flags
import dns.rdatatype
import pytest

from test_dnsd import Dnsd

GAMMA_APEX = "_xmpp-server._tcp.gamma.example"


def ldns_keygen(keys, alg, ksk):
    r = subprocess.run(["ldns-keygen", "-a", alg, *(["-k"] if ksk else []), "fed.example"],
                       cwd=keys, check=True, capture_output=True, text=True, timeout=60)
    stem = r.stdout.strip()
    (keys / f"{stem}.ds").unlink(missing_ok=True)
    (keys / f"{stem}.private").chmod(0o600)
    return stem


def start(dnsd_path, loaded, sample_zone, tmp_path, alg, csk=False):
    keys = tmp_path / "keys"
    keys.mkdir()
    ksk = ldns_keygen(keys, alg, True)
    if not csk:
        ldns_keygen(keys, alg, False)
    conf = tmp_path / "dnsd.yaml"
    conf.write_text("dnssec: {keys: keys}\n")
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=["--threads", "1", "--config", str(conf)])
    d.ksk = (keys / f"{ksk}.key").read_text().split()
    d.tmp = tmp_path
    return d


@pytest.fixture(params=["ED25519", "ECDSAP256SHA256"])
def signed(request, dnsd_path, loaded, sample_zone, tmp_path):
    d = start(dnsd_path, loaded, sample_zone, tmp_path, request.param,
              csk=request.param != "ED25519")
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def delv(d, root, name, rdtype):
    """delv's verdict on name/rdtype, asked of dnsd with the KSK as the
    trust anchor of root."""
    flags, proto, alg, key = d.ksk[3:7]
    anchor = d.tmp / f"anchor-{root}"
    anchor.write_text(f'trust-anchors {{ {root}. static-key {flags} {proto} {alg} "{key}"; }};\n')
    r = subprocess.run(["delv", "@127.0.0.1", "-p", str(d.port), "-a", str(anchor),
                        f"+root={root}", name, rdtype], capture_output=True, text=True,
                       timeout=60)
    return r.stdout + r.stderr


@pytest.mark.parametrize("name,rdtype,root,verdict", [
    ("_xmpp-server._tcp.alpha.fed.example", "SRV", "fed.example", "; fully validated"),
    ("_xmpps-server._tcp.alpha.fed.example", "SRV", "fed.example", "; fully validated"),
    ("ch.fed.example", "AAAA", "fed.example", "; fully validated"),
    ("fed.example", "DNSKEY", "fed.example", "; fully validated"),
    ("fed.example", "CDS", "fed.example", "; fully validated"),
    ("nosuch.fed.example", "A", "fed.example", "negative response, fully validated"),
    ("_xmpp-server._tcp.nosuch.fed.example", "SRV", "fed.example",
     "negative response, fully validated"),
    ("ch.fed.example", "TXT", "fed.example", "negative response, fully validated"),
    ("_tcp.alpha.fed.example", "A", "fed.example", "negative response, fully validated"),
    ("fed.example", "A", "fed.example", "negative response, fully validated"),
    (GAMMA_APEX, "SRV", GAMMA_APEX, "; fully validated"),
    (GAMMA_APEX, "A", GAMMA_APEX, "negative response, fully validated"),
    ("x." + GAMMA_APEX, "A", GAMMA_APEX, "negative response, fully validated"),
])
def test_delv_validates_answers(signed, name, rdtype, root, verdict):
    out = delv(signed, root, name, rdtype)
    assert verdict in out, out


def test_no_signatures_without_do(signed):
    for name, rdtype in [("_xmpp-server._tcp.alpha.fed.example", "SRV"),
                         ("nosuch.fed.example", "A"), ("ch.fed.example", "TXT")]:
        r = signed.ask(name, rdtype, use_edns=0, want_dnssec=False)
        types = {rrset.rdtype for rrset in r.answer + r.authority + r.additional}
        assert dns.rdatatype.RRSIG not in types and dns.rdatatype.NSEC not in types, r


def test_signed_srv_fits_udp(signed):
    # delta's resolver (127.0.0.2) gets delta's two fallback targets too.
    r = signed.ask("_xmpp-server._tcp.delta.fed.example", "SRV", source="127.0.0.2",
                   use_edns=0, payload=1232, want_dnssec=True)
    assert not r.flags & dns.flags.TC
    assert len(r.to_wire()) <= 1232
    srv = [s for s in r.answer if s.rdtype == dns.rdatatype.SRV]
    sig = [s for s in r.answer if s.rdtype == dns.rdatatype.RRSIG]
    assert len(srv[0]) == 3 and sig and sig[0].covers == dns.rdatatype.SRV


def dnskeys(d):
    r = d.ask("fed.example", "DNSKEY", use_edns=0, want_dnssec=True, tcp=True)
    return sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.DNSKEY
                  for rd in rrset)


def test_sighup_reads_the_keys_again(dnsd_path, loaded, sample_zone, tmp_path):
    d = start(dnsd_path, loaded, sample_zone, tmp_path, "ED25519")
    try:
        before = dnskeys(d)
        assert len(before) == 2
        # A key that cannot be used (no .private) refuses the reload: the
        # keys in use stay.
        stem = ldns_keygen(tmp_path / "keys", "ED25519", False)
        private = tmp_path / "keys" / f"{stem}.private"
        private.rename(tmp_path / "aside.private")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in d.stderr(), d)
        assert dnskeys(d) == before
        # Whole again: the next reload publishes the third key.
        (tmp_path / "aside.private").rename(private)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(dnskeys(d)) == 3, d)
        out = delv(d, "fed.example", "_xmpp-server._tcp.alpha.fed.example", "SRV")
        assert "; fully validated" in out, out
    finally:
        assert d.stop() == 0, d.stderr()


def wait_for(cond, d, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out: " + d.stderr())
