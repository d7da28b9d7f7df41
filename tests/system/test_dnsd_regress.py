"""dnsd regressions, each named for the defect it pins down: zone paths that
are no regular file, truncation that dropped the answer for the additional
section, replies without the OPT the query had, IXFR and compression
pointers answered with the wrong RCODE."""
import os
import re
import signal
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from test_dnsd import HOST, TIMEOUT, VIEW_DELTA, Dnsd, free_port


def raw_query(d, q, tcp=False, source=HOST):
    """The response to q as bytes: dnspython folds duplicate records."""
    w = q.to_wire()
    if tcp:
        with socket.create_connection((HOST, d.port), timeout=TIMEOUT) as s:
            s.sendall(struct.pack("!H", len(w)) + w)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = s.recv(65535)
                assert chunk, "connection closed"
                data += chunk
            return data[2:]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(TIMEOUT)
        s.sendto(w, (HOST, d.port))
        return s.recv(65535)


def counts(wire):
    """QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT."""
    return struct.unpack("!HHHH", wire[4:12])


# ---- zone paths that are no regular file -------------------------------------------

def start_with_zone(dnsd_path, db, zone):
    """Run dnsd with one --zone; it must give up on its own, quickly."""
    port = free_port()
    return subprocess.run([dnsd_path, "--db", str(db), "--zone", str(zone),
                           "--listen", f"{HOST}:{port}", "--threads", "1"],
                          capture_output=True, text=True, timeout=10)


def test_zone_path_directory_refused_at_start(dnsd_path, loaded, tmp_path):
    start = time.monotonic()
    r = start_with_zone(dnsd_path, loaded.db, tmp_path)
    assert r.returncode != 0
    assert f"{tmp_path}: a directory, not a zone file" in r.stderr
    assert time.monotonic() - start < 8


def test_zone_path_fifo_refused_at_start(dnsd_path, loaded, tmp_path):
    fifo = tmp_path / "zone.fifo"
    os.mkfifo(fifo)
    r = start_with_zone(dnsd_path, loaded.db, fifo)
    assert r.returncode != 0
    assert f"{fifo}: a FIFO, not a zone file" in r.stderr


def test_zone_path_dev_zero_refused_at_start(dnsd_path, loaded):
    r = start_with_zone(dnsd_path, loaded.db, "/dev/zero")
    assert r.returncode != 0
    assert "/dev/zero: a character device, not a zone file" in r.stderr


def test_zone_file_over_64_mib_refused_at_start(dnsd_path, loaded, tmp_path):
    big = tmp_path / "big.zone"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)   # sparse: no disk is spent
    r = start_with_zone(dnsd_path, loaded.db, big)
    assert r.returncode != 0
    assert f"{big}: 67108865 bytes, larger than the 64 MiB" in r.stderr


def test_sighup_with_zone_replaced_by_directory_keeps_serving(dnsd_path, loaded, sample_zone,
                                                             tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text())
    d = Dnsd(dnsd_path, str(loaded.db), [str(zone)], extra=["--threads", "2"])
    try:
        zone.unlink()
        zone.mkdir()
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload refused" not in d.stderr():
            assert time.monotonic() < deadline, d.stderr()
            time.sleep(0.05)
        assert f"{zone}: a directory, not a zone file" in d.stderr()
        # The zones in use stay, on every UDP thread (the kernel spreads
        # queries by source port) and on TCP, which the main loop serves.
        for _ in range(20):
            assert d.ask("ch.fed.example", "A").rcode() == dns.rcode.NOERROR
        assert d.ask("ch.fed.example", "A", tcp=True).rcode() == dns.rcode.NOERROR
    finally:
        try:
            code = d.stop()    # waits at most 10 s for SIGTERM to take
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait()
            raise
    assert code == 0
    assert "stopped" in d.stderr()


# ---- truncation: the additional section goes first --------------------------------

# Nine SRV targets inside the zone, each with an A and an AAAA: the answer
# fits in 512 bytes, the addresses of all nine do not.
NINE = [f"xmpp{i}.big.fed.example" for i in range(1, 10)]
NINE_ZONE = "".join(f"_xmpp-server._tcp.big IN SRV 10 0 5269 {h}.\n" for h in NINE) + "".join(
    f"{h}. IN A 192.0.2.{100 + i}\n{h}. IN AAAA 2001:db8::{100 + i}\n" for i, h in enumerate(NINE))


@pytest.fixture
def nine_zone(sample_zone, tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text() + NINE_ZONE)
    return zone


def address_rrsets(r):
    return {(rrset.name.to_text(), rrset.rdtype): {rd.to_text() for rd in rrset}
            for rrset in r.additional if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)}


def assert_whole_rrsets(part, whole):
    """Every RRset of part is in whole, with all its records."""
    for key, rdatas in part.items():
        assert whole.get(key) == rdatas, key


def srv_query(name, payload, **kw):
    q = dns.message.make_query(name, "SRV", use_edns=0, payload=payload, **kw)
    q.flags &= ~dns.flags.RD
    return q


def test_truncation_drops_additional_before_answer(dnsd_path, ctl, nine_zone):
    d = Dnsd(dnsd_path, str(ctl.db), [str(nine_zone)])
    try:
        name = "_xmpp-server._tcp.big.fed.example"
        whole = dns.message.from_wire(raw_query(d, srv_query(name, 1232), tcp=True))
        assert len(whole.answer[0]) == 9 and len(whole.additional) == 18
        wire = raw_query(d, srv_query(name, 512))
        assert len(wire) <= 512
        r = dns.message.from_wire(wire)
        assert not r.flags & dns.flags.TC, "TC set although the answer fits"
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        assert r.answer == whole.answer
        assert r.edns == 0 and r.payload == 1232, "the OPT must stay"
        part = address_rrsets(r)
        assert 0 < len(part) < 18
        assert_whole_rrsets(part, address_rrsets(whole))
        assert counts(wire)[3] == sum(len(s) for s in r.additional) + 1   # + the OPT
        # Without EDNS the same: 512 bytes, the answer whole, no OPT.
        q = srv_query(name, 512)
        q.use_edns(False)
        wire = raw_query(d, q)
        r = dns.message.from_wire(wire)
        assert len(wire) <= 512 and not r.flags & dns.flags.TC and r.edns == -1
        assert r.answer == whole.answer
        # dig, which would retry over TCP on TC, says so too.
        out = subprocess.run(["dig", f"@{HOST}", "-p", str(d.port), "+norec", "+bufsize=512",
                              "+ignore", name, "SRV"], capture_output=True, text=True,
                             timeout=10).stdout
        assert re.search(r"flags: qr aa; QUERY: 1, ANSWER: 9,", out), out
        assert "(UDP)" in out
    finally:
        assert d.stop() == 0


def test_truncation_keeps_answer_like_knot(dnsd_path, ctl, nine_zone, tmp_path):
    from test_dnsd_knot import run_knot
    d = Dnsd(dnsd_path, str(ctl.db), [str(nine_zone)])
    knot_dir = tmp_path / "knot"
    knot_dir.mkdir()
    try:
        whole = address_rrsets(dns.message.from_wire(
            raw_query(d, srv_query("_xmpp-server._tcp.big.fed.example", 1232), tcp=True)))
        with run_knot(knot_dir, nine_zone) as knot_port:
            for payload, edns in ((512, 0), (512, False), (1232, 0)):
                q = srv_query("_xmpp-server._tcp.big.fed.example", payload)
                q.use_edns(edns, payload=payload)
                theirs = dns.query.udp(q, HOST, port=knot_port, timeout=TIMEOUT)
                ours = dns.message.from_wire(raw_query(d, q))
                assert bool(ours.flags & dns.flags.TC) == bool(theirs.flags & dns.flags.TC)
                assert ours.answer == theirs.answer
                assert ours.authority == theirs.authority
                assert ours.edns == theirs.edns
                # The addresses given are whole RRsets of the zone, as Knot's.
                assert_whole_rrsets(address_rrsets(ours), whole)
                assert_whole_rrsets(address_rrsets(theirs), whole)
    finally:
        assert d.stop() == 0


def test_member_with_nine_in_zone_targets_fits_512(dnsd_path, loaded, nine_zone):
    targets = "[" + ", ".join(f"{h}:5269" for h in NINE) + "]"
    loaded.ok("set", "alpha.fed.example", "targets", targets)
    d = Dnsd(dnsd_path, str(loaded.db), [str(nine_zone)])
    try:
        name = "_xmpp-server._tcp.alpha.fed.example"
        # delta's querier may have alpha's own hosts.
        wire = raw_query(d, srv_query(name, 512), source=VIEW_DELTA)
        r = dns.message.from_wire(wire)
        assert len(wire) <= 512
        assert not r.flags & dns.flags.TC, "TC set although the answer fits"
        assert len(r.answer[0]) == 10       # the clearinghouse, then the nine
        assert r.edns == 0
        assert address_rrsets(r)
    finally:
        assert d.stop() == 0


def test_two_targets_on_one_host_give_its_addresses_once(dnsd_path, loaded, sample_zone):
    loaded.ok("set", "alpha.fed.example", "targets",
              "[xmpp.alpha.fed.example:5269, xmpp.alpha.fed.example:5270]")
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)])
    try:
        wire = raw_query(d, srv_query("_xmpp-server._tcp.alpha.fed.example", 1232),
                         source=VIEW_DELTA)
        r = dns.message.from_wire(wire)
        assert len(r.answer[0]) == 3
        # ch and xmpp.alpha, an A and an AAAA each, and the OPT: the raw
        # count, since a parser folds duplicates.
        assert counts(wire)[3] == 5
    finally:
        assert d.stop() == 0


# ---- replies carry the OPT the query had ---------------------------------------------

@pytest.fixture
def server(dnsd_path, loaded, sample_zone):
    """dnsd with the sample community."""
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)])
    yield d
    assert d.stop() == 0


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = dns.name.from_text("fed.example").to_wire() + struct.pack("!HH", 6, 1)
OPT = b"\x00" + struct.pack("!HHBBHH", 41, 4096, 0, 0, 0x8000, 0)   # DO set


def opt_of(wire):
    """(payload, extended rcode, version, DO) of a reply's OPT, or None.  By
    hand: the reply to an opcode that does not exist is no dnspython message."""
    assert counts(wire)[:3] == (0, 0, 0), "a short reply has no question, answer or authority"
    if counts(wire)[3] == 0:
        assert len(wire) == 12
        return None
    assert counts(wire)[3] == 1 and len(wire) == 12 + 11
    owner, rtype, payload, ext, version, flags, rdlen = struct.unpack("!BHHBBHH", wire[12:])
    assert owner == 0 and rtype == 41 and rdlen == 0
    return payload, ext, version, bool(flags & 0x8000)


def rcode_of(wire):
    return wire[3] & 0xF


@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS, 3])
def test_notimp_reply_to_other_opcodes_carries_opt(server, opcode):
    r = server.raw_udp(header(flags=opcode << 11, ar=1) + QUESTION + OPT)
    assert r[:2] == b"\x12\x34" and rcode_of(r) == dns.rcode.NOTIMP
    assert opt_of(r) == (1232, 0, 0, True)
    # Without an OPT in the query, none in the reply.
    r = server.raw_udp(header(flags=opcode << 11) + QUESTION)
    assert rcode_of(r) == dns.rcode.NOTIMP and opt_of(r) is None


def test_formerr_reply_to_qdcount_0_carries_opt(server):
    r = server.raw_udp(header(qd=0, ar=1) + OPT)
    assert rcode_of(r) == dns.rcode.FORMERR
    assert opt_of(r) == (1232, 0, 0, True)
    r = server.raw_udp(header(qd=2, ar=1) + QUESTION + QUESTION + OPT)
    assert rcode_of(r) == dns.rcode.FORMERR and opt_of(r) is not None


def test_dig_notify_gets_no_edns_warning(server):
    out = subprocess.run(["dig", f"@{HOST}", "-p", str(server.port), "+norec", "+opcode=notify",
                          "fed.example", "SOA"], capture_output=True, text=True, timeout=10).stdout
    assert "status: NOTIMP" in out
    assert "OPT PSEUDOSECTION" in out
    assert "Warning" not in out, out


def test_tsig_signed_query_gets_notauth_badkey(server):
    import dns.tsig
    import dns.tsigkeyring
    keyring = dns.tsigkeyring.from_text({"tsig-key.": "c2VjcmV0c2VjcmV0c2VjcmV0"})
    q = dns.message.make_query("fed.example", "SOA", use_edns=0)
    q.use_tsig(keyring, keyname="tsig-key.")
    wire = server.raw_udp(q.to_wire())
    # dnspython reads the TSIG of the reply and tells why: RFC 8945 5.2.2.
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.message.from_wire(wire, keyring=keyring, request_mac=q.mac)
    assert struct.unpack("!H", wire[2:4])[0] & 0xF == dns.rcode.NOTAUTH
    assert struct.unpack("!H", wire[6:8])[0] == 0, "the question is not answered"
    assert counts(wire)[3] == 2                           # the OPT and the TSIG
    assert b"\x00\x00\x29" in wire                         # root, type OPT
    # dig says the same.
    out = subprocess.run(["dig", f"@{HOST}", "-p", str(server.port), "+norec",
                          "-y", "hmac-sha256:tsig-key:c2VjcmV0c2VjcmV0c2VjcmV0",
                          "fed.example", "SOA"], capture_output=True, text=True, timeout=10).stdout
    assert "status: NOTAUTH" in out and "BADKEY" in out and "OPT PSEUDOSECTION" in out


def test_tsig_not_last_is_formerr(server):
    import dns.tsigkeyring
    keyring = dns.tsigkeyring.from_text({"tsig-key.": "c2VjcmV0c2VjcmV0c2VjcmV0"})
    q = dns.message.make_query("fed.example", "SOA", use_edns=False)
    q.use_tsig(keyring, keyname="tsig-key.")
    wire = bytearray(q.to_wire())
    wire[10:12] = struct.pack("!H", 2)
    r = server.raw_udp(bytes(wire) + OPT)        # an OPT after the TSIG
    assert r is not None and r[3] & 0xF == dns.rcode.FORMERR


def ixfr_query(serial_no):
    q = dns.message.make_query("fed.example", "IXFR", use_edns=0)
    q.flags &= ~dns.flags.RD
    soa = dns.rrset.from_text("fed.example.", 0, "IN", "SOA",
                              f"ns1.fed.example. hostmaster.fed.example. {serial_no} 1 1 1 1")
    q.authority.append(soa)
    return q


def test_ixfr_gets_what_axfr_gets(server):
    axfr = dns.message.make_query("fed.example", "AXFR", use_edns=0)
    axfr.flags &= ~dns.flags.RD
    a = dns.message.from_wire(server.raw_udp(axfr.to_wire()))
    i = dns.message.from_wire(server.raw_udp(ixfr_query(1).to_wire()))
    assert a.rcode() == dns.rcode.REFUSED
    assert i.rcode() == a.rcode(), dns.rcode.to_text(i.rcode())
    assert i.edns == a.edns == 0
    assert (i.flags, i.answer, i.authority) == (a.flags, a.answer, a.authority)
    # Over TCP too.
    i = dns.message.from_wire(raw_query(server, ixfr_query(1), tcp=True))
    assert i.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("name", [
    b"\xc0\x12",                      # forward, to a name after the question
    b"\xc0\x02",                      # into the header
    b"\x01a\xc0\x0c",                 # back to its own start: a loop
    b"\xc0\x0e\xc0\x0c",             # two pointers to each other
], ids=["forward", "header", "self-loop", "mutual-loop"])
def test_compression_pointer_forward_or_loop_formerr(server, name):
    wire = header() + name + struct.pack("!HH", 6, 1) + b"\x03fed\x07example\x00"
    r = server.raw_udp(wire)
    assert r is not None and r[:2] == b"\x12\x34"
    assert r[3] & 0xF == dns.rcode.FORMERR, dns.rcode.to_text(r[3] & 0xF)
    assert struct.unpack("!H", r[6:8])[0] == 0


# A delegation with twelve name servers inside it, and one with twelve
# outside it (in the parent zone): the glue of the first is needed to
# follow the referral (RFC 9471), that of the second is not.
INSIDE = "".join(f"sub IN NS ns{i}.sub\nns{i}.sub IN A 192.0.2.{i}\nns{i}.sub IN AAAA 2001:db8::{i}\n"
                 for i in range(12))
OUTSIDE = "".join(f"other IN NS ns{i}.hosts\nns{i}.hosts IN A 192.0.2.{i}\n"
                  f"ns{i}.hosts IN AAAA 2001:db8::{i}\n" for i in range(12))


def test_truncation_of_referral_glue_like_knot(dnsd_path, ctl, sample_zone, tmp_path):
    from test_dnsd_knot import run_knot
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text() + "$ORIGIN fed.example.\n" + INSIDE + OUTSIDE)
    d = Dnsd(dnsd_path, str(ctl.db), [str(zone)])
    knot_dir = tmp_path / "knot"
    knot_dir.mkdir()
    try:
        with run_knot(knot_dir, zone) as knot_port:
            for name, tc in (("www.sub.fed.example", True), ("www.other.fed.example", False)):
                q = dns.message.make_query(name, "A", use_edns=0, payload=512)
                q.flags &= ~dns.flags.RD
                theirs = dns.query.udp(q, HOST, port=knot_port, timeout=TIMEOUT)
                wire = raw_query(d, q)
                ours = dns.message.from_wire(wire)
                assert len(wire) <= 512
                assert bool(ours.flags & dns.flags.TC) == tc, name
                assert bool(theirs.flags & dns.flags.TC) == tc, name
                if not tc:
                    assert ours.authority == theirs.authority and len(ours.authority[0]) == 12
                    assert ours.edns == 0
    finally:
        assert d.stop() == 0


# ---- an SRV name with no record to give -------------------------------------------

def test_srv_name_without_any_record_is_nodata_with_soa(dnsd_path, ctl, sample_zone, tmp_path):
    # The clearinghouse offers no direct TLS port, and a querier outside
    # every view gets no fallback: _xmpps-server of a member has no SRV at
    # all.  That is NODATA, and NODATA carries the SOA (RFC 2308 2.2); it
    # went out empty, which resolvers cannot cache and validators reject.
    (tmp_path / "p.yaml").write_text(
        "community:\n  zone: fed.example\n  clearinghouse:\n    - {host: ch.fed.example, port: 5269}\n"
        "  fallback: allowed\nmembers:\n"
        "  alpha.fed.example: {level: 1, targets: [xmpp.alpha.fed.example:5269],\n"
        "                      tls-targets: [xmpp.alpha.fed.example:5223]}\n"
        "  gamma.example: {level: 1, tls-targets: [xmpp.gamma.example:5223]}\n")
    ctl.ok("load", tmp_path / "p.yaml")
    d = Dnsd(dnsd_path, str(ctl.db), [str(sample_zone)])
    try:
        for name, apex in (("_xmpps-server._tcp.alpha.fed.example", "fed.example."),
                           ("_xmpps-server._tcp.gamma.example", "_xmpps-server._tcp.gamma.example.")):
            r = d.ask(name, "SRV")
            assert r.rcode() == dns.rcode.NOERROR
            assert not r.answer, r
            assert len(r.authority) == 1 and r.authority[0].rdtype == dns.rdatatype.SOA, r
            assert r.authority[0].name == dns.name.from_text(apex)
        # The plain s2s name still has the clearinghouse.
        assert d.ask("_xmpp-server._tcp.alpha.fed.example", "SRV").answer
    finally:
        assert d.stop() == 0


# ---- a SIGTERM right after the first answer -----------------------------------------

def test_sigterm_right_after_the_first_answer_stops_cleanly(dnsd_path, loaded, sample_zone):
    # The worker threads answered before the main thread had set its
    # signal handlers: a SIGTERM in between killed dnsd (exit -15)
    # instead of stopping it.  Seen as a failed teardown under load.
    for _ in range(20):
        d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)], extra=["--threads", "4"])
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=10) == 0, d.stderr()
        d.stop()
