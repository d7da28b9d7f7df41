"""Zone transfers from dnsd (RFC 5936 AXFR, RFC 1995 IXFR) and the catalog
zone (RFC 9432): what a secondary receives is what queries of the same view
get, name by name; who may transfer is what transfer: says; a secondary
that goes away mid-transfer costs dnsd nothing."""
import shutil
import signal
import socket
import struct
import subprocess
import time

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import yaml

from test_dnsd import HOST, TIMEOUT, Dnsd


def read_msg(s):
    """One message off a TCP stream, one record per RRset as a transfer
    sends them (the closing SOA is not merged into the opening one)."""
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    head = exactly(2)
    data = head and exactly(struct.unpack("!H", head)[0])
    return data and dns.message.from_wire(data, one_rr_per_rrset=True)

ALLOWED = "127.0.0.1"        # transfer: address 127.0.0.1/32, default view
DELTA_XFR = "127.0.0.3"      # transfer: address 127.0.0.3/32, view delta.fed.example
DELTA_QUERIER = "127.0.0.2"  # delta's resolver in the sample: no transfer rule
CATALOG = "catalog.fed.example"
ZONE = "fed.example"

CONFIG = f"""\
transfer:
  - {{address: {ALLOWED}/32}}
  - {{address: {DELTA_XFR}/32, view: delta.fed.example}}
catalog: {CATALOG}
"""


def config(tmp_path, text=CONFIG):
    path = tmp_path / "dnsd.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def server(dnsd_path, loaded, sample_zone, tmp_path):
    loaded.ok("removed-grace", "0")   # the store says; dnsd checks
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=("--config", str(config(tmp_path)), "--removed-grace-s", "0"))
    d.ctl = loaded
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def axfr(d, zone=ZONE, source=ALLOWED):
    """The transferred zone as {(name, type): (ttl, {rdata text})}, and the
    messages it came in."""
    q = dns.message.make_query(zone, "AXFR")
    msgs = list(dns.query.xfr(HOST, zone, port=d.port, source=source, timeout=10,
                              lifetime=60, relativize=False))
    first = msgs[0].answer[0]
    last = msgs[-1].answer[-1]
    assert first.rdtype == last.rdtype == dns.rdatatype.SOA
    assert first[0] == last[0]
    del q
    out = {}
    rrsets = [r for m in msgs for r in m.answer]
    rrsets[0] = dns.rrset.from_rdata_list(first.name, first.ttl, list(first)[:1])
    # The closing SOA is the opening one again: drop it.
    tail = rrsets[-1]
    if len(tail) == 1:
        rrsets.pop()
    else:
        rrsets[-1] = dns.rrset.from_rdata_list(tail.name, tail.ttl, list(tail)[:-1])
    for r in rrsets:
        key = (r.name.to_text().lower(), r.rdtype)
        ttl, rds = out.get(key, (r.ttl, set()))
        assert ttl == r.ttl, key
        out[key] = (ttl, rds | {rd.to_text().lower() for rd in r})
    return out, msgs


def asked(d, name, rdtype, source):
    """What a query gets, in the form of axfr()."""
    r = d.ask(name, rdtype, source=source, tcp=True)
    got = {}
    for rr in r.answer:
        if rr.rdtype == rdtype and rr.name.to_text().lower() == name.lower():
            got[(name.lower(), rdtype)] = (rr.ttl, {rd.to_text().lower() for rd in rr})
    return r, got


def members(sample_policy):
    return sorted(yaml.safe_load(sample_policy.read_text())["members"])


def assert_same_as_queries(d, zone, source, sample_policy):
    """Every RRset transferred is what a query from source gets, and every
    member's SRV names get what was transferred (nothing if nothing)."""
    z, _ = axfr(d, zone, source=DELTA_XFR if source == DELTA_QUERIER else ALLOWED)
    for (name, rdtype), want in z.items():
        if rdtype == dns.rdatatype.SOA:
            r, got = asked(d, name, rdtype, source)
            assert got[(name, rdtype)][1] == want[1], name
            continue
        r, got = asked(d, name, rdtype, source)
        assert got.get((name, rdtype)) == want, (name, dns.rdatatype.to_text(rdtype))
    for m in members(sample_policy):
        if not m.endswith("." + zone):
            continue
        for prefix in ("_xmpp-server._tcp.", "_xmpps-server._tcp."):
            name = prefix + m + "."
            r, got = asked(d, name, dns.rdatatype.SRV, source)
            assert got.get((name, dns.rdatatype.SRV)) == z.get((name, dns.rdatatype.SRV)), name
    return z


def test_axfr_default_view_equals_queries(server, sample_policy):
    z = assert_same_as_queries(server, ZONE, ALLOWED, sample_policy)
    soa = server.ask(ZONE, "SOA").answer[0][0]
    assert z[(ZONE + ".", dns.rdatatype.SOA)][1] == {soa.to_text().lower()}
    # Every member of the zone is in it, clearinghouse first.
    assert ("_xmpp-server._tcp.alpha.fed.example.", dns.rdatatype.SRV) in z
    # The default view has no fallback: only the clearinghouse.
    for (name, rdtype), (_, rds) in z.items():
        if rdtype == dns.rdatatype.SRV:
            assert all(rd.endswith("ch.fed.example.") for rd in rds), (name, rds)


def test_axfr_keyed_view_differs_exactly_by_the_fallback(server, sample_policy):
    default, _ = axfr(server)
    delta = assert_same_as_queries(server, ZONE, DELTA_QUERIER, sample_policy)
    assert default.keys() <= delta.keys()
    extra = {}
    for key, (ttl, rds) in delta.items():
        more = rds - default.get(key, (ttl, set()))[1]
        if more:
            extra[key] = more
        assert default.get(key, (ttl, set()))[1] <= rds
    # delta may fall back to alpha's own hosts (alpha allows delta),
    # to its own, but never to beta's (beta is denied to delta).
    assert extra, "the keyed view has no fallback at all"
    for (name, rdtype), rds in extra.items():
        assert rdtype == dns.rdatatype.SRV
        for rd in rds:
            assert int(rd.split()[0]) >= 10, (name, rd)   # fallback priority
    assert ("_xmpp-server._tcp.alpha.fed.example.", dns.rdatatype.SRV) in extra
    assert ("_xmpp-server._tcp.beta.fed.example.", dns.rdatatype.SRV) not in extra


def test_axfr_refused_with_ede_prohibited_to_others(server):
    q = dns.message.make_query(ZONE, "AXFR", use_edns=0)
    r = dns.query.tcp(q, HOST, port=server.port, source=DELTA_QUERIER, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.answer
    ede = [o for o in r.options if o.otype == dns.edns.EDE]
    assert len(ede) == 1 and ede[0].code == 18, r.options
    # Without EDNS: a plain REFUSED, no OPT.
    q = dns.message.make_query(ZONE, "AXFR", use_edns=False)
    r = dns.query.tcp(q, HOST, port=server.port, source=DELTA_QUERIER, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.REFUSED and r.edns < 0
    # IXFR over UDP too.
    q = ixfr_query(ZONE, 1)
    r = dns.query.udp(q, HOST, port=server.port, source=DELTA_QUERIER, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.REFUSED
    assert [o.code for o in r.options if o.otype == dns.edns.EDE] == [18]
    assert server.ask(ZONE, "SOA").rcode() == dns.rcode.NOERROR


def test_axfr_over_udp_formerr(server):
    q = dns.message.make_query(ZONE, "AXFR")
    r = dns.query.udp(q, HOST, port=server.port, source=ALLOWED, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.FORMERR


def test_transfer_of_a_zone_not_served_notauth(server):
    q = dns.message.make_query("example.org", "AXFR")
    r = dns.query.tcp(q, HOST, port=server.port, source=ALLOWED, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.NOTAUTH


def ixfr_query(zone, serial_no):
    q = dns.message.make_query(zone, "IXFR", use_edns=0)
    q.authority.append(dns.rrset.from_text(zone + ".", 0, "IN", "SOA",
                                           f"ns1.{zone}. hostmaster.{zone}. {serial_no} 1 1 1 1"))
    return q


def current_serial(d, zone=ZONE):
    return d.ask(zone, "SOA").answer[0][0].serial


def test_ixfr_current_serial_one_soa(server):
    s = current_serial(server)
    for serial_no in (s, (s + 5) % 2**32):   # current, and newer than ours
        for tcp in (False, True):
            q = ixfr_query(ZONE, serial_no)
            send = dns.query.tcp if tcp else dns.query.udp
            r = send(q, HOST, port=server.port, source=ALLOWED, timeout=TIMEOUT)
            assert r.rcode() == dns.rcode.NOERROR
            assert len(r.answer) == 1 and len(r.answer[0]) == 1
            assert r.answer[0].rdtype == dns.rdatatype.SOA and r.answer[0][0].serial == s


def test_ixfr_old_serial_full_zone(server):
    s = current_serial(server)
    full, _ = axfr(server)
    # Over UDP: it does not fit, TC sends the client to TCP.
    r = dns.query.udp(ixfr_query(ZONE, s - 1), HOST, port=server.port, source=ALLOWED,
                      timeout=TIMEOUT)
    assert r.flags & dns.flags.TC and not r.answer
    # Over TCP: the whole zone, AXFR-style (RFC 1995 4).
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as c:
        wire = ixfr_query(ZONE, s - 1).to_wire()
        c.sendall(struct.pack("!H", len(wire)) + wire)
        records = []
        while True:
            m = read_msg(c)
            assert m is not None and m.rcode() == dns.rcode.NOERROR
            records += [(rr.name, rr.rdtype, rd) for rr in m.answer for rd in rr]
            if len(records) > 1 and records[-1][1] == dns.rdatatype.SOA:
                break
    assert records[0][1] == dns.rdatatype.SOA and records[0][2].serial == s
    assert records[1][1] != dns.rdatatype.SOA        # not an incremental answer
    assert len(records) - 1 == sum(len(rds) for _, rds in full.values())


def test_member_apex_zone_transfer(server):
    apex = "_xmpp-server._tcp.gamma.example"
    z, _ = axfr(server, apex)
    assert {t for (_, t) in z} == {dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.SRV}
    for (name, rdtype), want in z.items():
        r, got = asked(server, name, rdtype, ALLOWED)
        assert got[(name, rdtype)][1] == want[1], name
    # The zone of a name that is nobody's apex does not exist.
    q = dns.message.make_query("_xmpp-server._tcp.nobody.example", "AXFR")
    r = dns.query.tcp(q, HOST, port=server.port, source=ALLOWED, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.NOTAUTH


def catalog_zones(d):
    z, _ = axfr(d, CATALOG)
    assert z[("version." + CATALOG + ".", dns.rdatatype.TXT)][1] == {'"2"'}
    assert z[(CATALOG + ".", dns.rdatatype.NS)][1] == {"invalid."}
    ptrs = {k[0]: rds for k, (_, rds) in z.items() if k[1] == dns.rdatatype.PTR}
    for owner in ptrs:
        assert owner.endswith(".zones." + CATALOG + ".")
    serial_no = next(iter(z[(CATALOG + ".", dns.rdatatype.SOA)][1])).split()[2]
    return {next(iter(rds)): owner for owner, rds in ptrs.items()}, int(serial_no)


def test_catalog_lists_apexes_and_follows_members(server, sample_policy, tmp_path):
    zones, serial1 = catalog_zones(server)
    assert set(zones) == {"fed.example.", "_xmpp-server._tcp.gamma.example.",
                          "_xmpps-server._tcp.gamma.example."}
    p = yaml.safe_load(sample_policy.read_text())
    p["members"]["kappa.example"] = {"level": 1, "targets": ["xmpp.kappa.example:5269"]}
    path = tmp_path / "more.yaml"
    path.write_text(yaml.safe_dump(p))
    server.ctl.ok("load", path)
    zones2, serial2 = catalog_zones(server)
    assert set(zones2) == set(zones) | {"_xmpp-server._tcp.kappa.example.",
                                        "_xmpps-server._tcp.kappa.example."}
    # The labels are stable: a zone keeps its entry.
    assert all(zones2[z] == zones[z] for z in zones)
    assert 0 < (serial2 - serial1) % 2**32 < 2**31
    # Removed (grace 0 here): gone from the catalog at once.
    server.ctl.ok("load", sample_policy)
    zones3, serial3 = catalog_zones(server)
    assert set(zones3) == set(zones)
    assert 0 < (serial3 - serial2) % 2**32 < 2**31


def test_removed_member_stays_in_catalog_during_grace(dnsd_path, loaded, sample_zone,
                                                      sample_policy, tmp_path):
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=("--config", str(config(tmp_path))))   # the default grace: a week
    try:
        p = yaml.safe_load(sample_policy.read_text())
        del p["members"]["gamma.example"]
        p["overrides"] = [o for o in p["overrides"]
                          if "gamma.example" not in next(iter(o.values()))]
        path = tmp_path / "without-gamma.yaml"
        path.write_text(yaml.safe_dump(p))
        loaded.ok("load", path)
        zones, _ = catalog_zones(d)
        assert "_xmpp-server._tcp.gamma.example." in zones
        assert "_xmpps-server._tcp.gamma.example." in zones
        # Its zones are empty now: SOA and NS, as queries get them.
        z, _ = axfr(d, "_xmpp-server._tcp.gamma.example")
        assert {t for (_, t) in z} == {dns.rdatatype.SOA, dns.rdatatype.NS}
    finally:
        assert d.stop() == 0, d.stderr()


def test_catalog_names_refused_to_others(server):
    for name, rdtype in ((CATALOG, "SOA"), ("version." + CATALOG, "TXT")):
        r = server.ask(name, rdtype, source=DELTA_QUERIER, use_edns=0)
        assert r.rcode() == dns.rcode.REFUSED
        r = server.ask(name, rdtype, source=ALLOWED)
        assert r.rcode() == dns.rcode.NOERROR and r.answer
    r = server.ask("nothing." + CATALOG, "A", source=ALLOWED)
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_kdig_parses_axfr(server):
    kdig = shutil.which("kdig")
    if not kdig:
        pytest.skip("kdig not installed")
    for zone in (ZONE, CATALOG, "_xmpp-server._tcp.gamma.example"):
        p = subprocess.run([kdig, "-b", ALLOWED, "-p", str(server.port), "@" + HOST, "-t", "AXFR",
                            zone], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "ERROR" not in p.stdout + p.stderr and "WARNING" not in p.stdout + p.stderr
        assert f"{zone}." in p.stdout and "SOA" in p.stdout


# ---- a large store --------------------------------------------------------------

BIG = 10000


@pytest.fixture
def big(dnsd_path, policyctl_path, tmp_path):
    from conftest import Ctl
    ctl = Ctl(policyctl_path, tmp_path / "store")
    ctl.ok("init")
    policy = tmp_path / "big.yaml"
    with open(policy, "w") as f:
        f.write(f"community:\n  zone: {ZONE}\n  clearinghouse:\n"
                f"    - {{host: ch.{ZONE}, port: 5269, tls-port: 5270}}\n"
                "  fallback: allowed\n  ttl: 60\nmembers:\n")
        for i in range(BIG):
            f.write(f"  m{i:05d}.{ZONE}: {{level: 1, targets: [xmpp.m{i:05d}.{ZONE}:5269]}}\n")
    ctl.ok("load", policy)
    zone = tmp_path / "apex.zone"
    zone.write_text(f"$ORIGIN {ZONE}.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
                    "@ IN NS ns1\nns1 IN A 192.0.2.1\nch IN A 192.0.2.5\n")
    d = Dnsd(dnsd_path, str(ctl.db), [str(zone)],
             extra=("--config", str(config(tmp_path)), "--threads", "1"))
    d.ctl = ctl
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def start_axfr(port, zone=ZONE):
    c = socket.create_connection((HOST, port), timeout=TIMEOUT)
    wire = dns.message.make_query(zone, "AXFR").to_wire()
    c.sendall(struct.pack("!H", len(wire)) + wire)
    return c


def test_secondary_disconnecting_mid_axfr_leaves_dnsd_serving(big):
    for i in range(20):
        c = start_axfr(big.port)
        got = c.recv(4096 * (i + 1))
        assert got
        if i % 2:
            # A reset rather than an orderly close.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    assert big.ask(ZONE, "SOA").rcode() == dns.rcode.NOERROR
    z, msgs = axfr(big)
    assert len(msgs) > 1
    for m in msgs:
        assert len(m.to_wire()) <= 16384
    srv = sum(len(rds) for (name, t), (_, rds) in z.items() if t == dns.rdatatype.SRV)
    assert srv == 2 * BIG


def test_axfr_does_not_block_other_tcp_clients(big):
    stalled = start_axfr(big.port)          # never read: dnsd must not wait on it
    try:
        stalled.recv(100)
        t0 = time.monotonic()
        r = big.ask("_xmpp-server._tcp.m00042.fed.example", "SRV", tcp=True)
        assert r.rcode() == dns.rcode.NOERROR and r.answer
        r = big.ask(ZONE, "SOA")
        assert r.rcode() == dns.rcode.NOERROR
        assert time.monotonic() - t0 < 10
    finally:
        stalled.close()


def test_secondary_that_stops_reading_is_closed_and_dnsd_keeps_serving(dnsd_path, big, tmp_path):
    d = Dnsd(dnsd_path, str(big.ctl.db), big.zones,
             extra=("--config", str(config(tmp_path)), "--threads", "1", "--tcp-idle-ms", "1000"))
    try:
        c = start_axfr(d.port)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        time.sleep(3)
        c.settimeout(10)
        closed = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if not c.recv(65536):
                    closed = True
                    break
            except ConnectionResetError:
                closed = True
                break
        c.close()
        assert closed
        assert d.ask(ZONE, "SOA").rcode() == dns.rcode.NOERROR
    finally:
        assert d.stop() == 0, d.stderr()


def test_axfr_snapshot_consistent_across_commits(big):
    """A transfer in progress keeps the serial it started with, even when
    commits land while the secondary reads slowly."""
    c = start_axfr(big.port)
    first = read_msg(c)
    s0 = first.answer[0][0].serial
    big.ctl.ok("suspend", "m00001.fed.example")
    records = [rr for rr in first.answer]
    while True:
        m = read_msg(c)
        assert m is not None, big.stderr()
        records += m.answer
        if records[-1].rdtype == dns.rdatatype.SOA:
            break
    c.close()
    assert records[-1][0].serial == s0
    assert current_serial(big) != s0


# ---- start-up checks ------------------------------------------------------------

@pytest.mark.parametrize("text,why", [
    ("transfer:\n  - {key: nokey}\n", "no such key"),
    ("transfer:\n  - {address: 192.0.2.1/33}\n", "not an address"),
    ("transfer:\n  - {address: 192.0.2.1, view: not_a_name}\n", "view"),
    ("transfer:\n  - {view: delta.fed.example}\n", "needs a key, an address"),
    ("catalog: \"bad..name\"\n", "catalog"),
])
def test_bad_transfer_settings_exit_2(dnsd_path, loaded, sample_zone, tmp_path, text, why):
    path = config(tmp_path, text)
    p = subprocess.run([dnsd_path, "--config", str(path), "--db", str(loaded.db), "--zone",
                        str(sample_zone), "--listen", f"{HOST}:1"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert str(path) in p.stderr and why in p.stderr, p.stderr
    if "catalog" not in text:
        assert f"{path}:2:5:" in p.stderr, p.stderr


# ---- IXFR from the journal ----

def ixfr_from(d, serial_no, zone=ZONE, source=ALLOWED):
    """ixfr_tcp from a source address, as the transfer rules see it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((source, 0))
    s.connect((HOST, d.port))
    with s:
        wire = ixfr_query(zone, serial_no).to_wire()
        s.sendall(struct.pack("!H", len(wire)) + wire)
        records = []
        while True:
            m = read_msg(s)
            assert m is not None and m.rcode() == dns.rcode.NOERROR
            records += [(rr.name.to_text().lower(), rr.rdtype, rr.ttl, rd)
                        for rr in m.answer for rd in rr]
            if not is_incremental(records):
                if len(records) > 1 and records[-1][1] == dns.rdatatype.SOA:
                    return records
                continue
            soas = [r for r in records if r[1] == dns.rdatatype.SOA]
            if len(soas) >= 4 and records[-1][1] == dns.rdatatype.SOA and \
                    records[-1][3].serial == records[0][3].serial and len(soas) % 2 == 0:
                return records


def is_incremental(records):
    return len(records) > 1 and records[1][1] == dns.rdatatype.SOA


def diff_of(records):
    """An incremental answer's (old serial, deleted, added), each a set of
    (name, type, ttl, rdata text)."""
    assert is_incremental(records)
    new = records[0][3].serial
    old = records[1][3].serial
    rest = records[2:-1]
    cut = next(i for i, r in enumerate(rest)
               if r[1] == dns.rdatatype.SOA and r[3].serial == new)
    key = lambda r: (r[0], r[1], r[2], r[3].to_text().lower())   # noqa: E731
    return old, {key(r) for r in rest[:cut]}, {key(r) for r in rest[cut + 1:]}


def as_set(z):
    """axfr()'s dict as a set of (name, type, ttl, rdata), SOA left out."""
    return {(n, t, ttl, rd) for (n, t), (ttl, rds) in z.items() if t != dns.rdatatype.SOA
            for rd in rds}


def with_members(sample_policy, tmp_path, names):
    """The sample policy with members names added, as a file to load."""
    p = yaml.safe_load(sample_policy.read_text())
    for n in names:
        p["members"][n] = {"level": 1, "targets": [f"xmpp.{n}:5269"]}
    path = tmp_path / ("with-" + "-".join(names or ["none"]) + ".yaml")
    path.write_text(yaml.safe_dump(p))
    return path


def test_ixfr_suspend_keyed_view_holds_exactly_that_members_srv_changes(server):
    old, _ = axfr(server, source=DELTA_XFR)
    s0 = current_serial(server)
    server.ctl.ok("suspend", "alpha.fed.example")
    new, _ = axfr(server, source=DELTA_XFR)
    records = ixfr_from(server, s0, source=DELTA_XFR)
    assert is_incremental(records), server.stderr()
    serial_old, deleted, added = diff_of(records)
    assert serial_old == s0 and records[0][3].serial == current_serial(server)
    assert deleted
    assert all(r[0].endswith("._tcp.alpha.fed.example.") and r[1] == dns.rdatatype.SRV
               for r in deleted | added)
    # Applying the difference to the old zone gives the new one exactly.
    assert (as_set(old) - deleted) | added == as_set(new)


def test_ixfr_suspend_default_view_empty_difference(server):
    # The default view never has a member's own hosts: nothing to send.
    axfr(server)
    s0 = current_serial(server)
    server.ctl.ok("suspend", "alpha.fed.example")
    records = ixfr_from(server, s0)
    assert is_incremental(records)
    assert diff_of(records) == (s0, set(), set())


def test_ixfr_several_commits_one_condensed_difference(server, sample_policy, tmp_path):
    old, _ = axfr(server)
    s0 = current_serial(server)
    for names in (["kappa.fed.example"], ["kappa.fed.example", "lambda.fed.example"],
                  ["lambda.fed.example"]):
        server.ctl.ok("load", with_members(sample_policy, tmp_path, names))
    new, _ = axfr(server)
    records = ixfr_from(server, s0)
    soas = [r for r in records if r[1] == dns.rdatatype.SOA]
    assert len(soas) == 4      # one difference, not three
    _, deleted, added = diff_of(records)
    assert not deleted and added
    assert {r[0].split("._tcp.")[1] for r in added} == {"lambda.fed.example."}
    assert (as_set(old) - deleted) | added == as_set(new)


def test_ixfr_member_removed_default_view_applies(server, sample_policy, tmp_path):
    server.ctl.ok("load", with_members(sample_policy, tmp_path, ["kappa.fed.example"]))
    old, _ = axfr(server)
    s0 = current_serial(server)
    server.ctl.ok("load", sample_policy)
    new, _ = axfr(server)
    _, deleted, added = diff_of(ixfr_from(server, s0))
    assert deleted and not added
    assert (as_set(old) - deleted) | added == as_set(new)


def test_ixfr_over_udp_difference_that_fits(server):
    axfr(server, source=DELTA_XFR)
    s0 = current_serial(server)
    server.ctl.ok("suspend", "alpha.fed.example")
    r = dns.query.udp(ixfr_query(ZONE, s0), HOST, port=server.port, source=DELTA_XFR,
                      timeout=TIMEOUT, one_rr_per_rrset=True)
    assert not r.flags & dns.flags.TC
    records = [(rr.name.to_text().lower(), rr.rdtype, rr.ttl, rd)
               for rr in r.answer for rd in rr]
    old, deleted, _ = diff_of(records)
    assert old == s0 and deleted


def test_ixfr_older_than_journal_max_whole_zone(dnsd_path, loaded, sample_zone, tmp_path):
    loaded.ok("removed-grace", "0")   # the store says; dnsd checks
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=("--config", str(config(tmp_path, CONFIG + "journal-max: 1\n")),
                    "--removed-grace-s", "0"))
    d.ctl = loaded
    try:
        axfr(d)
        s0 = current_serial(d)
        d.ctl.ok("suspend", "alpha.fed.example")
        assert is_incremental(ixfr_from(d, s0))
        d.ctl.ok("suspend", "beta.fed.example")
        assert not is_incremental(ixfr_from(d, s0))      # two serials back
    finally:
        assert d.stop() == 0, d.stderr()


def test_ixfr_after_zone_reload_whole_zone(dnsd_path, loaded, sample_zone, tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text())
    loaded.ok("removed-grace", "0")   # the store says; dnsd checks
    d = Dnsd(dnsd_path, str(loaded.db), [str(zone)],
             extra=("--config", str(config(tmp_path)), "--removed-grace-s", "0"))
    d.ctl = loaded
    try:
        axfr(d)
        s0 = current_serial(d)
        d.ctl.ok("suspend", "alpha.fed.example")
        assert is_incremental(ixfr_from(d, s0))
        zone.write_text(sample_zone.read_text() + "\nreloaded 300 IN A 192.0.2.99\n")
        deadline = time.monotonic() + 10
        while d.ask("reloaded.fed.example", "A").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, d.stderr()
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
        assert not is_incremental(ixfr_from(d, s0))
    finally:
        assert d.stop() == 0, d.stderr()


def test_ixfr_member_apex_zone_untouched_same_serial_touched_difference(server):
    # An apex zone has its own serial: a commit on another member leaves
    # it as it was (its secondaries are current); one on its member moves
    # it, and an IXFR from before gets the difference.
    apex = "_xmpp-server._tcp.gamma.example"
    axfr(server, apex)
    a0 = current_serial(server, apex)
    server.ctl.ok("suspend", "alpha.fed.example")
    assert current_serial(server, apex) == a0
    assert current_serial(server) != a0
    r = dns.query.tcp(ixfr_query(apex, a0), HOST, port=server.port, source=ALLOWED,
                      timeout=TIMEOUT)
    assert [(rr.rdtype, rr[0].serial) for rr in r.answer] == [(dns.rdatatype.SOA, a0)]
    server.ctl.ok("suspend", "gamma.example")
    a1 = current_serial(server, apex)
    assert a1 == current_serial(server) and a1 != a0
    records = ixfr_from(server, a0, zone=apex)
    # The default view gives a suspended member the clearinghouse, as
    # before: the two SOAs and nothing else.
    assert diff_of(records) == (a0, set(), set())
    assert records[0][3].serial == a1
    # delta's view gets gamma's own hosts once gamma meets delta's
    # min-peer-level: exactly those records are added.
    old, _ = axfr(server, apex, source=DELTA_XFR)
    v0 = old[(apex + ".", dns.rdatatype.SOA)][1].pop().split()[2]
    server.ctl.ok("resume", "gamma.example")
    server.ctl.ok("set", "gamma.example", "level", "3")
    new, _ = axfr(server, apex, source=DELTA_XFR)
    records = ixfr_from(server, int(v0), zone=apex, source=DELTA_XFR)
    serial_old, deleted, added = diff_of(records)
    assert serial_old == int(v0) and added and not deleted
    assert all(r[0] == apex + "." and r[1] == dns.rdatatype.SRV for r in added)
    assert (as_set(old) - deleted) | added == as_set(new)


# ---- a not-after that passes with no commit ----------------------------------------

def instant(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def wait_past(t):
    """Sleep until the Unix time t has passed (bounded by the caller's t)."""
    while time.time() < t + 0.3:
        time.sleep(0.1)


def test_not_after_passing_moves_serial_and_ixfr_carries_that_member(server):
    # A member whose not-after passes loses its fallback in delta's view
    # with no commit: the serial must move, and an IXFR from the serial
    # before must carry exactly that member's SRV change, the old records
    # as they were before the time (not rendered at the current time).
    soon = int(time.time()) + 4
    server.ctl.ok("set", "alpha.fed.example", "not-after", instant(soon))
    old, _ = axfr(server, source=DELTA_XFR)
    s0 = current_serial(server)
    wait_past(soon + 1)   # an instant is valid through its second
    s1 = current_serial(server)
    assert s1 == s0 + 1, "the serial did not move when the not-after passed"
    new, _ = axfr(server, source=DELTA_XFR)
    assert as_set(old) != as_set(new)
    records = ixfr_from(server, s0, source=DELTA_XFR)
    assert is_incremental(records), server.stderr()
    serial_old, deleted, added = diff_of(records)
    assert serial_old == s0 and records[0][3].serial == s1
    assert deleted
    assert all(r[0].endswith("._tcp.alpha.fed.example.") and r[1] == dns.rdatatype.SRV
               for r in deleted | added)
    assert (as_set(old) - deleted) | added == as_set(new)
    # A commit after the event moves the serial on by one more, never back.
    server.ctl.ok("suspend", "beta.fed.example")
    assert current_serial(server) == s1 + 1
    records = ixfr_from(server, s0, source=DELTA_XFR)
    assert is_incremental(records)
    serial_old, deleted, added = diff_of(records)
    assert (as_set(old) - deleted) | added == as_set(axfr(server, source=DELTA_XFR)[0])


def test_fast_secondary_does_not_hold_the_loop_for_its_whole_axfr(big):
    # A secondary that reads as fast as loopback goes: every write of the
    # transfer completed at once, the sending loop never yielded, and a
    # one-thread dnsd answered nothing else until the whole zone was out
    # (0 queries a second during transfers, measured at 1M members).
    import threading
    arrivals = []
    started = threading.Event()
    c = start_axfr(big.port)

    def drain():
        # Raw reads only, each stamped: the last stamp is when dnsd wrote
        # the end of the transfer, give or take a scheduling delay.
        c.settimeout(1.0)
        try:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                arrivals.append(time.monotonic())
                started.set()
        except OSError:
            pass   # the end: a second with nothing more

    t = threading.Thread(target=drain)
    t.start()
    assert started.wait(TIMEOUT)
    r = big.ask("_xmpp-server._tcp.m00042.fed.example", "SRV")
    answered = time.monotonic()
    t.join(timeout=60)
    c.close()
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    # Answered while the transfer was still being sent, not after it.
    assert answered < arrivals[-1], (answered - arrivals[0], arrivals[-1] - arrivals[0])
