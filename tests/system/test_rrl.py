"""dnsd facing the Internet: response rate limiting over UDP (bursts from
one source limited with slips, other sources answered), TCP that slow
clients cannot hold, NSID and Extended DNS Errors, on the wire."""
import socket
import subprocess
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.opcode
import dns.rcode
import dns.rrset
import pytest

from test_dnsd import HOST, TIMEOUT, Dnsd

BURST = 200
NAME = "ch.fed.example"


@pytest.fixture
def start(dnsd_path, loaded, sample_zone, tmp_path):
    """Start dnsd with a configuration file's text; stopped at the end."""
    started = []

    def run(config=""):
        conf = tmp_path / f"dnsd-{len(started)}.yaml"
        conf.write_text(config or "{}\n")
        d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)], extra=["--config", str(conf)])
        started.append(d)
        return d

    yield run
    for d in started:
        if d.proc.poll() is None:
            assert d.stop() == 0, d.stderr()


def udp_socket(source):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(0.5)
    return s


def query_wire(qid, name=NAME, rdtype="A"):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    q.flags &= ~dns.flags.RD
    q.id = qid
    return q.to_wire()


def collect(s, want):
    """Answers on s until want came or none for 0.5 s: {id: message}."""
    got = {}
    while len(got) < want:
        try:
            wire = s.recv(65535)
        except socket.timeout:
            break
        m = dns.message.from_wire(wire)
        got[m.id] = m
    return got


def burst(d, source, n=BURST, other=None, other_every=20):
    """Send n queries from source as fast as possible; every other_every of
    them, one from other (if given).  Returns (answers from source, answers
    from other, the burst's duration in seconds)."""
    a = udp_socket(source)
    b = udp_socket(other) if other else None
    t0 = time.monotonic()
    sent_b = 0
    for i in range(n):
        a.sendto(query_wire(i), (HOST, d.port))
        if b and i % other_every == 0:
            b.sendto(query_wire(sent_b), (HOST, d.port))
            sent_b += 1
    took = time.monotonic() - t0
    got_a = collect(a, n)
    got_b = collect(b, sent_b) if b else {}
    a.close()
    if b:
        b.close()
    return got_a, got_b, sent_b, took


def tally(answers):
    full = sum(1 for m in answers.values() if not m.flags & dns.flags.TC and m.answer)
    tc = sum(1 for m in answers.values() if m.flags & dns.flags.TC)
    return full, tc


# ---- response rate limiting ------------------------------------------------------

def test_rrl_default_limits_a_burst_with_slips_and_spares_another_source(start):
    d = start()   # no rrl: setting: on by default, rate 20, slip 2
    got, other, sent_other, took = burst(d, "127.0.0.2", other="127.0.1.3")
    full, tc = tally(got)
    dropped = BURST - len(got)
    # A second's worth at once, and the rate for the time the burst took
    # (generously: the burst itself takes well under a second here).
    assert full <= 20 + 20 * took + 2, (full, took)
    assert full >= 10, full
    # Slip 2: about every second limited answer comes back truncated, the
    # others are not sent at all.
    limited = BURST - full
    assert tc > 0 and dropped > 0, (tc, dropped)
    assert abs(tc - dropped) <= limited // 4 + 2, (tc, dropped)
    # A truncated answer is empty but for the question and the OPT.
    m = next(m for m in got.values() if m.flags & dns.flags.TC)
    assert not m.answer and not m.authority and m.edns == 0
    assert m.question[0].name.to_text() == NAME + "."
    # Another /24 asking the same name at the same time: every answer, whole.
    assert sent_other == BURST // 20
    assert len(other) == sent_other
    assert all(not m.flags & dns.flags.TC and m.answer for m in other.values())
    # Said in the log, once for now.
    time.sleep(0.2)
    assert d.stderr().count("rate limiting begins") == 1, d.stderr()
    assert "rate limiting:" not in d.stderr()   # the summary comes a minute later


def test_rrl_same_prefix_shares_the_bucket(start):
    # One thread: each thread keeps its own table, and the kernel may
    # hand the two sockets' queries to different threads.
    d = start("threads: 1\nrrl: {rate: 20, slip: 0}\n")
    a, b = udp_socket("127.0.0.2"), udp_socket("127.0.0.3")
    for i in range(100):
        a.sendto(query_wire(i), (HOST, d.port))
    # 127.0.0.3 is in the same /24: its bucket for this name is spent.
    b.sendto(query_wire(7), (HOST, d.port))
    got = collect(a, 100)
    assert 10 <= len(got) < 50
    assert collect(b, 1) == {}
    a.close()
    b.close()


def test_rrl_rate_0_turns_it_off(start):
    d = start("rrl: {rate: 0}\n")
    got, _, _, _ = burst(d, "127.0.0.2")
    full, tc = tally(got)
    assert full == BURST and tc == 0
    assert "rate limiting" not in d.stderr()


def test_rrl_exempt_queriers(start):
    # 127.0.0.2 is a querier of delta.fed.example in the sample policy.
    d = start("rrl: {rate: 5, slip: 1, exempt-queriers: true}\n")
    got, _, _, _ = burst(d, "127.0.0.2")
    assert tally(got) == (BURST, 0)
    # Not 127.0.0.4, in the same /24 but no member's querier.
    got, _, _, _ = burst(d, "127.0.0.4")
    full, tc = tally(got)
    assert full < BURST and tc > 0


def test_rrl_never_limits_tcp(start):
    d = start("rrl: {rate: 1, slip: 0}\n")
    for _ in range(30):
        q = dns.message.make_query(NAME, "A")
        r = dns.query.tcp(q, HOST, port=d.port, source="127.0.0.2", timeout=TIMEOUT)
        assert r.answer


def test_rrl_config_refused_with_a_reason(dnsd_path, loaded, sample_zone, tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("rrl: {rate: lots}\n")
    r = subprocess.run([dnsd_path, "--config", str(conf), "--db", str(loaded.db),
                        "--zone", str(sample_zone), "--listen", f"{HOST}:1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "1:6: rrl: rate takes a number from 0 to 100000, not 'lots'" in r.stderr


# ---- TCP: slow clients -----------------------------------------------------------

def trickle(socks, stop):
    """A byte a second on each socket, until stop is set."""
    while not stop.wait(1.0):
        for s in socks:
            try:
                s.send(b"\x00")
            except OSError:
                pass


def test_trickling_connections_from_one_address_do_not_lock_out_others(start):
    d = start()
    socks = []
    for _ in range(300):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.2", 0))
        s.settimeout(2)
        try:
            s.connect((HOST, d.port))
            s.send(b"\x00")   # the first byte of a length
        except OSError:
            pass
        socks.append(s)
    stop = threading.Event()
    t = threading.Thread(target=trickle, args=(socks, stop))
    t.start()
    try:
        t0 = time.monotonic()
        q = dns.message.make_query(NAME, "A")
        r = dns.query.tcp(q, HOST, port=d.port, source="127.0.0.3", timeout=1.0)
        assert r.answer and time.monotonic() - t0 < 1.0
    finally:
        stop.set()
        t.join()
        for s in socks:
            s.close()


def test_tcp_io_timeout_closes_a_trickled_query(start):
    d = start("tcp-idle-ms: 20000\n")
    s = socket.create_connection((HOST, d.port), timeout=5)
    t0 = time.monotonic()
    s.send(b"\x00")
    closed = None
    while time.monotonic() - t0 < 8:
        try:
            s.settimeout(1.0)
            if s.recv(10) == b"":
                closed = time.monotonic() - t0
                break
        except socket.timeout:
            try:
                s.send(b"\x00")
            except OSError:
                closed = time.monotonic() - t0
                break
        except OSError:
            closed = time.monotonic() - t0
            break
    s.close()
    # tcp-io-ms is 500 by default; the idle timeout, 20 s here, must not
    # be what ends it.  Generous for a busy machine.
    assert closed is not None and closed < 5, closed


def test_tcp_io_timeout_spares_pipelined_queries(start):
    """A client that sends whole queries back to back, each cut across
    writes, is never cut off: the deadline is per message."""
    d = start("tcp-io-ms: 300\n")
    s = socket.create_connection((HOST, d.port), timeout=5)
    q = dns.message.make_query(NAME, "A")
    wire = q.to_wire()
    framed = len(wire).to_bytes(2, "big") + wire
    for _ in range(6):
        s.sendall(framed + framed[:5])    # a whole one, and the start of the next
        time.sleep(0.2)
        s.sendall(framed[5:])             # its end
        time.sleep(0.1)
    s.settimeout(3)
    got = b""
    while len(got) < 12 * 2:
        chunk = s.recv(65535)
        assert chunk, "closed"
        got += chunk
    s.close()


# ---- NSID and Extended DNS Errors --------------------------------------------------

def dig(d, *args):
    return subprocess.run(["dig", f"@{HOST}", "-p", str(d.port), "+norec", *args],
                          capture_output=True, text=True, timeout=10).stdout


def test_nsid_returned_to_dig_nsid(start):
    d = start('nsid: "ns1.fed.example"\n')
    out = dig(d, "+nsid", NAME, "A")
    assert "NSID:" in out and "ns1.fed.example" in out, out
    assert "status: NOERROR" in out
    # Not to a query that does not ask, cached answer or not.
    r = d.ask(NAME, "A", use_edns=0)
    assert not r.options
    r = d.ask(NAME, "A", use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    assert [o.data for o in r.options if o.otype == dns.edns.NSID] == [b"ns1.fed.example"]


def test_nsid_hex(start):
    d = start("nsid: 0x6e7331ff\n")
    r = d.ask(NAME, "A", use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    assert [o.data for o in r.options if o.otype == dns.edns.NSID] == [b"ns1\xff"]


def test_ede_20_for_a_name_outside_the_zones(start):
    d = start()
    out = dig(d, "www.example.org", "A")
    assert "status: REFUSED" in out and "EDE: 20 (Not Authoritative)" in out, out
    r = d.ask("www.example.org", "A", use_edns=0)
    assert r.rcode() == dns.rcode.REFUSED
    assert [o.code for o in r.options if o.otype == dns.edns.EDE] == [20]
    # Without EDNS, no OPT to carry it.
    r = d.ask("www.example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED and r.edns < 0


def test_opt_kept_in_every_reply_to_a_query_with_one(start):
    """RFC 6891 6.1.1: REFUSED, NOTIMP, FORMERR, NXDOMAIN and truncated
    answers to a query with a valid OPT all carry one."""
    d = start("rrl: {rate: 0}\n")
    cases = []
    q = dns.message.make_query("www.example.org", "A", use_edns=0)
    cases.append((q.to_wire(), dns.rcode.REFUSED))
    q = dns.message.make_query(NAME, "A", use_edns=0)
    q.set_opcode(dns.opcode.STATUS)
    cases.append((q.to_wire(), dns.rcode.NOTIMP))
    q = dns.message.make_query("nope.fed.example", "A", use_edns=0)
    cases.append((q.to_wire(), dns.rcode.NXDOMAIN))
    q = dns.message.make_query(NAME, "A", use_edns=0)
    q.answer.append(dns.rrset.from_text(NAME + ".", 60, "IN", "A", "192.0.2.9"))
    cases.append((q.to_wire(), dns.rcode.FORMERR))   # a query with an answer
    for wire, rcode in cases:
        r = d.raw_udp(wire)
        assert r is not None
        # FORMERR and NOTIMP come without a question: read the header and
        # the OPT by hand.
        assert r[3] & 0x0F == rcode, (rcode, r)
        assert int.from_bytes(r[10:12], "big") == 1, (rcode, r)
        m = dns.message.from_wire(r)
        assert m.edns == 0 and m.payload == 1232, (rcode, m)
