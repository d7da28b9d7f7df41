"""dnsd at the apexes a member outside the community zone delegates to it
(_xmpp-server._tcp.gamma.example and _xmpps-server._tcp.gamma.example):
they keep existing, with SOA and NS, when the member is inactive or was
removed not long ago; and the SOA serial moves with every change of the
answers, from the policy or from a zone file read again on SIGHUP."""
import re
import signal
import subprocess
import time

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from test_dnsd import HOST, Dnsd, assert_authoritative, free_port, srv_records

APEXES = ["_xmpp-server._tcp.gamma.example", "_xmpps-server._tcp.gamma.example"]


def policy_serial(ctl):
    return int(ctl.ok("history", "-n", "1").split()[0])


def zone_serial(d):
    return d.ask("fed.example", "SOA").answer[0][0].serial


def serial_after(a, b):
    """RFC 1982: a is past b."""
    return 0 < (a - b) % 2**32 < 2**31


def write_policy(sample_policy, path, edit):
    p = yaml.safe_load(sample_policy.read_text())
    edit(p)
    path.write_text(yaml.safe_dump(p))
    return path


def without_gamma(p):
    del p["members"]["gamma.example"]
    p["overrides"] = [o for o in p["overrides"]
                      if "gamma.example" not in next(iter(o.values()))]


def assert_empty_apex(d, apex):
    """SOA and NS answered at the apex; NODATA with the apex SOA for the
    rest (SRV included); NXDOMAIN with the apex SOA below it."""
    r = d.ask(apex, "SOA")
    assert_authoritative(r)
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.SOA]
    assert r.answer[0].name.to_text() == apex + "."
    assert r.answer[0][0].serial == zone_serial(d)
    r = d.ask(apex, "NS")
    assert_authoritative(r)
    assert {rd.target.to_text() for rd in r.answer[0]} == {"ns1.fed.example.", "ns2.fed.example."}
    for rdtype in ("SRV", "TXT", "A"):
        r = d.ask(apex, rdtype)
        assert_authoritative(r)
        assert not r.answer, rdtype
        (soa,) = r.authority
        assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == apex + "."
    r = d.ask("x.y." + apex, "A")
    assert_authoritative(r, dns.rcode.NXDOMAIN)
    assert r.authority[0].name.to_text() == apex + "."


@pytest.fixture
def start(dnsd_path, loaded, sample_zone):
    started = []

    def run(*extra, zone=sample_zone):
        # The grace is the store's; dnsd's option only checks it.
        if "--removed-grace-s" in extra:
            loaded.ok("removed-grace", extra[extra.index("--removed-grace-s") + 1])
        d = Dnsd(dnsd_path, str(loaded.db), [str(zone)], extra=("--threads", "1", *extra))
        d.ctl = loaded
        started.append(d)
        return d
    yield run
    for d in started:
        if d.proc.poll() is None:
            assert d.stop() == 0, d.stderr()


# ---- a removed member's apexes, for a grace period ---------------------------------

def test_removed_member_apex_is_an_empty_zone_not_refused(start, sample_policy, tmp_path):
    d = start()
    for apex in APEXES:
        assert srv_records(d.ask(apex, "SRV")) == [
            (0, 0, 5269 if apex.startswith("_xmpp-") else 5270, "ch.fed.example.")]
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
    for apex in APEXES:
        assert_empty_apex(d, apex)
        # Twice: the second may come from the cache and must be the same.
        assert_empty_apex(d, apex)
    # A name that never was a member stays REFUSED.
    r = d.ask("_xmpp-server._tcp.stranger.example", "SOA")
    assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA


def test_removed_member_srv_again_once_readded(start, sample_policy, tmp_path):
    d = start()
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
    assert not d.ask(APEXES[0], "SRV").answer
    d.ctl.ok("load", sample_policy)
    assert srv_records(d.ask(APEXES[0], "SRV")) == [(0, 0, 5269, "ch.fed.example.")]


def test_removed_member_refused_after_the_grace(start, sample_policy, tmp_path):
    d = start("--removed-grace-s", "8")
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
    removed_at = time.monotonic()
    # Well inside the grace: the apex exists (and the answer is asked for
    # again and again, as a cache would be filled).
    for _ in range(3):
        assert d.ask(APEXES[0], "SOA").rcode() == dns.rcode.NOERROR
    # Past it, with no commit in between: no cached answer outlives it.
    time.sleep(max(0.0, removed_at + 10 - time.monotonic()))
    for name, rdtype in ((APEXES[0], "SOA"), (APEXES[1], "NS"), ("x." + APEXES[0], "A")):
        r = d.ask(name, rdtype)
        assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA, name


def test_removed_grace_zero_refuses_at_once(start, sample_policy, tmp_path):
    d = start("--removed-grace-s", "0")
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
    r = d.ask(APEXES[0], "SOA")
    assert r.rcode() == dns.rcode.REFUSED


def test_removed_grace_in_the_config_file(dnsd_path, loaded, sample_zone, sample_policy,
                                          tmp_path):
    port = free_port()
    loaded.ok("removed-grace", "0")
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(f"db: {loaded.db}\nzones: [{sample_zone}]\nlisten: [\"{HOST}:{port}\"]\n"
                    "threads: 1\nremoved-grace-s: 0\n")
    log = open(tmp_path / "dnsd.log", "w+")
    proc = subprocess.Popen([dnsd_path, "--config", str(conf)], stderr=log)
    try:
        loaded.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
        out = ""
        deadline = time.monotonic() + 10
        while "status:" not in out and time.monotonic() < deadline:
            assert proc.poll() is None
            out = subprocess.run(["dig", f"@{HOST}", "-p", str(port), "+norec", "+tries=1",
                                  "+time=1", APEXES[0], "SOA"],
                                 capture_output=True, text=True, timeout=10).stdout
        assert "status: REFUSED" in out, out
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log.close()


@pytest.mark.parametrize("value", ["-1", "7776001", "week"])
def test_removed_grace_bad_values(dnsd_path, tmp_path, value):
    r = subprocess.run([dnsd_path, "--db", str(tmp_path), "--zone", "z", "--listen",
                        f"{HOST}:53", "--removed-grace-s", value],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "removed-grace-s takes seconds from 0 to 7776000" in r.stderr, r.stderr
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(f"db: x\nremoved-grace-s: \"{value}\"\n")
    r = subprocess.run([dnsd_path, "--config", str(conf)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2
    assert r.stderr.startswith(f"dnsd: {conf}: removed-grace-s takes"), r.stderr


# ---- an inactive member's apexes under inactive: nxdomain --------------------------

INACTIVE = {
    "suspended": lambda m: m.update(status="suspended"),
    "revoked": lambda m: m.update(status="revoked"),
    "expired": lambda m: m.update({"not-after": "2020-01-01"}),
}


@pytest.mark.parametrize("how", sorted(INACTIVE))
def test_inactive_nxdomain_apex_keeps_soa_and_ns(start, sample_policy, tmp_path, how):
    def edit(p):
        p["community"]["inactive"] = "nxdomain"
        INACTIVE[how](p["members"]["gamma.example"])
    d = start()
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", edit))
    for apex in APEXES:
        assert_empty_apex(d, apex)
    out = subprocess.run(["dig", f"@{HOST}", "-p", str(d.port), "+norec", APEXES[0], "NS"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "status: NOERROR" in out and re.search(r"flags: qr aa;", out)
    assert re.search(r"IN\s+NS\s+ns1\.fed\.example\.", out), out
    # Inside the community zone, where the name is no apex: NXDOMAIN, as set.
    r = d.ask("_xmpp-server._tcp.epsilon.fed.example", "SRV")
    assert_authoritative(r, dns.rcode.NXDOMAIN)


def test_member_expiring_while_cached_gets_the_inactive_answer(start, sample_policy, tmp_path):
    def edit(p):
        p["community"]["inactive"] = "nxdomain"
    d = start()
    d.ctl.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", edit))
    end = int(time.time()) + 8
    d.ctl.ok("set", "gamma.example", "not-after",
             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)))
    for _ in range(3):
        assert srv_records(d.ask(APEXES[0], "SRV")) == [(0, 0, 5269, "ch.fed.example.")]
    # Expired with no commit since: the cached SRV must not outlive it.
    time.sleep(max(0.0, end + 1.5 - time.time()))
    r = d.ask(APEXES[0], "SRV")
    assert_authoritative(r)
    assert not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA


# ---- the SOA serial follows the zone file too ------------------------------------

def edit_zone(zone, old, new):
    text = zone.read_text()
    assert old in text
    zone.write_text(text.replace(old, new, 1))


def reload(d):
    """SIGHUP until dnsd says it reloaded: it refuses a reload while the
    zones of the one before are still in use."""
    n = d.stderr().count("zones reloaded")
    deadline = time.monotonic() + 10
    while d.stderr().count("zones reloaded") == n:
        assert time.monotonic() < deadline, d.stderr()
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.1)


def reload_until(d, name, rdtype, address):
    reload(d)
    deadline = time.monotonic() + 10
    while True:
        r = d.ask(name, rdtype)
        if r.answer and r.answer[0][0].address == address:
            return
        assert time.monotonic() < deadline, d.stderr()
        time.sleep(0.05)


def test_sighup_with_edited_zone_moves_the_serial(start, sample_zone, tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text())
    d = start(zone=zone)
    s0 = zone_serial(d)
    assert s0 == (policy_serial(d.ctl) + 1) % 2**32   # the file's serial is 1
    assert d.ask("ch.fed.example", "A").answer[0][0].address == "192.0.2.5"

    # An edit without a serial bump: the serial moves anyway, with a warning.
    edit_zone(zone, "ch          IN A    192.0.2.5", "ch          IN A    192.0.2.55")
    reload_until(d, "ch.fed.example", "A", "192.0.2.55")
    s1 = zone_serial(d)
    assert serial_after(s1, s0), (s0, s1)
    assert "bump the file's serial" in d.stderr()
    # The apexes outside the zone give the same serial.
    assert d.ask(APEXES[0], "SOA").answer[0][0].serial == s1

    # An edit with a serial bump: the serial moves by the bump, no warning.
    edit_zone(zone, "192.0.2.55", "192.0.2.56")
    edit_zone(zone, "1          ; serial", "5          ; serial")
    reload_until(d, "ch.fed.example", "A", "192.0.2.56")
    s2 = zone_serial(d)
    assert s2 == (s1 + 4) % 2**32
    assert d.stderr().count("bump the file's serial") == 1

    # The same file again: nothing changed, nor does the serial.
    reload(d)
    assert zone_serial(d) == s2

    # A policy commit moves it on by one, from where the reloads left it.
    d.ctl.ok("suspend", "beta.fed.example")
    assert zone_serial(d) == (s2 + 1) % 2**32


def test_sighup_with_serial_gone_back_never_serves_an_older_serial(start, sample_zone,
                                                                   tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text().replace("1          ; serial",
                                                    "100        ; serial", 1))
    d = start(zone=zone)
    s0 = zone_serial(d)
    edit_zone(zone, "100        ; serial", "50         ; serial")
    edit_zone(zone, "192.0.2.5", "192.0.2.57")
    reload_until(d, "ch.fed.example", "A", "192.0.2.57")
    assert zone_serial(d) == (s0 + 1) % 2**32
    assert "bump the file's serial" in d.stderr()


def test_removed_grace_option_disagreeing_with_store_refused(dnsd_path, loaded, sample_zone):
    # The store's removed-grace decides when a grace ends, and so when the
    # serial moves: a dnsd told otherwise would answer out of step with it.
    r = subprocess.run([dnsd_path, "--db", str(loaded.db), "--zone", str(sample_zone),
                        "--listen", f"{HOST}:{free_port()}", "--removed-grace-s", "8"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r.stderr
    assert "removed-grace-s 8 differs from the store's removed-grace 604800" in r.stderr, r.stderr
