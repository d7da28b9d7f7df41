"""Real secondaries (Knot DNS, NSD, BIND; secondaries.py) of a primary on
loopback, with TSIG.

First the lab itself, proven against Knot DNS as the primary: NOTIFY and
IXFR after a serial bump, a member zone added to and removed from the
catalog.  Then the same against dnsd: policy changes reach every
secondary through NOTIFY within seconds, every name a secondary serves is
what dnsd serves (the default view, and a view bound to a key), and the
catalog adds and drops an out-of-zone member's apex zones."""
import re
import time

import dns.exception
import dns.message
import dns.query
import dns.zone
import pytest

from secondaries import (HOST, KnotPrimary, Key, Lab, catalog_text, knot_primary, missing,
                         soa_serial)
from test_dnsd import Dnsd, free_port
from test_dnsd_apex import without_gamma, write_policy

CATALOG = "catalog.fed.example"
GAMMA = ["_xmpp-server._tcp.gamma.example", "_xmpps-server._tcp.gamma.example"]
# Within a few seconds: NOTIFY is sent within a second of a commit; the
# rest is the secondaries' own pace on a shared machine.
FOLLOW_S = 15


@pytest.fixture(autouse=True)
def installed():
    if missing():
        pytest.skip(f"not installed: {', '.join(missing())} (Debian packages knot, nsd, "
                    "bind9; see scripts/deps)")


def bump_serial(path):
    text = path.read_text()
    m = re.search(r"SOA\s+\S+\s+\S+\s+\(?\s*(\d+)", text)
    new = int(m.group(1)) + 1
    path.write_text(text[:m.start(1)] + str(new) + text[m.end(1):])
    return new


def member_zone(path, apex, serial):
    path.write_text(f"$ORIGIN {apex}.\n$TTL 60\n"
                    f"@ SOA ns1.fed.example. hostmaster.fed.example. {serial} 60 60 600 5\n"
                    "@ NS ns1.fed.example.\n@ SRV 0 0 5269 ch.fed.example.\n")


# ---- the lab, against Knot DNS as the primary ----

@pytest.fixture
def knot_lab(tmp_path, sample_zone):
    key = Key.new("xfr-lab")
    zf = tmp_path / "fed.example.zone"
    zf.write_text(sample_zone.read_text())
    files = {"fed.example": zf, CATALOG: tmp_path / "catalog.zone"}
    for apex in GAMMA:
        files[apex] = tmp_path / f"{apex}.zone"
        member_zone(files[apex], apex, 1)
    files[CATALOG].write_text(catalog_text(CATALOG, GAMMA, 1))
    p = KnotPrimary(tmp_path, key, files)
    lab = Lab(tmp_path, (HOST, p.port), key, ["fed.example"], catalog=CATALOG,
              catalog_members=GAMMA)
    with knot_primary(p, lab.notify_targets()), lab:
        assert lab.wait_serial("fed.example", p.serial("fed.example"), FOLLOW_S) == {}
        for apex in GAMMA:
            assert lab.wait_serial(apex, 1, FOLLOW_S) == {}, apex
        yield p, lab, files


def test_lab_follows_a_knot_primary_through_notify_and_ixfr(knot_lab):
    p, lab, files = knot_lab
    serial = bump_serial(files["fed.example"])
    p.reload()
    assert lab.wait_serial("fed.example", serial, FOLLOW_S) == {}
    for kind in ("knot", "bind"):
        assert lab[kind].transfers("fed.example") == ["AXFR", "IXFR"], kind
    assert lab["nsd"].transfers("fed.example") == ["XFR", "XFR"]
    # And what they serve is the primary's zone, name by name.
    want = p.axfr("fed.example", p.key)
    for s in lab:
        for name, node in want.nodes.items():
            for rds in node.rdatasets:
                r = dns.query.udp(dns.message.make_query(name, rds.rdtype), HOST, port=s.port,
                                  timeout=2)
                got = r.find_rrset(r.answer, name, rds.rdclass, rds.rdtype) if r.answer else None
                assert got is not None and set(got) == set(rds), (s.kind, name, rds.rdtype)


def test_lab_catalog_adds_and_drops_a_member_zone_with_a_knot_primary(knot_lab, tmp_path):
    p, lab, files = knot_lab
    apex = "_xmpp-server._tcp.omega.example"
    files[apex] = tmp_path / "omega.zone"
    member_zone(files[apex], apex, 7)
    p.files = files
    p.write_config()
    files[CATALOG].write_text(catalog_text(CATALOG, GAMMA + [apex], 2))
    p.reload()
    assert lab.wait_serial(apex, 7, FOLLOW_S, kinds=("knot", "bind")) == {}
    assert lab["nsd"].serial(apex) is None   # NSD has no catalog consumer
    files[CATALOG].write_text(catalog_text(CATALOG, GAMMA, 3))
    p.reload()
    assert lab.wait_serial(apex, None, FOLLOW_S, kinds=("knot", "bind")) == {}
    assert lab.wait_serial(GAMMA[0], 1, 1, kinds=("knot", "bind")) == {}


# ---- against dnsd ----

def dnsd_axfr(port, zone, key):
    """dnsd's zone by AXFR with key, or None if dnsd refuses or cannot."""
    try:
        return dns.zone.from_xfr(dns.query.xfr(HOST, zone.rstrip(".") + ".", port=port, keyring=key.keyring(),
                                               keyname=key.name, timeout=5, lifetime=20,
                                               relativize=False),
                                 relativize=False)
    except (dns.exception.DNSException, OSError, EOFError):
        return None


@pytest.fixture
def dnsd_lab(dnsd_path, loaded, sample_zone, tmp_path):
    key = Key.new("xfr-lab")
    view_key = Key.new("xfr-delta", "hmac-sha512")
    conf = tmp_path / "dnsd.yaml"

    def write():
        targets = [(HOST, s.port) for s in lab] + [(HOST, s.port) for s in view_lab]
        conf.write_text(
            "keys:\n"
            f"  - {key.dnsd_yaml()}\n"
            f"  - {view_key.dnsd_yaml()}\n"
            "transfer:\n"
            f"  - {{key: {key.name}}}\n"
            f"  - {{key: {view_key.name}, view: delta.fed.example}}\n"
            "notify:\n"
            + "".join(f'  - {{address: "{h}:{p}", key: {key.name}}}\n'
                      for h, p in targets[:len(lab.servers)])
            + "".join(f'  - {{address: "{h}:{p}", key: {view_key.name}}}\n'
                      for h, p in targets[len(lab.servers):])
            + f"catalog: {CATALOG}\n"
            # A removed member's zones leave the catalog when its grace
            # ends: none here, so that the catalog test sees them go.
            "removed-grace-s: 0\n")

    # The secondaries need dnsd's port and dnsd needs theirs: take a port
    # for dnsd first, then write its configuration.
    port = free_port()
    lab = Lab(tmp_path / "default", (HOST, port), key, ["fed.example"], catalog=CATALOG,
              catalog_members=GAMMA)
    view_lab = Lab(tmp_path / "view", (HOST, port), view_key, ["fed.example"], catalog=CATALOG,
                   kinds=("knot",))
    write()
    loaded.ok("removed-grace", "0")   # the store's, which dnsd's setting must match
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=["--config", str(conf), "--listen", f"{HOST}:{port}"])
    try:
        if dnsd_axfr(port, "fed.example", key) is None:
            pytest.skip("dnsd answers no AXFR in this tree (zone transfers are not in yet): "
                        "these tests run once they are")
        with lab, view_lab:
            serial = soa_serial(port, "fed.example")
            assert lab.wait_serial("fed.example", serial, FOLLOW_S) == {}
            assert view_lab.wait_serial("fed.example", serial, FOLLOW_S) == {}
            # The member zones come from the catalog: Knot and BIND add them
            # after its transfer, NSD has them configured.
            for apex in GAMMA:
                assert lab.wait_serial(apex, soa_serial(port, apex), FOLLOW_S) == {}, apex
            yield d, port, lab, view_lab, key, view_key
    finally:
        assert d.stop() == 0


def test_secondaries_follow_dnsd_policy_changes_through_notify(dnsd_lab, loaded):
    _, port, lab, _, _, _ = dnsd_lab
    # Whatever other tests left, the zone is transferred before the changes.
    for s in lab:
        assert s.transfers("fed.example"), s.kind
    seen = {s.kind: len(s.transfers("fed.example")) for s in lab}
    # Each apex zone has its own serial: a change to beta leaves gamma's
    # as it was, a change to gamma moves it to the community zone's.
    for change in (("suspend", "beta.fed.example"), ("resume", "beta.fed.example"),
                   ("set", "beta.fed.example", "level", "1"), ("set", "gamma.example", "level", "2")):
        before = time.monotonic()
        apex_before = soa_serial(port, GAMMA[0])
        loaded.ok(*change)
        serial = soa_serial(port, "fed.example")
        assert lab.wait_serial("fed.example", serial, FOLLOW_S) == {}, change
        for apex in GAMMA:
            apex_serial = soa_serial(port, apex)
            assert (apex_serial == serial) == (change[1] == "gamma.example"), (change, apex)
            assert (apex_serial == apex_before) == (change[1] != "gamma.example"), (change, apex)
            assert lab.wait_serial(apex, apex_serial, FOLLOW_S,
                                   kinds=("knot", "bind", "nsd")) == {}
        assert time.monotonic() - before < FOLLOW_S + 5
    # The first transfer and one per change at least (IXFR, or the whole
    # zone where dnsd's journal cannot give the difference).
    for s in lab:
        assert len(s.transfers("fed.example")) >= 5, (s.kind, s.transfers("fed.example"))
    # After the first transfer, dnsd's journal gives the differences: Knot
    # and BIND say they received IXFR, not the whole zone (NSD does not say).
    for s in lab:
        if s.kind in ("knot", "bind"):
            after = s.transfers("fed.example")[seen[s.kind]:]
            assert after and set(after) == {"IXFR"}, (s.kind, s.transfers("fed.example"))


def assert_same_names(want, port, kind):
    """Every name and type of zone want is served at port just so."""
    for name, node in want.nodes.items():
        for rds in node.rdatasets:
            q = dns.message.make_query(name, rds.rdtype)
            r = dns.query.tcp(q, HOST, port=port, timeout=5)
            got = r.find_rrset(r.answer, name, rds.rdclass, rds.rdtype) if r.answer else None
            assert got is not None and set(got) == set(rds), (kind, name, rds.rdtype)


def test_secondaries_serve_what_dnsd_serves_default_view(dnsd_lab):
    _, port, lab, _, key, _ = dnsd_lab
    for zone in ["fed.example", *GAMMA]:
        want = dnsd_axfr(port, zone, key)
        assert want is not None, zone
        for s in lab:
            assert_same_names(want, s.port, s.kind)


def test_secondary_of_a_keyed_view_serves_that_view(dnsd_lab):
    _, port, _, view_lab, key, view_key = dnsd_lab
    for zone in ["fed.example", *GAMMA]:
        want = dnsd_axfr(port, zone, view_key)
        assert want is not None, zone
        for s in view_lab:
            assert_same_names(want, s.port, s.kind)


def test_catalog_adds_and_drops_an_out_of_zone_member(dnsd_lab, loaded, sample_policy,
                                                      tmp_path):
    _, port, lab, _, _, _ = dnsd_lab
    loaded.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
    for apex in GAMMA:
        assert lab.wait_serial(apex, None, FOLLOW_S, kinds=("knot", "bind")) == {}, apex
    loaded.ok("load", sample_policy)
    for apex in GAMMA:
        serial = soa_serial(port, apex)
        assert lab.wait_serial(apex, serial, FOLLOW_S, kinds=("knot", "bind")) == {}, apex


def test_keyed_view_secondary_converges_when_a_not_after_passes(dnsd_lab, loaded):
    # alpha's fallback in delta's view ends at its not-after, with no
    # commit: dnsd's serial moves then, it sends NOTIFY by itself, and the
    # secondary takes the difference and serves what dnsd serves.
    _, port, _, view_lab, _, view_key = dnsd_lab
    soon = int(time.time()) + 8
    loaded.ok("set", "alpha.fed.example", "not-after",
              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon)))
    serial = soa_serial(port, "fed.example")
    assert view_lab.wait_serial("fed.example", serial, FOLLOW_S) == {}
    before = dnsd_axfr(port, "fed.example", view_key)
    # An instant is valid through its second: it ends at soon + 1.
    while time.time() < soon + 1.3:
        time.sleep(0.1)
    moved = soa_serial(port, "fed.example")
    assert moved == serial + 1
    assert view_lab.wait_serial("fed.example", moved, FOLLOW_S) == {}
    want = dnsd_axfr(port, "fed.example", view_key)
    assert want != before
    for s in view_lab:
        assert_same_names(want, s.port, s.kind)
        assert s.transfers("fed.example")[-1] == "IXFR", s.transfers("fed.example")
