"""dnsd's NOTIFY (RFC 1996) to the secondaries of notify:, seen by a plain
UDP listener standing for a secondary: one NOTIFY per changed zone after a
commit, a handful for a burst of commits, retries with growing gaps to a
silent target until given up, a response with a wrong ID ignored, and the
start-up checks of notify:."""
import socket
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rdatatype
import pytest

from test_dnsd import HOST, Dnsd
from test_dnsd_apex import edit_zone, reload, without_gamma, write_policy

COMMUNITY = "fed.example."
APEXES = {"_xmpp-server._tcp.gamma.example.", "_xmpps-server._tcp.gamma.example."}
CATALOG = "catalog.fed.example."


class Secondary:
    """A UDP socket that records each NOTIFY it gets (time, message) and
    answers as told: 'ack' (the right response), 'silent', or 'wrong-id'."""

    def __init__(self, mode="ack"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                wire, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            m = dns.message.from_wire(wire)
            with self.lock:
                self.got.append((time.monotonic(), m))
            if self.mode == "silent":
                continue
            r = dns.message.make_response(m)
            if self.mode == "wrong-id":
                r.id = (m.id + 1) % 65536
            self.sock.sendto(r.to_wire(), peer)

    def notifies(self):
        with self.lock:
            return list(self.got)

    def zones(self):
        return [m.question[0].name.to_text() for _, m in self.notifies()]

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.notifies()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.notifies()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def secondaries():
    made = []

    def make(mode="ack"):
        s = Secondary(mode)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def start(dnsd_path, ctl, sample_zone, tmp_path, targets, catalog=True):
    conf = tmp_path / "dnsd.yaml"
    lines = ["notify:"] + [f'  - {{address: "{HOST}:{t.port}"}}' for t in targets]
    if catalog:
        lines.append(f"catalog: {CATALOG[:-1]}")
    conf.write_text("\n".join(lines) + "\n")
    return Dnsd(dnsd_path, str(ctl.db), [str(sample_zone)], extra=["--config", str(conf)])


def served_serial(d, name=COMMUNITY):
    return d.ask(name, "SOA").answer[0][0].serial


def first_look_done(d):
    # The first tick (one interval) only takes note of the serials.
    time.sleep(1.5)


def test_commit_makes_one_notify_per_changed_zone(dnsd_path, loaded, sample_zone, tmp_path,
                                                  secondaries):
    sec = secondaries()
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec])
    try:
        first_look_done(d)
        assert sec.notifies() == [], "NOTIFY with no change"
        loaded.ok("suspend", "gamma.example")   # the community zone and gamma's apexes
        serial = served_serial(d)
        got = sec.wait_for(3, 10)
        time.sleep(1.5)   # nothing more may come: each was acknowledged
        got = sec.notifies()
        names = sorted(m.question[0].name.to_text() for _, m in got)
        assert names == sorted([COMMUNITY, *APEXES]), names
        for _, m in got:
            assert m.opcode() == dns.opcode.NOTIFY
            assert m.flags & dns.flags.AA and not m.flags & dns.flags.QR
            assert m.question[0].rdtype == dns.rdatatype.SOA
        log = d.stderr()
        assert f"notify fed.example serial {serial} to {HOST}:{sec.port}: sent (try 1 of 5)" in log
        assert f"notify fed.example to {HOST}:{sec.port}: acknowledged" in log
    finally:
        assert d.stop() == 0


def test_every_target_is_notified(dnsd_path, loaded, sample_zone, tmp_path, secondaries):
    a, b = secondaries(), secondaries()
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [a, b], catalog=False)
    try:
        first_look_done(d)
        loaded.ok("set", "gamma.example", "level", "2")
        for s in (a, b):
            s.wait_for(3, 10)
            assert sorted(s.zones()) == sorted([COMMUNITY, *APEXES])
    finally:
        assert d.stop() == 0


def test_member_added_or_removed_notifies_the_catalog(dnsd_path, loaded, sample_zone,
                                                     sample_policy, tmp_path, secondaries):
    sec = secondaries()
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec])
    try:
        first_look_done(d)
        loaded.ok("suspend", "beta.fed.example")   # the list of members stays
        sec.wait_for(3, 10)
        time.sleep(1.5)
        assert CATALOG not in sec.zones()
        loaded.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", without_gamma))
        deadline = time.monotonic() + 10
        while CATALOG not in sec.zones() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sec.zones().count(CATALOG) == 1
    finally:
        assert d.stop() == 0


def test_burst_of_1000_commits_makes_a_handful_of_notifies_not_1000(dnsd_path, loaded,
                                                                    sample_zone, tmp_path,
                                                                    secondaries):
    sec = secondaries()
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec], catalog=False)
    try:
        first_look_done(d)
        # One policyctl per commit would take minutes: one process that
        # commits 1,000 times is the same burst for dnsd.
        script = tmp_path / "burst.sh"
        script.write_text("i=0\nwhile [ $i -lt 1000 ]; do\n"
                          f"  {loaded.path} --db {loaded.db} set beta.fed.example level "
                          "$((i % 2 + 1)) >/dev/null || exit 1\n  i=$((i + 1))\ndone\n")
        t0 = time.monotonic()
        subprocess.run(["sh", str(script)], check=True, timeout=600)
        took = time.monotonic() - t0
        final = served_serial(d)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fresh = [m for _, m in sec.notifies() if m.question[0].name.to_text() == COMMUNITY]
            if fresh and "serial %d " % final in d.stderr().split("notify fed.example")[-1]:
                break
            time.sleep(0.1)
        time.sleep(1.5)
        per_zone = sec.zones().count(COMMUNITY)
        # One per interval (1 s) while the burst lasted, and the last one.
        assert 1 <= per_zone <= took + 3, (per_zone, took)
        assert per_zone < 100
        assert f"notify fed.example serial {final} to" in d.stderr()
        assert served_serial(d) == final   # and it kept serving
    finally:
        assert d.stop() == 0


def test_unanswered_notify_retried_with_growing_gaps_then_given_up(dnsd_path, loaded,
                                                                   sample_zone, tmp_path,
                                                                   secondaries):
    sec = secondaries("silent")
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec], catalog=False)
    try:
        first_look_done(d)
        loaded.ok("suspend", "beta.fed.example")
        # 5 tries, 1 + 2 + 4 + 8 s apart, on a tick of 1 s.
        deadline = time.monotonic() + 40
        while "given up" not in d.stderr() and time.monotonic() < deadline:
            time.sleep(0.2)
        times = [t for t, m in sec.notifies() if m.question[0].name.to_text() == COMMUNITY]
        assert len(times) == 5, times
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(b > a for a, b in zip(gaps, gaps[1:])), gaps
        ids = {m.id for _, m in sec.notifies() if m.question[0].name.to_text() == COMMUNITY}
        assert len(ids) == 1   # the same NOTIFY again, not a new one
        assert f"notify fed.example to {HOST}:{sec.port}: no answer after 5 tries, given up" \
            in d.stderr()
        time.sleep(2.5)
        assert len([1 for z in sec.zones() if z == COMMUNITY]) == 5
        served_serial(d)
    finally:
        assert d.stop() == 0


def test_notify_response_with_wrong_id_is_ignored(dnsd_path, loaded, sample_zone, tmp_path,
                                                  secondaries):
    sec = secondaries("wrong-id")
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec], catalog=False)
    try:
        first_look_done(d)
        loaded.ok("suspend", "beta.fed.example")
        deadline = time.monotonic() + 10
        while sec.zones().count(COMMUNITY) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sec.zones().count(COMMUNITY) >= 2, "a wrong ID was taken as the answer"
        assert "fed.example to %s:%d: acknowledged" % (HOST, sec.port) not in d.stderr()
    finally:
        assert d.stop() == 0


@pytest.mark.parametrize("entry,why", [
    ('{key: k1}', "notify: no address (ADDR:PORT)"),
    ('{address: "127.0.0.1"}', "notify: not ADDR:PORT or [V6]:PORT: 127.0.0.1"),
    ('{address: "127.0.0.1:53", key: nokey}', "notify: no such key under keys: nokey"),
])
def test_bad_notify_entry_refused_at_start(dnsd_path, ctl, sample_zone, tmp_path, entry, why):
    conf = tmp_path / "dnsd.yaml"
    conf.write_text("keys:\n  - {name: k1, algorithm: hmac-sha256, secret: "
                    "\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"}\n"
                    f"notify:\n  - {entry}\n")
    r = subprocess.run([dnsd_path, "--config", str(conf), "--db", str(ctl.db), "--zone",
                        str(sample_zone), "--listen", f"{HOST}:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert f"{conf}:4:5: {why}" in r.stderr, r.stderr
    assert "c2VjcmV0" not in r.stderr


def test_zone_file_reload_with_a_new_serial_notifies_that_zone(dnsd_path, loaded, sample_zone,
                                                               tmp_path, secondaries):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text())
    sec = secondaries()
    d = start(dnsd_path, loaded, zone, tmp_path, [sec], catalog=False)
    try:
        first_look_done(d)
        before = served_serial(d)
        edit_zone(zone, "1          ; serial", "2          ; serial")
        reload(d)
        sec.wait_for(3, 10)
        time.sleep(1.5)
        # The member apexes carry the community zone's SOA: they moved too.
        assert sorted(sec.zones()) == sorted([COMMUNITY, *APEXES])
        assert served_serial(d) == before + 1
        assert f"notify fed.example serial {before + 1} to" in d.stderr()
    finally:
        assert d.stop() == 0


def test_not_after_passing_notifies_with_no_commit_nor_query(dnsd_path, loaded, sample_zone,
                                                             tmp_path, secondaries):
    # A not-after that passes moves the served serial with no commit: the
    # secondaries must hear of it even if no one queries dnsd meanwhile.
    sec = secondaries()
    soon = int(time.time()) + 4
    loaded.ok("set", "alpha.fed.example", "not-after",
              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon)))
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec], catalog=False)
    try:
        first_look_done(d)
        assert sec.notifies() == [], "NOTIFY with no change"
        got = sec.wait_for(1, 15)
        # An instant is valid through its second: it ends at soon + 1.
        assert got and time.time() >= soon + 1 - 0.5
        time.sleep(1.5)   # nothing more: gamma's apexes did not change
        names = sorted(m.question[0].name.to_text() for _, m in sec.notifies())
        assert names == [COMMUNITY], names
        serial = served_serial(d)
        assert f"notify fed.example serial {serial} to {HOST}:{sec.port}: sent" in d.stderr()
    finally:
        assert d.stop() == 0


def test_commit_on_one_member_notifies_only_its_own_apex_zones(dnsd_path, loaded, sample_zone,
                                                              sample_policy, tmp_path,
                                                              secondaries):
    # Each apex zone outside the community zone has its own serial, which
    # moves only with its member (or with every member): a commit on one
    # member must not send every apex zone's secondaries a NOTIFY.
    def with_omega(p):
        p["members"]["omega.example"] = {"level": 1, "targets": ["xmpp.omega.example:5269"]}
    loaded.ok("load", write_policy(sample_policy, tmp_path / "p.yaml", with_omega))
    omega = ["_xmpp-server._tcp.omega.example.", "_xmpps-server._tcp.omega.example."]
    sec = secondaries()
    d = start(dnsd_path, loaded, sample_zone, tmp_path, [sec], catalog=False)
    try:
        first_look_done(d)
        gamma_before = served_serial(d, sorted(APEXES)[0])
        loaded.ok("set", "beta.fed.example", "level", "1")   # inside the community zone
        sec.wait_for(1, 10)
        time.sleep(1.5)
        assert sec.zones() == [COMMUNITY]
        assert served_serial(d, sorted(APEXES)[0]) == gamma_before
        loaded.ok("set", "gamma.example", "level", "2")
        sec.wait_for(4, 10)
        time.sleep(1.5)
        assert sorted(sec.zones()) == sorted([COMMUNITY, COMMUNITY, *APEXES])
        assert served_serial(d, sorted(APEXES)[0]) == served_serial(d)
        assert served_serial(d, omega[0]) < served_serial(d)
        # A change to every member (the community settings) moves them all.
        loaded.ok("removed-grace", "100")
        sec.wait_for(9, 10)
        time.sleep(1.5)
        assert sorted(sec.zones()[4:]) == sorted([COMMUNITY, *APEXES, *omega])
    finally:
        assert d.stop() == 0
