"""Relays that obey the policy after they are opened: a commit that denies a
relayed pair, or a member's not-after passing, ends the live relay within a
few seconds, with <policy-violation/> to the initiator while its stream can
still be written to in plain text; an unrelated commit does not."""
import time
from datetime import datetime, timedelta, timezone

import pytest

from xmpp import connect, header, Stream
from test_xmppd import HDR, Member, Xmppd, relay_policy, wait_for

# Generous against a busy machine; the watch looks four times a second.
CUT_WITHIN = 8

MEMBER_HDR = header("delta.fed.example", "alpha.fed.example").encode()


@pytest.fixture
def member():
    m = Member()
    yield m
    m.close()


@pytest.fixture
def relay(xmppd_path, ctl, tmp_path, member):
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", member.port))
    d = Xmppd(xmppd_path, ctl.db, "--mode", "relay")
    yield d
    assert d.stop() == 0


def open_relay(d, member, answer=True):
    """A relayed stream alpha -> delta: (initiator's socket, member's, the
    initiator's reader).  With answer, the member has sent its header."""
    s = connect(d.port)
    s.sendall(HDR)
    m = member.accept()
    got = b""
    while len(got) < len(HDR):
        got += m.recv(65536)
    assert got == HDR
    st = Stream(s, timeout=CUT_WITHIN + 5)
    if answer:
        m.sendall(MEMBER_HDR)
        kind, el = st.next()
        assert kind == "header" and el.get("from") == "delta.fed.example", st.raw
    return s, m, st


def passes_bytes(s, m):
    s.sendall(b"<presence/>")
    got = b""
    m.settimeout(5)
    while len(got) < len(b"<presence/>"):
        more = m.recv(100)
        if not more:
            return False
        got += more
    return got == b"<presence/>"


def cut_with_policy_violation(st):
    """The initiator's stream ends with policy-violation: (seconds, text)."""
    t0 = time.monotonic()
    kind, el = st.next()
    assert kind == "element" and el.tag.endswith("}error"), (kind, st.raw)
    conds = [c.tag.split("}")[1] for c in el if not c.tag.endswith("}text")]
    assert conds == ["policy-violation"], st.raw
    assert st.next()[0] == "closed", st.raw
    text = el.find("{urn:ietf:params:xml:ns:xmpp-streams}text")
    return time.monotonic() - t0, text.text if text is not None else None


def closed_by_peer(sock, within):
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_relay_cut_when_a_member_is_suspended(relay, ctl, member):
    s, m, st = open_relay(relay, member)
    assert passes_bytes(s, m)
    t0 = time.monotonic()
    ctl.ok("suspend", "delta.fed.example")
    cut_with_policy_violation(st)
    assert time.monotonic() - t0 < CUT_WITHIN
    assert closed_by_peer(m, 5)          # the member's leg is closed too
    assert wait_for(lambda: "relay cut: the policy now says deny" in relay.stderr(), 5)
    assert "policy-violation said" in relay.stderr()
    s.close()
    m.close()


def test_relay_cut_by_a_deny_override(relay, ctl, member, tmp_path):
    s, m, st = open_relay(relay, member)
    # the same policy with a deny override on the pair
    text = (tmp_path / "relay.yaml").read_text()
    (tmp_path / "deny.yaml").write_text(
        text + "overrides:\n  - deny: [alpha.fed.example, delta.fed.example]\n")
    ctl.ok("load", tmp_path / "deny.yaml")
    cut_with_policy_violation(st)
    s.close()
    m.close()


def test_relay_survives_an_unrelated_commit(relay, ctl, member, tmp_path):
    s, m, st = open_relay(relay, member)
    # alpha's own policy changes, in a way that still allows delta
    ctl.ok("set", "alpha.fed.example", "contact", "ops@alpha.fed.example")
    time.sleep(1.5)                    # six looks at the store
    assert passes_bytes(s, m)
    m.sendall(b"<presence from='delta.fed.example'/>")
    kind, el = st.next()
    assert kind == "element" and el.tag == "{jabber:server}presence"
    assert "relay cut" not in relay.stderr()
    s.close()
    m.close()


def test_relay_cut_before_the_real_server_spoke_says_our_header(relay, ctl, member):
    s, m, st = open_relay(relay, member, answer=False)
    ctl.ok("suspend", "alpha.fed.example")
    kind, el = st.next()
    assert kind == "header" and el.get("from") == "delta.fed.example", st.raw
    assert el.get("to") == "alpha.fed.example"
    cut_with_policy_violation(st)
    s.close()
    m.close()


def test_relay_gone_to_tls_is_closed_without_a_word(relay, ctl, member):
    s, m, st = open_relay(relay, member)
    # the start of a TLS ClientHello, as after <proceed/>: from here on
    # nothing can be written into the stream in plain text
    s.sendall(b"\x16\x03\x01\x00\x05hello")
    m.settimeout(5)
    assert m.recv(100).startswith(b"\x16\x03\x01")
    ctl.ok("suspend", "delta.fed.example")
    s.settimeout(CUT_WITHIN)
    data = b""
    try:
        while True:
            more = s.recv(4096)
            if not more:
                break
            data += more
    except ConnectionResetError:
        pass
    assert b"policy-violation" not in data
    assert wait_for(lambda: "closed without a word" in relay.stderr(), 5)
    s.close()
    m.close()


def test_relay_cut_when_a_not_after_passes(xmppd_path, ctl, tmp_path, member):
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", member.port))
    soon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=4)
    ctl.ok("set", "delta.fed.example", "not-after", soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    d = Xmppd(xmppd_path, ctl.db, "--mode", "relay")
    try:
        s, m, st = open_relay(d, member)
        assert passes_bytes(s, m)
        cut_with_policy_violation(st)
        assert datetime.now(timezone.utc) >= soon     # not before its time
        assert "relay cut: the policy now says deny" in d.stderr()
        s.close()
        m.close()
    finally:
        assert d.stop() == 0
