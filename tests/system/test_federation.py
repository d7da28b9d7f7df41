"""End to end with real servers: Debian's Prosody for four member domains,
each in its own network namespace, federating through dnsd and xmppd in a
fifth.  Messages are sent and read by real c2s clients; the proof is a
message that arrives, or does not."""
import os
import time

import pytest

import netlab

why_not = netlab.can_make_namespaces()
pytestmark = pytest.mark.skipif(why_not is not None,
                                reason=f"end-to-end federation test skipped: {why_not}")

SERVERS = {"alpha": "192.0.2.10", "beta": "192.0.2.20", "delta": "192.0.2.40",
           "eta": "192.0.2.50"}

POLICY = """\
community:
  zone: fed.example
  clearinghouse: [{host: ch.fed.example, port: 5269}]
  fallback: allowed
  ttl: 1
  levels: {1: basic, 2: verified, 3: pki-2fa}
  default: {min-peer-level: 2}
members:
  alpha.fed.example:
    {level: 3, targets: [xmpp.alpha.fed.example:5269], queriers: [192.0.2.10/32],
     addresses: [192.0.2.10]}
  beta.fed.example:
    {level: 2, targets: [xmpp.beta.fed.example:5269], queriers: [192.0.2.20/32],
     addresses: [192.0.2.20]}
  delta.fed.example:
    {level: 3, targets: [xmpp.delta.fed.example:5269], queriers: [192.0.2.40/32],
     tls-targets: [xmpp.delta.fed.example:5270], addresses: [192.0.2.40]}
  eta.fed.example:
    {level: 3, targets: [xmpp.eta.fed.example:5269], queriers: [192.0.2.50/32],
     addresses: [192.0.2.50]}
  loop.fed.example:     # misconfigured: its server is the clearinghouse itself
    {level: 3, targets: [ch.fed.example:5269]}
overrides:
  - deny: [alpha.fed.example, beta.fed.example]
"""

@pytest.fixture(scope="module")
def lab(tmp_path_factory, policyctl_path, dnsd_path, xmppd_path):
    work = tmp_path_factory.mktemp("lab")
    os.chmod(work, 0o755)
    ctl = netlab.store(policyctl_path, work, POLICY)
    lab = netlab.Lab(work)
    try:
        lab.ctl = ctl
        lab.start_dnsd(dnsd_path, ctl.db, netlab.zone(SERVERS))
        lab.xmppd_path = xmppd_path
        # delta also takes direct TLS (XEP-0368), for SNI routing
        lab.members = {
            name: lab.prosody(f"{name}.fed.example", addr, {netlab.USER: netlab.PASSWORD},
                              extra="s2s_direct_tls_ports = { 5270 }" if name == "delta" else "")
            for name, addr in SERVERS.items()
        }
        lab.xmppd = None
        yield lab
    finally:
        lab.close()


def start_xmppd(lab, mode):
    if lab.xmppd:
        assert lab.stop(lab.xmppd) == 0
    lab.xmppd_logpath = lab.work / f"xmppd-{mode}-{time.monotonic_ns()}.log"
    args = [lab.xmppd_path, "--db", lab.ctl.db, "--mode", mode,
            "--listen", f"{netlab.HUB_IP}:5269"]
    if mode == "relay":
        args += ["--tls-listen", f"{netlab.HUB_IP}:5270"]
    lab.xmppd = lab.start(lab.hub, args, open(lab.xmppd_logpath, "w"))
    lab.wait_port(lab.hub, netlab.HUB_IP, 5269)


def xmppd_log(lab):
    return lab.xmppd_logpath.read_text()


def test_relay_delivers_between_allowed_members(lab):
    start_xmppd(lab, "relay")
    assert lab.delivered("alpha", "eta", "hello-through-the-relay")
    log = xmppd_log(lab)
    assert "from=alpha.fed.example to=eta.fed.example outcome=allow rule=policy-ok action=relay" in log
    # eta's server checked alpha with dialback, back through the clearinghouse
    assert "from=eta.fed.example to=alpha.fed.example outcome=allow" in log
    # TLS ran between the two servers themselves: xmppd holds no key for either
    assert "Stream encrypted (TLSv1.3" in lab.members["alpha"].log()


def wait_log(lab, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in xmppd_log(lab):
        time.sleep(0.2)
    return text in xmppd_log(lab)


def test_suspend_cuts_a_live_relay(lab):
    # a relayed stream alpha -> eta is open, as the servers keep it
    assert lab.delivered("alpha", "eta", "over-the-open-relay")
    lab.ctl.ok("suspend", "eta.fed.example")
    # cut within seconds, without waiting for traffic; TLS ran end to end
    # between the servers, so nothing could be said into the stream
    assert wait_log(lab, "from=alpha.fed.example to=eta.fed.example relay cut: the policy now "
                    "says deny", 10), xmppd_log(lab)
    assert "closed without a word" in xmppd_log(lab)
    assert not lab.delivered("alpha", "eta", "after-the-cut", wait=8)
    lab.ctl.ok("resume", "eta.fed.example")   # the later tests use eta


def test_relay_refuses_a_denied_pair(lab):
    assert not lab.delivered("alpha", "beta", "this-must-not-arrive", wait=8)
    assert ("from=alpha.fed.example to=beta.fed.example outcome=deny rule=override-deny "
            "action=policy-violation") in xmppd_log(lab)
    # the sending server saw the stream error
    assert "policy-violation" in lab.members["alpha"].log()


def test_suspend_then_resume_takes_effect_on_the_next_connection(lab):
    lab.ctl.ok("suspend", "delta.fed.example")
    assert not lab.delivered("alpha", "delta", "while-suspended", wait=8)
    assert "to=delta.fed.example outcome=deny rule=not-active" in xmppd_log(lab)
    lab.ctl.ok("resume", "delta.fed.example")
    assert lab.delivered("alpha", "delta", "after-resume")


def tls_hello(lab, frm, to):
    r = lab.run(lab.members[frm].ns, ["/usr/bin/python3", os.path.join(os.path.dirname(__file__),
                                      "tls_hello.py"), netlab.HUB_IP, 5270, f"{frm}.fed.example",
                                      f"{to}.fed.example"],
                capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip() + r.stderr.strip()


def test_relay_routes_direct_tls_by_sni(lab):
    # alpha's address makes it alpha; the SNI names delta: relayed to delta's
    # direct-TLS port, and the TLS session is delta's own
    assert tls_hello(lab, "alpha", "delta") == (0, "reached from=delta.fed.example")
    log = xmppd_log(lab)
    assert ("from=alpha.fed.example to=delta.fed.example outcome=allow rule=policy-ok "
            "action=relay target=xmpp.delta.fed.example") in log
    # beta may not reach alpha: the ClientHello is not forwarded
    assert tls_hello(lab, "beta", "alpha") == (1, "closed")
    assert "from=beta.fed.example to=alpha.fed.example outcome=deny rule=override-deny" in \
        xmppd_log(lab)


def follow(lab, frm, to):
    r = lab.run(lab.members[frm].ns, ["/usr/bin/python3", os.path.join(os.path.dirname(__file__),
                                      "follow.py"), f"{frm}.fed.example", f"{to}.fed.example"],
                capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip() + r.stderr.strip()


def test_relay_never_to_itself(lab):
    rc, out = follow(lab, "alpha", "loop")
    assert rc == 1 and out.startswith("refused remote-connection-failed"), out
    assert "a target of loop.fed.example is this clearinghouse; skipped" in xmppd_log(lab)


def test_redirect_mode_with_an_initiator_that_follows(lab):
    start_xmppd(lab, "redirect")
    rc, out = follow(lab, "alpha", "delta")
    assert (rc, out) == (0, "reached xmpp.delta.fed.example:5269 from=delta.fed.example")
    rc, out = follow(lab, "alpha", "beta")
    assert rc == 1 and out.startswith("refused policy-violation"), out
    assert "action=see-other-host target=xmpp.delta.fed.example:5269" in xmppd_log(lab)


def test_clearinghouse_down_uses_the_srv_fallback(lab):
    lab.stop(lab.xmppd)
    lab.xmppd = None
    # the test initiator: ch refuses the connection, the next SRV target answers
    assert follow(lab, "alpha", "delta") == (
        0, "reached xmpp.delta.fed.example:5269 from=delta.fed.example")
    # and a stock server does the same: Prosody moves on when the connect fails
    assert lab.delivered("eta", "delta", "via-the-fallback")
    # dnsd gives a denied pair no fallback, so alpha still cannot reach beta
    rc, out = follow(lab, "alpha", "beta")
    assert (rc, out) == (2, "unreachable")
