"""dnsd on loopback with the sample community, asked with dnspython: every
answer is checked on the wire (sections, flags, rcode, TTLs, SRV order)."""
import os
import re
import signal
import socket
import struct
import subprocess
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest


HOST = "127.0.0.1"
VIEW_DELTA = "127.0.0.2"     # delta.fed.example's querier in the sample
TIMEOUT = 2


def free_port():
    """A port free for both UDP and TCP on loopback."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class Dnsd:
    def __init__(self, path, db, zones, extra=()):
        self.port = free_port()
        self.zones = zones
        self.log = open(os.path.join(db, "..", f"dnsd-{self.port}.log"), "w+")
        args = [path, "--db", db, "--listen", f"{HOST}:{self.port}",
                "--listen", f"[::1]:{self.port}", *extra]
        for z in zones:
            args += ["--zone", z]
        self.proc = subprocess.Popen(args, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.ask("fed.example", "SOA", timeout=0.1)
                return
            except dns.exception.Timeout:
                assert self.proc.poll() is None, self.stderr()
        raise RuntimeError("dnsd did not answer: " + self.stderr())

    def stderr(self):
        if self.log.closed:
            return self.final_log
        self.log.seek(0)
        return self.log.read()

    def ask(self, name, rdtype, source=HOST, tcp=False, timeout=TIMEOUT, **kw):
        q = dns.message.make_query(name, rdtype, **kw)
        q.flags &= ~dns.flags.RD
        if tcp:
            return dns.query.tcp(q, HOST, port=self.port, source=source, timeout=timeout)
        return dns.query.udp(q, HOST, port=self.port, source=source, timeout=timeout,
                             ignore_trailing=False)

    def raw_udp(self, wire, timeout=TIMEOUT):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(wire, (HOST, self.port))
            try:
                return s.recv(65535)
            except socket.timeout:
                return None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        self.final_log = self.stderr()
        self.log.close()
        return code


@pytest.fixture
def dnsd(dnsd_path, loaded, sample_zone):
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)])
    d.ctl = loaded
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def serial(ctl):
    """The community zone's served serial: the policy serial plus the sample
    zone file's own serial, 1."""
    return (int(ctl.ok("history", "-n", "1").split()[0]) + 1) & 0xFFFFFFFF


def srv_records(r):
    """(priority, weight, port, target) of the answer's SRV records, in order."""
    out = []
    for rrset in r.answer:
        assert rrset.rdtype == dns.rdatatype.SRV
        for rd in rrset:
            out.append((rd.priority, rd.weight, rd.port, rd.target.to_text()))
    return out


def assert_authoritative(r, rcode=dns.rcode.NOERROR):
    assert r.rcode() == rcode, dns.rcode.to_text(r.rcode())
    assert r.flags & dns.flags.QR
    assert r.flags & dns.flags.AA
    assert not r.flags & dns.flags.RA


# ---- the policy, at resolution time -------------------------------------------------

def test_member_srv_clearinghouse_first(dnsd):
    r = dnsd.ask("_xmpp-server._tcp.alpha.fed.example", "SRV")
    assert_authoritative(r)
    # A querier that is no member: the clearinghouse only.
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]
    assert r.answer[0].ttl == 60
    extra = {(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)) for rr in r.additional}
    assert ("ch.fed.example.", "A") in extra and ("ch.fed.example.", "AAAA") in extra


def test_fallback_for_an_allowed_querier(dnsd):
    r = dnsd.ask("_xmpp-server._tcp.alpha.fed.example", "SRV", source=VIEW_DELTA)
    assert_authoritative(r)
    recs = srv_records(r)
    assert recs == [(0, 0, 5269, "ch.fed.example."), (10, 0, 5269, "xmpp.alpha.fed.example.")]
    # SRV priorities: the clearinghouse strictly first.
    assert [p for p, *_ in recs] == sorted(p for p, *_ in recs)
    names = {rr.name.to_text() for rr in r.additional}
    assert "xmpp.alpha.fed.example." in names


def test_no_fallback_when_decide_denies(dnsd):
    # delta forbids auth:password, which beta has.
    r = dnsd.ask("_xmpp-server._tcp.beta.fed.example", "SRV", source=VIEW_DELTA)
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]


def test_weights_and_direct_tls(dnsd):
    r = dnsd.ask("_xmpp-server._tcp.delta.fed.example", "SRV", source=VIEW_DELTA)
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example."),
                              (20, 60, 5269, "xmpp1.delta.fed.example."),
                              (20, 40, 5269, "xmpp2.delta.fed.example.")]
    r = dnsd.ask("_xmpps-server._tcp.alpha.fed.example", "SRV", source=VIEW_DELTA)
    assert srv_records(r) == [(0, 0, 5270, "ch.fed.example."), (10, 0, 5223, "xmpp.alpha.fed.example.")]


@pytest.mark.parametrize("member", ["epsilon.fed.example", "omega.fed.example", "zeta.fed.example"])
def test_inactive_member_clearinghouse_only(dnsd, member):
    r = dnsd.ask(f"_xmpp-server._tcp.{member}", "SRV", source=VIEW_DELTA)
    assert_authoritative(r)
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]


def test_unknown_member_nxdomain(dnsd):
    r = dnsd.ask("_xmpp-server._tcp.nobody.fed.example", "SRV")
    assert_authoritative(r, dns.rcode.NXDOMAIN)
    assert not r.answer
    (soa,) = r.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "fed.example."
    assert soa[0].serial == serial(dnsd.ctl)
    assert soa.ttl == 60   # min(SOA TTL, SOA minimum): RFC 2308


def test_member_outside_the_zone(dnsd):
    apex = "_xmpp-server._tcp.gamma.example"
    r = dnsd.ask(apex, "SRV")
    assert_authoritative(r)
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]
    r = dnsd.ask(apex, "SOA")
    assert_authoritative(r)
    assert r.answer[0].name.to_text() == apex + "."
    assert r.answer[0][0].serial == serial(dnsd.ctl)
    r = dnsd.ask(apex, "NS")
    assert {rd.target.to_text() for rd in r.answer[0]} == {"ns1.fed.example.", "ns2.fed.example."}
    r = dnsd.ask(apex, "TXT")
    assert_authoritative(r)
    assert not r.answer and r.authority[0].rdtype == dns.rdatatype.SOA
    # Below the apex: nothing, said with the apex's SOA.
    r = dnsd.ask("x.y." + apex, "A")
    assert_authoritative(r, dns.rcode.NXDOMAIN)
    assert r.authority[0].name.to_text() == apex + "."
    # Not a member, outside our zones: not ours to answer.
    r = dnsd.ask("_xmpp-server._tcp.stranger.example", "SRV")
    assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA


def test_policy_change_seen_by_the_next_query(dnsd):
    name = "_xmpp-server._tcp.alpha.fed.example"
    assert len(srv_records(dnsd.ask(name, "SRV", source=VIEW_DELTA))) == 2
    dnsd.ctl.ok("suspend", "alpha.fed.example")
    assert len(srv_records(dnsd.ask(name, "SRV", source=VIEW_DELTA))) == 1
    dnsd.ctl.ok("resume", "alpha.fed.example")
    r = dnsd.ask(name, "SRV", source=VIEW_DELTA)
    assert len(srv_records(r)) == 2
    # The SOA serial follows the policy serial.
    soa = dnsd.ask("fed.example", "SOA").answer[0][0]
    assert soa.serial == serial(dnsd.ctl)


def test_community_settings_from_a_load(dnsd, sample_policy, tmp_path):
    text = sample_policy.read_text()
    never = text.replace("fallback: allowed", "fallback: never")
    (tmp_path / "never.yaml").write_text(never)
    dnsd.ctl.ok("load", tmp_path / "never.yaml")
    r = dnsd.ask("_xmpp-server._tcp.alpha.fed.example", "SRV", source=VIEW_DELTA)
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]

    always = text.replace("fallback: allowed", "fallback: always").replace("ttl: 60", "ttl: 30")
    (tmp_path / "always.yaml").write_text(always)
    dnsd.ctl.ok("load", tmp_path / "always.yaml")
    r = dnsd.ask("_xmpp-server._tcp.alpha.fed.example", "SRV")   # no view at all
    assert len(srv_records(r)) == 2 and r.answer[0].ttl == 30
    # Inactive members stay clearinghouse-only even with fallback always.
    r = dnsd.ask("_xmpp-server._tcp.epsilon.fed.example", "SRV")
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]

    nx = text.replace("inactive: clearinghouse", "inactive: nxdomain")
    (tmp_path / "nx.yaml").write_text(nx)
    dnsd.ctl.ok("load", tmp_path / "nx.yaml")
    r = dnsd.ask("_xmpp-server._tcp.epsilon.fed.example", "SRV")
    assert_authoritative(r, dns.rcode.NXDOMAIN)
    assert r.authority[0].rdtype == dns.rdatatype.SOA


# ---- protocol manners ----------------------------------------------------------------------

def test_refused_outside_our_zones(dnsd):
    r = dnsd.ask("www.example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.flags & dns.flags.AA and not r.answer


def test_nodata_and_nxdomain(dnsd):
    r = dnsd.ask("ch.fed.example", "TXT")
    assert_authoritative(r)
    assert not r.answer and r.authority[0].rdtype == dns.rdatatype.SOA
    # An empty non-terminal exists: NODATA, not NXDOMAIN.
    r = dnsd.ask("alpha.fed.example", "A")
    assert_authoritative(r)
    assert not r.answer and r.authority[0].rdtype == dns.rdatatype.SOA
    r = dnsd.ask("_tcp.alpha.fed.example", "SRV")
    assert_authoritative(r)
    r = dnsd.ask("nothing.fed.example", "A")
    assert_authoritative(r, dns.rcode.NXDOMAIN)


def test_static_records(dnsd):
    r = dnsd.ask("ch.fed.example", "A")
    assert_authoritative(r)
    assert [rd.address for rd in r.answer[0]] == ["192.0.2.5"]
    assert r.answer[0].ttl == 3600
    r = dnsd.ask("fed.example", "NS")
    assert {rd.target.to_text() for rd in r.answer[0]} == {"ns1.fed.example.", "ns2.fed.example."}
    glue = {rr.name.to_text() for rr in r.additional}
    assert "ns1.fed.example." in glue


def test_qname_case_preserved(dnsd):
    # The first asks in lower case, so the second is answered from the
    # cache: its own case must still come back.
    dnsd.ask("_xmpp-server._tcp.alpha.fed.example", "SRV")
    r = dnsd.ask("_XMPP-Server._TCP.Alpha.Fed.Example", "SRV")
    assert r.question[0].name.to_text() == "_XMPP-Server._TCP.Alpha.Fed.Example."
    assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]


def test_any_is_minimal(dnsd):
    r = dnsd.ask("fed.example", "ANY")
    assert_authoritative(r)
    assert len(r.answer) == 1   # RFC 8482: one RRset


def test_edns(dnsd):
    r = dnsd.ask("fed.example", "SOA", use_edns=0, payload=4096)
    assert r.edns == 0 and r.payload == 1232
    r = dnsd.ask("fed.example", "SOA", use_edns=False)
    assert r.edns == -1
    q = dns.message.make_query("fed.example", "SOA")
    q.use_edns(edns=1, payload=1232)
    r = dns.query.udp(q, HOST, port=dnsd.port, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.BADVERS   # RFC 6891 6.1.3
    assert r.edns == 0 and not r.answer


def test_cache_is_per_view_and_per_edns(dnsd):
    name = "_xmpp-server._tcp.alpha.fed.example"
    for _ in range(2):
        assert len(srv_records(dnsd.ask(name, "SRV"))) == 1
        assert len(srv_records(dnsd.ask(name, "SRV", source=VIEW_DELTA))) == 2
        assert dnsd.ask(name, "SRV", use_edns=False).edns == -1
        assert dnsd.ask(name, "SRV", use_edns=0).edns == 0


def test_truncation_and_tcp(dnsd):
    many = "[" + ", ".join(f"host{i:02d}.alpha.fed.example:5269" for i in range(16)) + "]"
    dnsd.ctl.ok("set", "alpha.fed.example", "targets", many)
    name = "_xmpp-server._tcp.alpha.fed.example"
    r = dnsd.ask(name, "SRV", source=VIEW_DELTA, use_edns=False)
    assert r.flags & dns.flags.TC and not r.answer
    r = dnsd.ask(name, "SRV", source=VIEW_DELTA, tcp=True, use_edns=False)
    assert not r.flags & dns.flags.TC
    assert len(srv_records(r)) == 17
    wire = r.to_wire()
    assert len(wire) < 17 * (len(name) + 30)   # names are compressed


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = dns.name.from_text("fed.example").to_wire() + struct.pack("!HH", 6, 1)


def rcode_of(wire):
    return struct.unpack("!H", wire[2:4])[0] & 0xF


def test_malformed_queries(dnsd):
    # A response (QR=1): no answer at all.
    assert dnsd.raw_udp(header(flags=0x8000) + QUESTION, timeout=0.5) is None
    # Shorter than a header: nothing to answer with.
    assert dnsd.raw_udp(b"\x12\x34\x01", timeout=0.5) is None
    # NOTIFY (opcode 4): not implemented.
    r = dnsd.raw_udp(header(flags=4 << 11) + QUESTION)
    assert r[:2] == b"\x12\x34" and rcode_of(r) == dns.rcode.NOTIMP
    for wire in (header(qd=0),                                 # no question
                 header(qd=2) + QUESTION + QUESTION,           # two questions
                 header() + b"\x03fed\x07exam",                # question cut short
                 header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),   # pointer loop
                 header() + b"\x40" + b"a" * 64 + b"\x00" + struct.pack("!HH", 1, 1),  # label > 63
                 header(ar=1) + QUESTION + b"\x00\x00\x29\x10",        # OPT cut short
                 header(ar=2) + QUESTION + 2 * (b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)),  # two OPTs
                 # Regression (found by fuzz_query): an additional section cut
                 # short made ldns leak the record it was reading.
                 header(ar=72) + QUESTION + b"\x00" * 40,
                 ):
        r = dnsd.raw_udp(wire)
        assert r is not None and r[:2] == b"\x12\x34", wire
        assert r[2] & 0x80 and rcode_of(r) == dns.rcode.FORMERR, wire
    # A TSIG with its rdata cut short: malformed (a whole one is answered
    # NOTAUTH, BADKEY: test_dnsd_regress.py).
    tsig = dns.name.from_text("key.example").to_wire() + struct.pack("!HHIH", 250, 255, 0, 2) + b"\x00\x00"
    r = dnsd.raw_udp(header(ar=1) + QUESTION + tsig)
    assert rcode_of(r) == dns.rcode.FORMERR
    # Class CH exists but is not served; class 0x1234 does not exist.
    r = dnsd.raw_udp(header() + dns.name.from_text("fed.example").to_wire() + struct.pack("!HH", 6, 3))
    assert rcode_of(r) == dns.rcode.REFUSED
    r = dnsd.raw_udp(header() + dns.name.from_text("fed.example").to_wire() + struct.pack("!HH", 6, 0x1234))
    assert rcode_of(r) == dns.rcode.FORMERR
    # Still answering.
    assert dnsd.ask("fed.example", "SOA").rcode() == dns.rcode.NOERROR


def tcp_connect(port):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT)
    return s


def read_msg(s):
    n = b""
    while len(n) < 2:
        chunk = s.recv(2 - len(n))
        if not chunk:
            return None
        n += chunk
    size = struct.unpack("!H", n)[0]
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return dns.message.from_wire(data)


def test_tcp_pipelining(dnsd):
    with tcp_connect(dnsd.port) as s:
        ids = [11, 22, 33]
        out = b""
        for i, name in zip(ids, ["fed.example", "ch.fed.example", "nothing.fed.example"]):
            q = dns.message.make_query(name, "A")
            q.id = i
            w = q.to_wire()
            out += struct.pack("!H", len(w)) + w
        s.sendall(out)
        got = [read_msg(s) for _ in ids]
        assert [m.id for m in got] == ids
        assert got[2].rcode() == dns.rcode.NXDOMAIN


def test_tcp_pipelined_burst_answered_in_order(dnsd):
    # Answers to one read's queries go out together; a burst larger than
    # one batch (about 128 KiB of answers) must still come back whole,
    # each answer once, in the order asked.
    names = ["_xmpp-server._tcp.alpha.fed.example", "fed.example", "nothing.fed.example",
             "_xmpp-server._tcp.nobody.fed.example"]
    types = ["SRV", "SOA", "A", "SRV"]
    n = 3000
    with tcp_connect(dnsd.port) as s:
        out = b""
        for i in range(n):
            q = dns.message.make_query(names[i % 4], types[i % 4], want_dnssec=bool(i % 3))
            q.id = i
            w = q.to_wire()
            out += struct.pack("!H", len(w)) + w
        s.sendall(out)
        got = [read_msg(s) for _ in range(n)]
    assert [m.id for m in got] == list(range(n))
    for i, m in enumerate(got):
        assert m.question[0].name == dns.name.from_text(names[i % 4])
        want = dns.rcode.NXDOMAIN if i % 4 in (2, 3) else dns.rcode.NOERROR
        assert m.rcode() == want, (i, m)


def test_tcp_limits(dnsd_path, loaded, sample_zone):
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=["--tcp-max", "4", "--tcp-idle-ms", "500"])
    try:
        # A silent client is cut off after the idle time.
        with tcp_connect(d.port) as s:
            start = time.monotonic()
            s.settimeout(5)
            assert s.recv(10) == b""
            assert 0.3 < time.monotonic() - start < 4
        # A client trickling a query byte by byte is cut off just the same:
        # only whole queries count as activity.
        with tcp_connect(d.port) as s:
            s.settimeout(5)
            start = time.monotonic()
            closed = False
            for byte in struct.pack("!H", 200) + b"x" * 198:
                try:
                    s.send(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.05)
                if time.monotonic() - start > 3:
                    break
            if not closed:
                try:
                    assert s.recv(10) == b""
                except ConnectionResetError:
                    pass
            assert time.monotonic() - start < 4
        # Past the cap, new connections are closed; UDP keeps answering.
        held = [tcp_connect(d.port) for _ in range(4)]
        time.sleep(0.1)
        extra = tcp_connect(d.port)
        extra.settimeout(2)
        try:
            assert extra.recv(10) == b""
        except ConnectionResetError:
            pass
        assert d.ask("fed.example", "SOA").rcode() == dns.rcode.NOERROR
        for s in held + [extra]:
            s.close()
    finally:
        assert d.stop() == 0


def test_sighup_reloads_zones(dnsd_path, loaded, sample_zone, tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text())
    d = Dnsd(dnsd_path, str(loaded.db), [str(zone)])
    try:
        assert d.ask("new.fed.example", "A").rcode() == dns.rcode.NXDOMAIN
        zone.write_text(sample_zone.read_text() + "new IN A 192.0.2.99\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while d.ask("new.fed.example", "A").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, d.stderr()
            time.sleep(0.05)
        # A broken file is refused and the old zones stay.
        zone.write_text("this is not a zone\n")
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert d.ask("new.fed.example", "A").rcode() == dns.rcode.NOERROR
        assert "reload refused" in d.stderr()
    finally:
        assert d.stop() == 0
    assert "stopped" in d.stderr()


def test_ipv6_listener(dnsd):
    q = dns.message.make_query("fed.example", "SOA")
    r = dns.query.udp(q, "::1", port=dnsd.port, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR


def test_dig_and_kdig(dnsd):
    out = subprocess.run(["dig", f"@{HOST}", "-p", str(dnsd.port), "+norec",
                          "_xmpp-server._tcp.alpha.fed.example", "SRV"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "status: NOERROR" in out and re.search(r"flags: qr aa;", out)
    assert re.search(r"SRV\s+0 0 5269 ch\.fed\.example\.", out)
    out = subprocess.run(["kdig", f"@{HOST}", "-p", str(dnsd.port), "+tcp",
                          "_xmpp-server._tcp.nobody.fed.example", "SRV"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "status: NXDOMAIN" in out


def test_config_file(dnsd_path, loaded, sample_zone, tmp_path):
    port = free_port()
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "fed.example.zone").write_text(sample_zone.read_text())
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(f"db: {loaded.db}\nzones: [zones/fed.example.zone]\n"
                    f"listen: [\"{HOST}:{port}\"]\nthreads: 1\ntcp-idle-ms: 2000\n")
    log = open(tmp_path / "dnsd.log", "w+")
    proc = subprocess.Popen([dnsd_path, "--config", str(conf)], stderr=log)
    try:
        q = dns.message.make_query("_xmpp-server._tcp.alpha.fed.example", "SRV")
        deadline = time.monotonic() + 10
        while True:
            try:
                r = dns.query.udp(q, HOST, port=port, timeout=0.2)
                break
            except dns.exception.Timeout:
                assert proc.poll() is None and time.monotonic() < deadline
        assert srv_records(r) == [(0, 0, 5269, "ch.fed.example.")]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log.close()


@pytest.mark.parametrize("text,words", [
    ("db: x\ncolour: blue\n", ":2:1: unknown setting 'colour'"),
    ("db: x\nthreads: many\n", ":2:10: threads takes a number"),
    ("db: x\ndb: y\n", ":2:1: 'db' is given twice"),
    ("db: x\nzones: [a, b\n", "YAML syntax error"),
    ("- db\n", ":1:1: the file must be a mapping"),
])
def test_bad_config_file(dnsd_path, tmp_path, text, words):
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(text)
    r = subprocess.run([dnsd_path, "--config", str(conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert r.stderr.startswith(f"dnsd: {conf}:"), r.stderr
    assert words in r.stderr, r.stderr
