"""xmppd on loopback with the sample community: every answer is read as XML
and checked against RFC 6120 (stream header, stream error, closing tag)."""
import os
import resource
import select
import socket
import subprocess
import time

import pytest

import xmpp
from xmpp import ask, connect, header, Stream

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Xmppd:
    def __init__(self, path, db, *extra, tls_listen=False, port=None):
        self.port = port or free_port()
        self.tls_port = free_port() if tls_listen else None
        self.logpath = os.path.join(db, "..", f"xmppd-{self.port}.log")
        self.log = open(self.logpath, "w+")
        args = [path, "--db", str(db), "--listen", f"{HOST}:{self.port}", *extra]
        if tls_listen:
            args += ["--tls-listen", f"{HOST}:{self.tls_port}"]
        self.proc = subprocess.Popen(args, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr()
            try:
                connect(self.port, timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("xmppd did not listen: " + self.stderr())

    def stderr(self):
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(15)
        rc = self.proc.wait(timeout=10)
        self.log.close()
        return rc


@pytest.fixture
def xmppd(xmppd_path, loaded):
    d = Xmppd(xmppd_path, loaded.db)
    yield d
    assert d.stop() == 0
    assert "xmppd: stopped" in d.stderr()


def test_allow_redirects(xmppd):
    hdr, cond, value, text = ask(xmppd.port, "alpha.fed.example", "delta.fed.example")
    assert (cond, value, text) == ("see-other-host", "xmpp1.delta.fed.example:5269", None)
    # our header: the requested domain speaks, to the initiator
    assert hdr.get("from") == "delta.fed.example"
    assert hdr.get("to") == "alpha.fed.example"
    assert hdr.get("version") == "1.0"
    assert len(hdr.get("id")) >= 16
    log = xmppd.stderr()
    assert ("from=alpha.fed.example to=delta.fed.example outcome=allow rule=policy-ok "
            "action=see-other-host target=xmpp1.delta.fed.example:5269") in log


def test_ids_differ(xmppd):
    ids = {ask(xmppd.port, "alpha.fed.example", "delta.fed.example")[0].get("id")
           for _ in range(5)}
    assert len(ids) == 5


def test_answer_ends_with_fin_and_the_peer_may_still_close_its_stream(xmppd):
    """The answer goes out in the read that completes the header and the
    FIN right after it, yet xmppd still reads: bytes the peer sent behind
    its header, and its own closing tag after our FIN, meet no reset that
    could cut the answer short (RFC 6120 4.4)."""
    for _ in range(5):
        with connect(xmppd.port) as s:
            s.sendall(header("alpha.fed.example", "delta.fed.example").encode())
            # a peer that does not wait for our header before going on
            s.sendall(b"<db:result xmlns:db='jabber:server:dialback' from='alpha.fed.example' "
                      b"to='delta.fed.example'>key</db:result>")
            data = b""
            while True:
                chunk = s.recv(4096)   # a reset raises here
                if not chunk:
                    break
                data += chunk
            assert data.endswith(b"</stream:stream>")
            assert b"see-other-host" in data
            s.sendall(b"</stream:stream>")
            assert not peer_reset(s, within=0.3)


@pytest.mark.parametrize("frm,to,cond,rule", [
    ("alpha.fed.example", "beta.fed.example", "policy-violation", "override-deny"),
    ("beta.fed.example", "alpha.fed.example", "policy-violation", "override-deny"),
    ("alpha.fed.example", "epsilon.fed.example", "policy-violation", "not-active"),
    ("alpha.fed.example", "zeta.fed.example", "policy-violation", "expired"),
    ("alpha.fed.example", "omega.fed.example", "policy-violation", "not-active"),
    ("nobody.example", "alpha.fed.example", "host-unknown", "unknown-member"),
    ("alpha.fed.example", "nobody.example", "host-unknown", "unknown-member"),
])
def test_refusals(xmppd, frm, to, cond, rule):
    hdr, got, _, text = ask(xmppd.port, frm, to)
    assert got == cond
    # the community's deny-text is generic: the rule stays in the log
    assert text in ("refused by the federation policy", "not a member of this federation")
    assert rule not in text
    assert f"from={frm} to={to} outcome=" in xmppd.stderr()
    assert f"rule={rule} action={cond}" in xmppd.stderr()


def test_deny_text_rule(xmppd, loaded, sample_policy, tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(sample_policy.read_text().replace("  ttl: 60\n", "  ttl: 60\n  deny-text: rule\n"))
    loaded.ok("load", p)
    _, cond, _, text = ask(xmppd.port, "alpha.fed.example", "beta.fed.example")
    assert cond == "policy-violation"
    assert "override" in text and "beta.fed.example" in text


def test_policy_change_takes_effect_on_the_next_stream(xmppd, loaded):
    assert ask(xmppd.port, "alpha.fed.example", "delta.fed.example")[1] == "see-other-host"
    loaded.ok("suspend", "delta.fed.example")
    assert ask(xmppd.port, "alpha.fed.example", "delta.fed.example")[1] == "policy-violation"
    loaded.ok("resume", "delta.fed.example")
    assert ask(xmppd.port, "alpha.fed.example", "delta.fed.example")[1] == "see-other-host"


BAD = [
    ("no-to", header("alpha.fed.example", None), "host-unknown"),
    ("bad-to", header("alpha.fed.example", "a..b"), "host-unknown"),
    ("no-from", header(None, "delta.fed.example"), "improper-addressing"),
    ("bad-from", header("not a name", "delta.fed.example"), "invalid-from"),
    ("no-version", header("alpha.fed.example", "delta.fed.example", version=None),
     "unsupported-version"),
    ("client-namespace", header("alpha.fed.example", "delta.fed.example", ns="jabber:client"),
     "invalid-namespace"),
    ("not-a-stream", "<html xmlns='jabber:server'><body>", "invalid-namespace"),
    ("unbound-prefix", "<stream:stream xmlns='jabber:server' to='delta.fed.example'>",
     "bad-namespace-prefix"),
    ("not-xml", "GET / HTTP/1.1\r\nHost: ch.fed.example\r\n\r\n", "not-well-formed"),
    ("garbage", "\x00\x01\x02\xff<<>>", "not-well-formed"),
    ("billion-laughs", "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>"
     + "".join(f"<!ENTITY {chr(98 + i)} '{('&' + chr(97 + i) + ';') * 10}'>" for i in range(8))
     + "]><stream:stream xmlns='jabber:server' "
       "xmlns:stream='http://etherx.jabber.org/streams' to='&i;'>", "restricted-xml"),
    ("comment", "<!-- x --><stream:stream/>", "restricted-xml"),
]


@pytest.mark.parametrize("name,data,cond", BAD, ids=[b[0] for b in BAD])
def test_bad_headers(xmppd, name, data, cond):
    with connect(xmppd.port) as s:
        s.sendall(data.encode("latin-1"))
        hdr, got, _, _ = Stream(s).until_error()
    assert got == cond
    # a 'to' that is no valid name is not echoed back
    assert hdr.get("from") in (None, "delta.fed.example")
    # and xmppd goes on serving
    assert ask(xmppd.port, "alpha.fed.example", "delta.fed.example")[1] == "see-other-host"


def test_header_in_tiny_writes(xmppd):
    data = header("alpha.fed.example", "delta.fed.example").encode()
    with connect(xmppd.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.001)
        _, cond, value, _ = Stream(s).until_error()
    assert (cond, value) == ("see-other-host", "xmpp1.delta.fed.example:5269")


def test_one_megabyte_attribute(xmppd):
    big = (header("alpha.fed.example", "delta.fed.example")[:-1] + " x='").encode() + b"a" * (1 << 20)
    t0 = time.monotonic()
    with connect(xmppd.port) as s:
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass   # xmppd stopped reading at its limit, as it should
        _, cond, _, text = Stream(s).until_error()
    assert cond == "policy-violation" and "too long" in text
    assert time.monotonic() - t0 < 5
    assert ask(xmppd.port, "alpha.fed.example", "delta.fed.example")[1] == "see-other-host"


@pytest.fixture
def quick(xmppd_path, loaded, tmp_path):
    """xmppd with short limits and a small connection cap."""
    cfg = tmp_path / "xmppd.yaml"
    cfg.write_text("first-byte-ms: 500\nsetup-ms: 1000\nconn-max: 200\n")
    d = Xmppd(xmppd_path, loaded.db, "--config", str(cfg))
    yield d
    assert d.stop() == 0


@pytest.fixture
def tls_xmppd(xmppd_path, loaded, pki):
    """xmppd with its certificate and the federation CA, STARTTLS and direct TLS."""
    d = Xmppd(xmppd_path, loaded.db, "--cert", str(pki / "ch.pem"), "--key", str(pki / "ch.key"),
              "--ca", str(pki / "ca.pem"), "--setup-ms", "1500", tls_listen=True)
    yield d
    assert d.stop() == 0


def test_silent_peer_times_out(quick):
    t0 = time.monotonic()
    with connect(quick.port) as s:
        _, cond, _, text = Stream(s).until_error()
    took = time.monotonic() - t0
    assert cond == "connection-timeout" and "nothing received" in text
    assert 0.4 < took < 3


def test_slow_header_times_out(quick):
    data = header("alpha.fed.example", "delta.fed.example").encode()
    t0 = time.monotonic()
    with connect(quick.port) as s:
        # a byte every 100 ms: the first in time, the whole header never;
        # stop as soon as xmppd answers
        for i in range(len(data) - 1):
            s.sendall(data[i:i + 1])
            if select.select([s], [], [], 0.1)[0]:
                break
        answered = time.monotonic() - t0
        _, cond, _, text = Stream(s).until_error()
    assert cond == "connection-timeout" and "header" in text
    assert 0.9 < answered < 2


def test_thousands_of_idle_connections(quick):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    n = min(2000, want - 100)
    idle = []
    try:
        for _ in range(n):
            idle.append(connect(quick.port))
        # a real peer still gets its answer, at once
        t0 = time.monotonic()
        with connect(quick.port) as s:
            s.sendall(header("alpha.fed.example", "delta.fed.example").encode())
            _, cond, _, _ = Stream(s).until_error()
        assert cond == "see-other-host"
        assert time.monotonic() - t0 < 1
        # the oldest idle ones were cut to make room (or timed out first,
        # since opening them all takes longer than first-byte-ms), each
        # with a stream error
        cut = timed_out = 0
        for s in idle[:n - 200]:
            s.settimeout(2)
            data = s.recv(4096)
            cut += b"<resource-constraint" in data
            timed_out += b"<connection-timeout" in data
        assert cut + timed_out == n - 200
        assert cut > 0
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "rule=resource-constraint" in quick.stderr()


# ---- TLS ----

def test_tls_handshake_that_never_finishes(tls_xmppd):
    # The start of a ClientHello on the direct-TLS port, then nothing.
    t0 = time.monotonic()
    with connect(tls_xmppd.tls_port) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        s.settimeout(5)
        assert s.recv(100) == b""   # closed by xmppd
    assert 1.0 < time.monotonic() - t0 < 4


def redirect_after_starttls(port, pki, frm, to, cert=None):
    ctx = xmpp.client_ctx(ca=pki / "ca.pem",
                          cert=cert and pki / f"{cert}.pem", key=cert and pki / f"{cert}.key")
    with connect(port) as s:
        s.sendall(header(frm, to).encode())
        t = xmpp.starttls(s, ctx)
        assert t.getpeercert()["subjectAltName"] == (("DNS", "ch.fed.example"),)
        t.sendall(header(frm, to).encode())
        return Stream(t).until_error()


def test_starttls_then_redirect(tls_xmppd, pki):
    _, cond, value, _ = redirect_after_starttls(tls_xmppd.port, pki, "alpha.fed.example",
                                                "delta.fed.example")
    assert (cond, value) == ("see-other-host", "xmpp1.delta.fed.example:5269")


def test_no_redirect_before_tls(tls_xmppd):
    with connect(tls_xmppd.port) as s:
        s.sendall(header("alpha.fed.example", "delta.fed.example").encode())
        s.sendall(b"<db:result xmlns:db='jabber:server:dialback' from='alpha.fed.example' "
                  b"to='delta.fed.example'>key</db:result>")
        _, cond, _, text = Stream(s).until_error()
    assert cond == "policy-violation" and "STARTTLS" in text


def test_direct_tls_redirects_to_direct_tls_targets(tls_xmppd, pki):
    ctx = xmpp.client_ctx(ca=pki / "ca.pem")
    ctx.set_alpn_protocols(["xmpp-server"])
    with ctx.wrap_socket(connect(tls_xmppd.tls_port), server_hostname="ch.fed.example") as t:
        assert t.selected_alpn_protocol() == "xmpp-server"
        t.sendall(header("delta.fed.example", "alpha.fed.example").encode())
        _, cond, value, _ = Stream(t).until_error()
    assert (cond, value) == ("see-other-host", "xmpp.alpha.fed.example:5223")


@pytest.fixture
def cert_policy(loaded, sample_policy, pki, tmp_path):
    """The sample community, requiring certificates; alpha pins the
    self-signed key."""
    pin = (pki / "self.pin").read_text()
    text = sample_policy.read_text().replace("  ttl: 60\n", "  ttl: 60\n  identity: certificate\n")
    text = text.replace("    contact: xmpp-admin@alpha.fed.example\n",
                        f"    contact: xmpp-admin@alpha.fed.example\n    pins: [{pin}]\n")
    (tmp_path / "cert.yaml").write_text(text)
    loaded.ok("load", tmp_path / "cert.yaml")
    return loaded


@pytest.mark.parametrize("cert,cond", [
    ("alpha", "see-other-host"),      # CA-signed, DNS-ID alpha.fed.example
    ("srv", "see-other-host"),        # CA-signed, SRV-ID _xmpp-server.alpha.fed.example
    ("self", "see-other-host"),       # not CA-signed, but pinned by alpha
    ("beta", "policy-violation"),     # valid, but for another domain
    (None, "policy-violation"),       # no certificate at all
])
def test_identity_certificate(tls_xmppd, pki, cert_policy, cert, cond):
    _, got, _, text = redirect_after_starttls(tls_xmppd.port, pki, "alpha.fed.example",
                                              "delta.fed.example", cert=cert)
    assert got == cond
    if cond == "policy-violation":
        assert "not valid for alpha.fed.example" in text
        assert "rule=identity-not-proven" in tls_xmppd.stderr()


# ---- relay mode, against a member server played by the test ----
#
# Targets must be names, and these tests have no DNS: glibc's getaddrinfo
# reads '127.0.0.0x1' as the address 127.0.0.1 (inet_aton's forms, hex
# included), while its last label is not all digits, so the store takes
# it as a host name.

def relay_policy(ctl, tmp_path, *targets):
    """A store where alpha and delta may federate; delta's targets are
    (host, port) pairs, tried in this order."""
    tl = "".join(f"      - {{host: {h}, port: {p}, priority: {10 * (i + 1)}}}\n"
                 for i, (h, p) in enumerate(targets))
    (tmp_path / "relay.yaml").write_text(
        "community:\n  zone: fed.example\n  clearinghouse:\n"
        "    - {host: ch.fed.example, port: 5269}\n"
        "members:\n"
        "  alpha.fed.example:\n    level: 3\n    targets: [xmpp.alpha.fed.example:5269]\n"
        f"  delta.fed.example:\n    level: 3\n    targets:\n{tl}")
    ctl.ok("load", tmp_path / "relay.yaml")
    return ctl


class Member:
    """A member's server that takes connections and reads what comes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def accept(self):
        conn, _ = self.sock.accept()
        conn.settimeout(5)
        return conn

    def close(self):
        self.sock.close()


@pytest.fixture
def member():
    m = Member()
    yield m
    m.close()


def relay_xmppd(xmppd_path, ctl, *extra, **kw):
    return Xmppd(xmppd_path, ctl.db, "--mode", "relay", *extra, **kw)


def peer_reset(s, within=1.0):
    """Does the peer answer what s sends with a reset (its socket is
    closed), within this many seconds?"""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            s.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(0.05)
    return False


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


HDR = header("alpha.fed.example", "delta.fed.example").encode()


def test_relay_never_loops_through_another_listener(xmppd_path, ctl, tmp_path):
    # Two listeners on the same port, one on 127.0.0.1 and one on 127.0.0.2,
    # and delta's targets name both: the stream that came in on one must not
    # be relayed to the other, and from there back (it went on without end).
    port = free_port()
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", port), ("127.0.0.0x2", port))
    d = relay_xmppd(xmppd_path, ctl, "--listen", f"127.0.0.2:{port}", port=port)
    try:
        with connect(port) as s:
            s.sendall(HDR)
            _, cond, _, text = Stream(s).until_error()
        assert cond == "remote-connection-failed" and "delta.fed.example" in text
        log = d.stderr()
        assert log.count("action=relay") == 1, log
        assert log.count("a target of delta.fed.example is this clearinghouse; skipped") == 2
    finally:
        d.proc.send_signal(15)
        d.proc.wait(timeout=10)


def test_relay_never_to_a_local_address_behind_a_wildcard_listener(xmppd_path, ctl, tmp_path):
    # Listening on 0.0.0.0 is listening on 127.0.0.2 as well.
    port = free_port()
    relay_policy(ctl, tmp_path, ("127.0.0.0x2", port))
    d = relay_xmppd(xmppd_path, ctl, "--listen", f"0.0.0.0:{port}", port=free_port())
    try:
        with connect(port) as s:
            s.sendall(HDR)
            _, cond, _, _ = Stream(s).until_error()
        assert cond == "remote-connection-failed"
        assert d.stderr().count("action=relay") == 1
    finally:
        d.proc.send_signal(15)
        d.proc.wait(timeout=10)


def test_relay_loop_between_two_clearinghouses_is_capped(xmppd_path, ctl, tmp_path):
    # a listens on 127.0.0.1:p1, b on 127.0.0.2:p2; each skips its own
    # address and relays to the other.  No address check can see that
    # loop; the hops are capped all the same.
    p1, p2 = free_port(), free_port()
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", p1), ("127.0.0.0x2", p2))
    a = relay_xmppd(xmppd_path, ctl, "--listen", f"127.0.0.1:{p1}")
    b = relay_xmppd(xmppd_path, ctl, "--listen", f"127.0.0.2:{p2}")
    try:
        with connect(p1) as s:
            s.sendall(HDR)
            _, cond, _, text = Stream(s, timeout=20).until_error()
        assert cond == "resource-constraint" and "too many relayed streams" in text
        hops = a.stderr().count("action=relay") + b.stderr().count("action=relay")
        assert 16 <= hops <= 2 * 16 + 2, hops
        assert "a loop?" in a.stderr() + b.stderr()
    finally:
        for d in (a, b):
            d.proc.send_signal(15)
            d.proc.wait(timeout=10)


def relay_to_member(xmppd_path, ctl, tmp_path, member, *extra):
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", member.port))
    return relay_xmppd(xmppd_path, ctl, *extra)


def relay_one(d, member):
    """A stream from alpha to delta, relayed: (initiator's socket, member's)."""
    s = connect(d.port)
    s.sendall(HDR)
    m = member.accept()
    got = b""
    while len(got) < len(HDR):
        got += m.recv(65536)
    assert got == HDR
    return s, m


def test_relay_idle_splice_is_closed(xmppd_path, ctl, tmp_path, member):
    d = relay_to_member(xmppd_path, ctl, tmp_path, member, "--relay-idle-ms", "300")
    try:
        s, m = relay_one(d, member)
        s.settimeout(10)
        assert s.recv(100) == b""      # closed by xmppd, not by the member
        assert m.recv(100) == b""
        assert "relay closed: idle" in d.stderr()
        s.close()
        m.close()
    finally:
        assert d.stop() == 0


def test_relay_traffic_keeps_a_splice_open(xmppd_path, ctl, tmp_path, member):
    d = relay_to_member(xmppd_path, ctl, tmp_path, member, "--relay-idle-ms", "3000")
    try:
        s, m = relay_one(d, member)
        for i in range(8):   # 4 s in all, never 3 s quiet
            s.sendall(b" ")
            assert m.recv(10) == b" "
            time.sleep(0.5)
        m.sendall(b"<x/>")
        assert s.recv(10) == b"<x/>"
        s.close()
        m.close()
    finally:
        assert d.stop() == 0


def test_relay_half_closed_splice_is_torn_down(xmppd_path, ctl, tmp_path, member):
    # The member ends its side; the initiator never does.  Both descriptors
    # of the splice go after a short grace, not when the initiator exits.
    d = relay_to_member(xmppd_path, ctl, tmp_path, member, "--relay-idle-ms", "600000")
    try:
        s, m = relay_one(d, member)
        m.close()
        s.settimeout(5)
        assert s.recv(100) == b""      # the FIN passed on
        assert wait_for(lambda: "relay closed: one side has gone" in d.stderr(), 20)
        assert peer_reset(s)            # xmppd's end is closed
        s.close()
    finally:
        assert d.stop() == 0


def test_relays_count_against_conn_max(xmppd_path, ctl, tmp_path, member):
    # conn-max 4: two relays hold four descriptors; a third stream is refused.
    d = relay_to_member(xmppd_path, ctl, tmp_path, member, "--conn-max", "4")
    held = []
    try:
        for _ in range(2):
            held += relay_one(d, member)
        with connect(d.port) as s:
            s.sendall(HDR)
            _, cond, _, text = Stream(s).until_error()
        assert cond == "resource-constraint" and "too many connections" in text
        # and once a relay is gone, there is room again
        held.pop(0).close()
        held.pop(0).close()
        assert wait_for(lambda: "relay closed: both sides ended" in d.stderr(), 10)
        s, m = relay_one(d, member)
        held += [s, m]
    finally:
        for x in held:
            x.close()
        assert d.stop() == 0


def test_relay_replays_every_byte_of_the_read_that_decided(xmppd_path, ctl, tmp_path, member):
    # The header and a stanza longer than header-max in one write: the
    # member gets all of it, in order.
    d = relay_to_member(xmppd_path, ctl, tmp_path, member)
    try:
        stanza = b"<message from='a@alpha.fed.example' to='b@delta.fed.example'><body>" + \
            b"x" * 12000 + b"</body></message>"
        data = HDR + stanza
        with connect(d.port) as s:
            s.sendall(data)
            m = member.accept()
            got = b""
            while len(got) < len(data):
                chunk = m.recv(65536)
                if not chunk:
                    break
                got += chunk
            m.close()
        assert got == data
    finally:
        assert d.stop() == 0


def read_to_eof(s):
    data = b""
    s.settimeout(5)
    while True:
        try:
            more = s.recv(4096)
        except ConnectionResetError:
            more = b""
        if not more:
            return data
        data += more


def test_relay_out_of_descriptors_says_so(xmppd_path, ctl, tmp_path, member):
    # With few descriptors, relays take them two by two until one cannot
    # open its socket: that, not "no target reachable", is what the log
    # says, and the initiator hears resource-constraint.
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", member.port))
    (tmp_path / "x.yaml").write_text("first-byte-ms: 600000\nsetup-ms: 600000\n")
    limit = 32
    port = free_port()
    logpath = tmp_path / "xmppd.log"
    log = open(logpath, "w+")
    proc = subprocess.Popen(
        [xmppd_path, "--config", str(tmp_path / "x.yaml"), "--db", str(ctl.db), "--mode", "relay",
         "--listen", f"{HOST}:{port}"], stderr=log,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
    held = []
    try:
        assert wait_for(lambda: b"listening" in logpath.read_bytes(), 10)
        answer = b""
        for _ in range(2 * limit):
            s = connect(port)
            s.sendall(HDR)
            if select.select([s, member.sock], [], [], 5)[0] == [member.sock]:
                held += [s, member.accept()]    # relayed: two descriptors of xmppd's
                continue
            answer = read_to_eof(s)
            s.close()
            if answer:
                break
            # none left even to accept: free a relay's two, take one back
            for x in held[-2:]:
                x.close()
            del held[-2:]
            time.sleep(0.3)
            held.append(connect(port))
            time.sleep(0.1)
        assert b"<resource-constraint" in answer, answer
        text = logpath.read_text()
        # conn-max, lowered to what the open-file limit leaves, refuses the
        # relay before its socket can fail; the socket's own EMFILE is what
        # is left when descriptors go elsewhere
        assert ("relay failed: cannot open a socket: too many open files" in text.lower() or
                "relay refused: no descriptor left for its second connection" in text), text
        assert "no target reachable" not in text
    finally:
        for x in held:
            x.close()
        proc.send_signal(15)
        proc.wait(timeout=10)
        log.close()


def test_cut_at_conn_max_frees_the_descriptor_at_once(xmppd_path, loaded):
    d = Xmppd(xmppd_path, loaded.db, "--conn-max", "5")
    idle = []
    try:
        idle = [connect(d.port) for _ in range(5)]
        time.sleep(0.2)
        idle += [connect(d.port) for _ in range(5)]
        for s in idle[:5]:      # each cut with its answer ...
            data = b""
            while not data.endswith(b"</stream:stream>"):
                more = s.recv(4096)
                assert more, data
                data += more
            assert b"<resource-constraint" in data
        # ... and its descriptor closed already, not kept for the peer's
        # FIN: what the peer sends now is answered with a reset
        assert peer_reset(idle[0])
    finally:
        for s in idle:
            s.close()
        assert d.stop() == 0


# ---- TLS: what openssl s_client and TLS scanners see ----

def s_client(port, *args, starttls=False):
    """openssl s_client against 127.0.0.1:port; returns (cipher or None, output)."""
    cmd = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", "ch.fed.example"]
    if starttls:
        cmd += ["-starttls", "xmpp-server", "-xmpphost", "delta.fed.example"]
    r = subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    out = r.stdout + r.stderr
    for line in out.splitlines():
        if ", Cipher is " in line and r.returncode == 0:
            cipher = line.split(", Cipher is ")[1].strip()
            return (None if cipher == "(NONE)" else cipher), out
    return None, out


def test_openssl_starttls_without_from_gets_tls(tls_xmppd):
    # s_client's stream header has no 'from': STARTTLS comes first all the same
    cipher, out = s_client(tls_xmppd.port, starttls=True)
    assert cipher, out


def test_no_from_after_starttls_is_improper_addressing(tls_xmppd, pki):
    ctx = xmpp.client_ctx(ca=pki / "ca.pem")
    with connect(tls_xmppd.port) as s:
        s.sendall(header(None, "delta.fed.example").encode())
        t = xmpp.starttls(s, ctx)
        t.sendall(header(None, "delta.fed.example").encode())
        _, cond, _, _ = Stream(t).until_error()
    assert cond == "improper-addressing"


@pytest.fixture(scope="session")
def rsa_pki(tmp_path_factory):
    """An RSA certificate, so that static-RSA key exchange could be offered."""
    d = tmp_path_factory.mktemp("rsa")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    d / "rsa.key", "-out", d / "rsa.pem", "-days", "2", "-subj",
                    "/CN=ch.fed.example", "-addext", "subjectAltName=DNS:ch.fed.example"],
                   check=True, capture_output=True)
    return d


@pytest.fixture
def rsa_xmppd(xmppd_path, loaded, rsa_pki):
    d = Xmppd(xmppd_path, loaded.db, "--cert", str(rsa_pki / "rsa.pem"),
              "--key", str(rsa_pki / "rsa.key"), tls_listen=True)
    yield d
    assert d.stop() == 0


@pytest.mark.parametrize("args,want", [
    (["-tls1_2", "-cipher", "AES128-SHA"], None),                  # static RSA, CBC
    (["-tls1_2", "-cipher", "AES128-GCM-SHA256"], None),           # static RSA
    (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], None),        # CBC
    (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"], None),     # CBC
    (["-tls1_1"], None),
    (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "ECDHE-RSA-AES128-GCM-SHA256"),
    (["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], "ECDHE-RSA-CHACHA20-POLY1305"),
    (["-tls1_3"], "TLS_AES_256_GCM_SHA384"),
], ids=["static-rsa-cbc", "static-rsa-gcm", "ecdhe-cbc", "ecdhe-cbc-sha256", "tls1.1",
        "ecdhe-aes128-gcm", "ecdhe-chacha20", "tls1.3"])
@pytest.mark.parametrize("starttls", [False, True], ids=["direct", "starttls"])
def test_tls_offers_forward_secret_aead_only(rsa_xmppd, args, want, starttls):
    port = rsa_xmppd.port if starttls else rsa_xmppd.tls_port
    cipher, out = s_client(port, *args, starttls=starttls)
    assert cipher == want, out


def test_tls_server_cipher_preference(rsa_xmppd):
    # the client prefers AES128; xmppd's order puts AES256 first, and wins
    cipher, out = s_client(rsa_xmppd.tls_port, "-tls1_2", "-cipher",
                           "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384")
    assert cipher == "ECDHE-RSA-AES256-GCM-SHA384", out
