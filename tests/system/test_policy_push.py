"""End to end for the policy push model: the clearinghouse exports a
signed table; member alpha's own Prosody enforces it through mod_firewall
rules rendered from it with alpha's local policy ("level 3 and up").
dnsd publishes every member's real host (fallback: always), so xmppd plays
no part: each server talks to the other directly."""
import os

import pytest

import netlab

why_not = netlab.can_make_namespaces()
if why_not is None and not os.path.isdir("/usr/lib/prosody/modules/mod_firewall"):
    why_not = "mod_firewall is not installed (Debian package prosody-modules)"
pytestmark = pytest.mark.skipif(why_not is not None,
                                reason=f"end-to-end policy push test skipped: {why_not}")

SERVERS = {"alpha": "192.0.2.10", "beta": "192.0.2.20", "delta": "192.0.2.40"}

# Clearinghouse-side the pairs are all allowed; alpha's own policy is the
# stricter one, and alpha's server enforces it.
POLICY = """\
community:
  zone: fed.example
  clearinghouse: [{host: ch.fed.example, port: 5269}]
  fallback: always
  ttl: 1
  levels: {1: basic, 2: verified, 3: pki-2fa}
  default: {min-peer-level: 1}
members:
  alpha.fed.example: {level: 3, targets: [xmpp.alpha.fed.example:5269]}
  beta.fed.example: {level: 2, targets: [xmpp.beta.fed.example:5269]}
  delta.fed.example: {level: 3, targets: [xmpp.delta.fed.example:5269]}
"""

LOCAL = "min-peer-level: 3\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, policyctl_path, dnsd_path):
    work = tmp_path_factory.mktemp("push")
    os.chmod(work, 0o755)
    ctl = netlab.store(policyctl_path, work, POLICY)
    ctl.ok("keygen", "--out", work / "ch")
    (work / "alpha-local.yaml").write_text(LOCAL)
    lab = netlab.Lab(work)
    try:
        lab.ctl = ctl
        lab.rules = work / "alpha-federation.pfw"
        publish_and_render(lab)
        lab.start_dnsd(dnsd_path, ctl.db, netlab.zone(SERVERS))
        # alpha enforces the table: mod_firewall with the rendered rules
        firewall = {"modules": ["firewall"],
                    "vhost": f'firewall_scripts = {{ "{lab.rules}" }}\n'}
        lab.members = {
            name: lab.prosody(f"{name}.fed.example", addr, {netlab.USER: netlab.PASSWORD},
                              **(firewall if name == "alpha" else {}))
            for name, addr in SERVERS.items()
        }
        yield lab
    finally:
        lab.close()


def publish_and_render(lab):
    """The whole operator path: the clearinghouse exports and signs; alpha
    verifies, renders with its local policy.  Returns render's output."""
    w = lab.work
    lab.ctl.ok("export-table", "--sign", w / "ch.key", "--out", w / "table.json")
    return lab.ctl.ok("render-table", "--pubkey", w / "ch.pub", "--for", "alpha.fed.example",
                      "--local-policy", w / "alpha-local.yaml", "--format", "prosody",
                      "--out", lab.rules, "--state", w / "alpha.accepted", w / "table.json")


def test_level_3_peer_gets_through(lab):
    assert "%ZONE federation: alpha.fed.example, delta.fed.example\n" in lab.rules.read_text()
    log = lab.members["alpha"].log()
    assert f"Loaded {lab.rules}" in log and "Error compiling" not in log
    assert lab.delivered("alpha", "delta", "to-a-level-3-peer")
    assert lab.delivered("delta", "alpha", "from-a-level-3-peer")


def test_level_2_peer_is_refused_both_ways(lab):
    # alpha's server bounces its own user's message at once
    assert not lab.delivered("alpha", "beta", "to-a-level-2-peer", wait=8)
    assert lab.bounce == "error: not in the federation allow-list of alpha.fed.example\n"
    # beta's server never gets a stream to alpha authenticated: the
    # dialback check alpha would send to beta is dropped by the rules
    assert not lab.delivered("beta", "alpha", "from-a-level-2-peer", wait=8)
    log = lab.members["alpha"].log()
    assert "asking beta.fed.example if key" in log
    assert "connection beta.fed.example->alpha.fed.example is now authenticated" not in log
    assert "Traceback" not in log


def test_raised_to_level_3_after_a_new_table(lab):
    lab.ctl.ok("set", "beta.fed.example", "level", "3")
    out = publish_and_render(lab)
    assert "2 peers allowed" in out
    # mod_firewall logs "Loaded SCRIPT" each time it (re)compiles the rules
    lab.members["alpha"].reload(f"Loaded {lab.rules}")
    assert lab.delivered("alpha", "beta", "after-the-new-table")
    # Not asserted: beta -> alpha right away.  beta's server still waits on
    # the stream whose dialback alpha dropped before the change, and sends
    # nothing new to alpha until it gives that stream up.
