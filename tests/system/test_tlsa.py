"""DNSSEC keys and TLSA at dnsd's start and on the wire: TLSA 3 1 1 records
for a member's in-zone SRV targets from its pins and for the clearinghouse
host from its certificate (checked against the openssl pipeline), with and
without DO, the NODATA/NXDOMAIN rules around them, and in AXFR and IXFR; the DS records of
`dnsd --print-ds` against dnssec-dsfromkey's; and the key problems that
stop dnsd from starting rather than let it serve a zone unsigned."""
import hashlib
import os
import subprocess

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from test_dnsd import Dnsd, assert_authoritative
from test_xfr import axfr, current_serial, diff_of, ixfr_from

ALPHA_HOST = "xmpp.alpha.fed.example"
OTHER_PIN = "ab" * 32


def spki_pin(cert):
    """openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum"""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def keygen(keys, *args):
    """A key made by dnssec-keygen in keys; its file stem."""
    r = subprocess.run(["dnssec-keygen", "-q", "-K", str(keys), *args], check=True,
                       capture_output=True, text=True, timeout=60)
    return r.stdout.strip()


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    d.mkdir()
    keygen(d, "-a", "ED25519", "-f", "KSK", "fed.example")
    keygen(d, "-a", "ED25519", "fed.example")
    return d


def edit_policy(ctl, sample_policy, tmp_path, edit):
    p = yaml.safe_load(sample_policy.read_text())
    edit(p)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(p))
    ctl.ok("load", path)


@pytest.fixture
def pinned(loaded, sample_policy, tmp_path, pki):
    """alpha pins its self-signed key and another; beta none."""
    def edit(p):
        p["members"]["alpha.fed.example"]["pins"] = [(pki / "self.pin").read_text(), OTHER_PIN]
    edit_policy(loaded, sample_policy, tmp_path, edit)
    return loaded


def write_config(tmp_path, text):
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(text)
    return conf


@pytest.fixture
def signed(dnsd_path, pinned, sample_zone, tmp_path, keys, pki):
    conf = write_config(tmp_path, f"dnssec: {{keys: keys, tlsa-cert: {pki / 'ch.pem'}}}\n")
    d = Dnsd(dnsd_path, str(pinned.db), [str(sample_zone)],
             extra=["--threads", "1", "--config", str(conf)])
    d.ctl = pinned
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def tlsa(r):
    """(usage, selector, mtype, hex) of the answer's TLSA records, sorted."""
    out = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.RRSIG:   # with DO: the signer's
            assert rrset.covers == dns.rdatatype.TLSA
            continue
        assert rrset.rdtype == dns.rdatatype.TLSA
        out += [(rd.usage, rd.selector, rd.mtype, rd.cert.hex()) for rd in rrset]
    return sorted(out)


def assert_nodata(r):
    assert_authoritative(r)
    assert not r.answer
    (soa,) = r.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "fed.example."


def assert_nxdomain(r):
    assert_authoritative(r, dns.rcode.NXDOMAIN)
    assert not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA


# ---- TLSA ---------------------------------------------------------------------------

@pytest.mark.parametrize("want_dnssec", [False, True])
@pytest.mark.parametrize("port", [5269, 5223])   # targets: and tls-targets:
def test_member_tlsa_from_its_pins(signed, pki, port, want_dnssec):
    r = signed.ask(f"_{port}._tcp.{ALPHA_HOST}", "TLSA", use_edns=0, want_dnssec=want_dnssec)
    assert_authoritative(r)
    assert tlsa(r) == sorted([(3, 1, 1, (pki / "self.pin").read_text()), (3, 1, 1, OTHER_PIN)])
    assert r.answer[0].ttl == 60
    assert r.answer[0].name.to_text() == f"_{port}._tcp.{ALPHA_HOST}."


@pytest.mark.parametrize("want_dnssec", [False, True])
@pytest.mark.parametrize("port", [5269, 5270])   # port and tls-port of the clearinghouse
def test_clearinghouse_tlsa_matches_certificate(signed, pki, port, want_dnssec):
    r = signed.ask(f"_{port}._tcp.ch.fed.example", "TLSA", use_edns=0, want_dnssec=want_dnssec)
    assert_authoritative(r)
    assert tlsa(r) == [(3, 1, 1, spki_pin(pki / "ch.pem"))]


def test_tlsa_over_tcp_and_case_kept(signed, pki):
    r = signed.ask("_5269._TCP.Xmpp.Alpha.fed.example", "TLSA", tcp=True)
    assert_authoritative(r)
    assert len(tlsa(r)) == 2
    assert r.answer[0].name.to_text() == "_5269._TCP.Xmpp.Alpha.fed.example."


def test_tlsa_names_nodata_and_nxdomain(signed):
    # another type at a TLSA name: the name exists
    assert_nodata(signed.ask(f"_5269._tcp.{ALPHA_HOST}", "A"))
    # the empty non-terminal above it
    assert_nodata(signed.ask(f"_tcp.{ALPHA_HOST}", "TXT"))
    assert_nodata(signed.ask("_tcp.ch.fed.example", "TLSA"))
    # a port no target has, a member without pins, a leading zero, below
    assert_nxdomain(signed.ask(f"_5999._tcp.{ALPHA_HOST}", "TLSA"))
    assert_nxdomain(signed.ask("_5269._tcp.xmpp.beta.fed.example", "TLSA"))
    assert_nxdomain(signed.ask("_05269._tcp.ch.fed.example", "TLSA"))
    assert_nxdomain(signed.ask(f"x._5269._tcp.{ALPHA_HOST}", "TLSA"))
    assert_nxdomain(signed.ask(f"_5269._udp.{ALPHA_HOST}", "TLSA"))
    # the host itself keeps its addresses from the zone file
    r = signed.ask(ALPHA_HOST, "A")
    assert_authoritative(r)
    assert r.answer[0][0].address == "192.0.2.10"


def test_member_pins_only_its_own_hosts(signed, sample_policy, tmp_path):
    """beta lists alpha's host as a target, with a pin of its own: the
    TLSA there stays alpha's."""
    def edit(p):
        p["members"]["alpha.fed.example"]["pins"] = [OTHER_PIN]
        beta = p["members"]["beta.fed.example"]
        beta["targets"] = [f"{ALPHA_HOST}:5269", "xmpp.beta.fed.example:5269"]
        beta["pins"] = ["cd" * 32]
    edit_policy(signed.ctl, sample_policy, tmp_path, edit)
    assert tlsa(signed.ask(f"_5269._tcp.{ALPHA_HOST}", "TLSA")) == [(3, 1, 1, OTHER_PIN)]
    assert tlsa(signed.ask("_5269._tcp.xmpp.beta.fed.example", "TLSA")) == [(3, 1, 1, "cd" * 32)]


def test_tlsa_follows_the_policy(signed, sample_policy, tmp_path):
    """A suspended member's pins are no longer published; the answer was
    cached before the change."""
    name = f"_5269._tcp.{ALPHA_HOST}"
    assert len(tlsa(signed.ask(name, "TLSA"))) == 2

    def edit(p):
        p["members"]["alpha.fed.example"]["status"] = "suspended"
    edit_policy(signed.ctl, sample_policy, tmp_path, edit)
    assert_nxdomain(signed.ask(name, "TLSA"))


def test_tlsa_pin_setting(dnsd_path, pinned, sample_zone, tmp_path, keys):
    conf = write_config(tmp_path, f"dnssec: {{keys: keys, tlsa-pin: {'0f' * 32}}}\n")
    d = Dnsd(dnsd_path, str(pinned.db), [str(sample_zone)], extra=["--config", str(conf)])
    try:
        assert tlsa(d.ask("_5269._tcp.ch.fed.example", "TLSA")) == [(3, 1, 1, "0f" * 32)]
    finally:
        assert d.stop() == 0


def test_no_clearinghouse_tlsa_without_setting(dnsd_path, pinned, sample_zone, tmp_path, keys):
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    d = Dnsd(dnsd_path, str(pinned.db), [str(sample_zone)], extra=["--config", str(conf)])
    try:
        assert_nxdomain(d.ask("_5269._tcp.ch.fed.example", "TLSA"))
        assert len(tlsa(d.ask(f"_5269._tcp.{ALPHA_HOST}", "TLSA"))) == 2
    finally:
        assert d.stop() == 0


# ---- DS for the parent ---------------------------------------------------------------

def print_ds(dnsd_path, db, zone, conf, *apex):
    arg = ["--print-ds=" + apex[0]] if apex else ["--print-ds"]
    return subprocess.run([dnsd_path, "--db", str(db), "--zone", str(zone), "--config",
                           str(conf), *arg], capture_output=True, text=True, timeout=60)


def ds_lines(text):
    """(owner, tag, alg, digest type, digest) of DS lines, digest lower case."""
    out = set()
    for line in text.splitlines():
        f = line.split()
        i = f.index("DS")
        out.add((f[0].lower(), int(f[i + 1]), int(f[i + 2]), int(f[i + 3]),
                 "".join(f[i + 4:]).lower()))
    return out


def test_print_ds_matches_dnssec_dsfromkey(dnsd_path, loaded, sample_zone, tmp_path, keys):
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    r = print_ds(dnsd_path, loaded.db, sample_zone, conf)
    assert r.returncode == 0, r.stderr
    got = ds_lines(r.stdout)
    ksk = [f for f in os.listdir(keys) if f.endswith(".key") and " 257 " in (keys / f).read_text()]
    (ksk,) = ksk
    want = subprocess.run(["dnssec-dsfromkey", "-2", str(keys / ksk)], check=True,
                          capture_output=True, text=True).stdout
    (fed,) = ds_lines(want)
    assert fed in got
    # the community's key signs gamma.example's two delegated apexes too
    owners = sorted(o for o, *_ in got)
    assert owners == ["_xmpp-server._tcp.gamma.example.", "_xmpps-server._tcp.gamma.example.",
                      "fed.example."]
    assert {(t, a, d) for _, t, a, d, _ in got} == {(fed[1], fed[2], 2)}

    r = print_ds(dnsd_path, loaded.db, sample_zone, conf, "_XMPPS-server._tcp.gamma.example.")
    assert r.returncode == 0, r.stderr
    assert [o for o, *_ in ds_lines(r.stdout)] == ["_xmpps-server._tcp.gamma.example."]
    r = print_ds(dnsd_path, loaded.db, sample_zone, conf, "_xmpp-server._tcp.alpha.fed.example")
    assert r.returncode == 2 and "is not an apex dnsd answers at" in r.stderr


def test_member_keys_replace_the_community_keys(dnsd_path, loaded, sample_zone, tmp_path, keys):
    stem = keygen(keys, "-a", "ECDSAP256SHA256", "-f", "KSK", "_xmpp-server._tcp.gamma.example")
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    r = print_ds(dnsd_path, loaded.db, sample_zone, conf, "_xmpp-server._tcp.gamma.example")
    assert r.returncode == 0, r.stderr
    want = subprocess.run(["dnssec-dsfromkey", "-2", str(keys / (stem + ".key"))], check=True,
                          capture_output=True, text=True).stdout
    assert ds_lines(r.stdout) == ds_lines(want)


def test_print_ds_needs_keys(dnsd_path, loaded, sample_zone):
    r = subprocess.run([dnsd_path, "--db", str(loaded.db), "--zone", str(sample_zone),
                        "--print-ds"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--print-ds needs dnssec: {keys: DIR}" in r.stderr


# ---- key problems stop the start -----------------------------------------------------

def start_fails(dnsd_path, db, zone, conf):
    r = subprocess.run([dnsd_path, "--db", str(db), "--zone", str(zone), "--listen",
                        "127.0.0.1:1", "--config", str(conf)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    return r.stderr


def test_start_refuses_group_readable_private_key(dnsd_path, loaded, sample_zone, tmp_path,
                                                  keys):
    priv = next(keys.glob("*.private"))
    priv.chmod(0o640)
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    err = start_fails(dnsd_path, loaded.db, sample_zone, conf)
    assert f"{priv.name}: the private key may be read or written by others (mode 640)" in err


def test_start_refuses_missing_private_key(dnsd_path, loaded, sample_zone, tmp_path, keys):
    priv = next(keys.glob("*.private"))
    priv.unlink()
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    assert "No such file or directory" in start_fails(dnsd_path, loaded.db, sample_zone, conf)


def test_start_refuses_unsupported_algorithm(dnsd_path, loaded, sample_zone, tmp_path, keys):
    keygen(keys, "-a", "RSASHA256", "-b", "2048", "fed.example")
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    err = start_fails(dnsd_path, loaded.db, sample_zone, conf)
    assert "algorithm 8 (RSASHA256) is not supported" in err


def test_start_refuses_zone_without_active_key(dnsd_path, loaded, sample_zone, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    keygen(keys, "-a", "ED25519", "-f", "KSK", "-P", "now", "-A", "now+30d", "fed.example")
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    err = start_fails(dnsd_path, loaded.db, sample_zone, conf)
    assert "no DNSSEC key for fed.example. is active now" in err


def test_start_refuses_keys_of_another_zone_only(dnsd_path, loaded, sample_zone, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    keygen(keys, "-a", "ED25519", "-f", "KSK", "other.example")
    conf = write_config(tmp_path, "dnssec: {keys: keys}\n")
    err = start_fails(dnsd_path, loaded.db, sample_zone, conf)
    assert "no DNSSEC key for fed.example." in err


def test_start_refuses_bad_tlsa_cert(dnsd_path, loaded, sample_zone, tmp_path, keys):
    (tmp_path / "ch.pem").write_text("not a certificate\n")
    conf = write_config(tmp_path, "dnssec: {keys: keys, tlsa-cert: ch.pem}\n")
    assert "ch.pem: not a PEM certificate" in start_fails(dnsd_path, loaded.db, sample_zone, conf)


# ---- transfers: secondaries serve the same TLSA ------------------------------------

@pytest.fixture
def xfr_signed(dnsd_path, pinned, sample_zone, tmp_path, keys, pki):
    conf = write_config(tmp_path, "transfer:\n  - {address: 127.0.0.1/32}\n"
                                  f"dnssec: {{keys: keys, tlsa-cert: {pki / 'ch.pem'}}}\n")
    d = Dnsd(dnsd_path, str(pinned.db), [str(sample_zone)], extra=["--config", str(conf)])
    d.ctl = pinned
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def test_axfr_holds_the_tlsa_queries_get(xfr_signed, pki):
    z, _ = axfr(xfr_signed)
    got = {n: rds for (n, t), (_, rds) in z.items() if t == dns.rdatatype.TLSA}
    pin = (pki / "self.pin").read_text()
    ch = spki_pin(pki / "ch.pem")
    assert got == {
        f"_5269._tcp.{ALPHA_HOST}.": {f"3 1 1 {pin}", f"3 1 1 {OTHER_PIN}"},
        f"_5223._tcp.{ALPHA_HOST}.": {f"3 1 1 {pin}", f"3 1 1 {OTHER_PIN}"},
        "_5269._tcp.ch.fed.example.": {f"3 1 1 {ch}"},
        "_5270._tcp.ch.fed.example.": {f"3 1 1 {ch}"},
    }
    for name, rds in got.items():
        assert {f"3 1 1 {h}" for *_, h in tlsa(xfr_signed.ask(name, "TLSA"))} == rds


def test_ixfr_carries_a_pin_change(xfr_signed, sample_policy, tmp_path):
    axfr(xfr_signed)   # a secondary that has this serial
    s0 = current_serial(xfr_signed)

    def edit(p):
        p["members"]["alpha.fed.example"]["pins"] = [OTHER_PIN, "cd" * 32]
        p["members"]["alpha.fed.example"]["tls-targets"] = []
    edit_policy(xfr_signed.ctl, sample_policy, tmp_path, edit)
    old, deleted, added = diff_of(ixfr_from(xfr_signed, s0))
    assert old == s0
    tlsa_del = {(n, rd) for n, t, _, rd in deleted if t == dns.rdatatype.TLSA}
    tlsa_add = {(n, rd) for n, t, _, rd in added if t == dns.rdatatype.TLSA}
    n5269, n5223 = f"_5269._tcp.{ALPHA_HOST}.", f"_5223._tcp.{ALPHA_HOST}."
    assert tlsa_add == {(n5269, "3 1 1 " + "cd" * 32)}
    assert (n5223, "3 1 1 " + OTHER_PIN) in tlsa_del
    assert (n5269, "3 1 1 " + OTHER_PIN) not in tlsa_del
    assert len(tlsa_del) == 3   # the self pin at both names, OTHER_PIN at 5223
