"""The /metrics endpoints of dnsd and xmppd: scraped over HTTP and parsed
with the Prometheus client's own text parser, with counters that must move
by what the test did, and nothing served but /metrics."""
import urllib.error
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families

from test_dnsd import HOST, VIEW_DELTA, Dnsd, free_port
from test_xmppd import Xmppd
from xmpp import ask


def scrape(port, openmetrics=False):
    req = urllib.request.Request(f"http://{HOST}:{port}/metrics")
    if openmetrics:
        req.add_header("Accept", "application/openmetrics-text; version=1.0.0")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text, name, **labels):
    return samples(text).get((name, frozenset(labels.items())), 0)


@pytest.fixture
def dnsd_m(dnsd_path, loaded, sample_zone):
    port = free_port()
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=["--metrics", f"{HOST}:{port}", "--threads", "2"])
    d.metrics_port = port
    d.ctl = loaded
    yield d
    assert d.stop() == 0, d.stderr()


def test_dnsd_metrics_count_queries_outcomes_and_cache(dnsd_m):
    _, before = scrape(dnsd_m.metrics_port)
    srv = "_xmpp-server._tcp.{}.fed.example"
    for _ in range(3):
        dnsd_m.ask(srv.format("alpha"), "SRV")                       # clearinghouse only
    dnsd_m.ask(srv.format("alpha"), "SRV", source=VIEW_DELTA)       # delta's view: fallback
    dnsd_m.ask(srv.format("nobody"), "SRV")                          # unknown
    dnsd_m.ask(srv.format("epsilon"), "SRV")                         # suspended
    dnsd_m.ask("fed.example", "SOA", tcp=True)
    ctype, after = scrape(dnsd_m.metrics_port)
    assert ctype.startswith("text/plain; version=0.0.4")

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("dnsd_queries_total", transport="udp") == 6
    assert moved("dnsd_queries_total", transport="tcp") == 1
    assert moved("dnsd_queries_by_type_total", type="SRV") == 6
    assert moved("dnsd_queries_by_type_total", type="SOA") == 1
    assert moved("dnsd_responses_total", rcode="NXDOMAIN") == 1
    assert moved("dnsd_responses_total", rcode="NOERROR") == 6
    assert moved("dnsd_policy_answers_total", outcome="clearinghouse_only") == 3
    assert moved("dnsd_policy_answers_total", outcome="with_fallback") == 1
    assert moved("dnsd_policy_answers_total", outcome="unknown") == 1
    assert moved("dnsd_policy_answers_total", outcome="inactive") == 1
    # The same question three times from the same view: at most one
    # rendering per thread, the rest from the cache.
    assert moved("dnsd_cache_hits_total") >= 1
    assert moved("dnsd_cache_hits_total") + moved("dnsd_cache_misses_total") == 7
    assert moved("dnsd_tcp_connections_total", result="accepted") == 1
    assert value(after, "dnsd_policy_serial") > 0


def test_dnsd_metrics_serial_follows_a_commit(dnsd_m):
    dnsd_m.ask("_xmpp-server._tcp.alpha.fed.example", "SRV")
    _, before = scrape(dnsd_m.metrics_port)
    dnsd_m.ctl.ok("suspend", "delta.fed.example")
    dnsd_m.ask("_xmpp-server._tcp.alpha.fed.example", "SRV")
    _, after = scrape(dnsd_m.metrics_port)
    assert value(after, "dnsd_policy_serial") > value(before, "dnsd_policy_serial")


def test_dnsd_metrics_openmetrics_when_asked(dnsd_m):
    ctype, text = scrape(dnsd_m.metrics_port, openmetrics=True)
    assert ctype.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
    names = {f.name for f in om_parse(text)}
    assert "dnsd_queries" in names and "dnsd_policy_serial" in names


def test_metrics_serves_nothing_else(dnsd_m):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{HOST}:{dnsd_m.metrics_port}/", timeout=5)
    assert e.value.code == 404
    req = urllib.request.Request(f"http://{HOST}:{dnsd_m.metrics_port}/metrics", method="POST",
                                 data=b"")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405


def test_metrics_bare_port_is_loopback(dnsd_path, loaded, sample_zone):
    port = free_port()
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)], extra=["--metrics", str(port)])
    try:
        assert f"metrics on http://127.0.0.1:{port}/metrics" in d.stderr()
        scrape(port)
    finally:
        assert d.stop() == 0


def test_metrics_bad_address_refused_at_start(dnsd_path, loaded, sample_zone):
    import subprocess
    r = subprocess.run([dnsd_path, "--db", str(loaded.db), "--zone", str(sample_zone),
                        "--listen", f"{HOST}:{free_port()}", "--metrics", "localhost:x"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "is not ADDR:PORT" in r.stderr


def test_xmppd_metrics_count_streams_by_outcome_and_rule(xmppd_path, loaded):
    port = free_port()
    x = Xmppd(xmppd_path, loaded.db, "--metrics", f"{HOST}:{port}")
    try:
        _, before = scrape(port)
        ask(x.port, "alpha.fed.example", "delta.fed.example")     # allowed: see-other-host
        ask(x.port, "alpha.fed.example", "delta.fed.example")
        ask(x.port, "alpha.fed.example", "beta.fed.example")      # a deny override
        _, after = scrape(port)
    finally:
        assert x.stop() == 0

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("xmppd_streams_total", outcome="allow", rule="policy-ok") == 2
    assert moved("xmppd_streams_total", outcome="deny", rule="override-deny") == 1
    assert moved("xmppd_redirects_total") == 2
    assert value(after, "xmppd_relays_open") == 0


def test_xmppd_metrics_count_relays_and_their_bytes(xmppd_path, ctl, tmp_path):
    from test_xmppd import HDR, Member, relay_one, relay_to_member, wait_for
    member = Member()
    port = free_port()
    d = relay_to_member(xmppd_path, ctl, tmp_path, member, "--metrics", f"{HOST}:{port}")
    try:
        s, m = relay_one(d, member)
        m.sendall(b"<x/>")
        assert s.recv(10) == b"<x/>"
        _, text = scrape(port)
        assert value(text, "xmppd_relays_open") == 1
        assert value(text, "xmppd_relays_opened_total") == 1
        # The header replayed to the member, and the member's four bytes.
        assert value(text, "xmppd_relayed_bytes_total") >= len(HDR) + 4
        s.close()
        m.close()
        assert wait_for(lambda: value(scrape(port)[1], "xmppd_relays_open") == 0, 20)
    finally:
        assert d.stop() == 0
        member.close()


def test_dnsd_metrics_count_rate_limited_answers(dnsd_path, loaded, sample_zone):
    import socket
    port = free_port()
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)],
             extra=["--metrics", f"{HOST}:{port}", "--threads", "1", "--rrl-rate", "5",
                    "--rrl-slip", "2"])
    try:
        q = __import__("dns.message").message.make_query("fed.example", "NS").to_wire()
        got = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.9", 0))
            s.settimeout(0.5)
            for _ in range(100):
                s.sendto(q, (HOST, d.port))
            try:
                while True:
                    s.recv(4096)
                    got += 1
            except socket.timeout:
                pass
        _, text = scrape(port)
        dropped = value(text, "dnsd_rrl_answers_total", action="dropped")
        slipped = value(text, "dnsd_rrl_answers_total", action="slipped")
        assert dropped > 0 and slipped > 0
        # Every limited answer is either dropped or slipped, and what came
        # back is what was not dropped.
        assert 100 - dropped == got
        assert abs(dropped - slipped) <= 1      # slip 2: every other one
    finally:
        assert d.stop() == 0
