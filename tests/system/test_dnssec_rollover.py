"""Key rollovers and signature expiry in dnsd, watched by validating
resolvers: a ZSK rollover by pre-publication and a KSK rollover (the new
key's DS beside the old one, as a double-DS rollover has it at the parent
before the keys change), both driven only by the timing fields the keys
were made with (dnssec-keygen -P/-A/-I/-D, seconds apart) while unbound,
Knot Resolver and PowerDNS Recursor ask every second; no answer may be
anything but secure.  And signatures that expire in seconds are renewed
in the answers that the cache holds."""
import datetime
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

import resolvers
from resolvers import KINDS, ds_of, keygen
from test_dnsd import HOST, free_port
from test_dnssec import APEXES, ZONE, start_dnsd, write_dnsd_config

pytestmark = pytest.mark.skipif(bool(resolvers.missing()),
                                reason=f"not installed: {resolvers.missing()}")

TTL = 5          # every TTL of the zone, the policy and the DNSKEYs


def short_zone(sample_zone, path):
    """The sample zone with TTLs of TTL seconds, so that resolvers forget
    keys and answers within the test."""
    text = sample_zone.read_text().replace("$TTL 3600", f"$TTL {TTL}")
    text = text.replace("60 )       ; negative TTL", f"{TTL} )")
    path.write_text(text)
    return path


def short_policy(sample_policy, path):
    p = yaml.safe_load(sample_policy.read_text())
    p["community"]["ttl"] = TTL
    path.write_text(yaml.safe_dump(p))
    return path


def stamp(t):
    """A Unix time as dnssec-keygen takes it: YYYYMMDDHHMMSS, UTC."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


def signer_tags(r, rdtype):
    """The key tags of the RRSIGs covering rdtype in the answer."""
    return sorted({sig.key_tag for rrset in r.answer if rrset.rdtype == dns.rdatatype.RRSIG
                   for sig in rrset if sig.type_covered == rdtype})


def direct(port, name, rdtype):
    q = dns.message.make_query(name, rdtype, want_dnssec=True)
    q.flags &= ~dns.flags.RD
    return dns.query.tcp(q, HOST, port=port, timeout=5)


@pytest.fixture
def store(loaded, sample_policy, tmp_path):
    loaded.ok("load", short_policy(sample_policy, tmp_path / "policy.yaml"))
    return loaded


QUESTIONS = [(f"_xmpp-server._tcp.alpha.{ZONE}", "SRV"), (ZONE, "DNSKEY"),
             (f"_xmpp-server._tcp.nobody.{ZONE}", "SRV"), (APEXES[0], "SRV"),
             (f"_tcp.alpha.{ZONE}", "A")]


def watch(res_list, until, log):
    """Ask every resolver every QUESTIONS once a second until the monotonic
    time until; each answer that is not secure goes into the returned list."""
    bad = []
    while time.monotonic() < until:
        t = time.monotonic()
        for res in res_list:
            for name, rdtype in QUESTIONS:
                r = res.ask(name, rdtype)
                if r.rcode() not in (0, 3) or not r.flags & dns.flags.AD:
                    bad.append(f"{time.strftime('%H:%M:%S')} {res.kind}: {name} {rdtype}: "
                               f"rcode {r.rcode()} AD {bool(r.flags & dns.flags.AD)}; "
                               + " | ".join(resolvers.bogus_lines(res.log_text())[-2:]))
        log.append(time.monotonic())
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
    return bad


def test_zsk_and_ksk_rollovers_stay_secure(dnsd_path, store, sample_zone, tmp_path):
    keydir = tmp_path / "keys"
    keydir.mkdir()
    t0 = int(time.time()) + 8     # time to start dnsd and the resolvers first
    # The steps, in seconds from t0.  ZSK: the new key is published, active
    # one DNSKEY TTL and more later, the old one stays published until the
    # signatures it made have left every cache.  KSK: the same steps, the new
    # key's DS already trusted.
    zsk_pub, zsk_switch, zsk_gone = 0, 3 * TTL, 6 * TTL
    ksk_pub, ksk_switch, ksk_gone = 7 * TTL, 10 * TTL, 13 * TTL
    end = 15 * TTL
    ksk1 = keygen(keydir, ZONE, ksk=True, timing={"L": TTL, "I": stamp(t0 + ksk_switch),
                                                  "D": stamp(t0 + ksk_gone)})
    ksk2 = keygen(keydir, ZONE, ksk=True, timing={"L": TTL, "P": stamp(t0 + ksk_pub),
                                                  "A": stamp(t0 + ksk_switch)})
    zsk1 = keygen(keydir, ZONE, timing={"L": TTL, "I": stamp(t0 + zsk_switch),
                                        "D": stamp(t0 + zsk_gone)})
    zsk2 = keygen(keydir, ZONE, timing={"L": TTL, "P": stamp(t0 + zsk_pub),
                                        "A": stamp(t0 + zsk_switch)})
    tag = {k: int(ds_of(k).split()[0]) for k in (ksk1, ksk2, zsk1, zsk2)}
    zone = short_zone(sample_zone, tmp_path / "fed.example.zone")
    port = free_port()
    conf = write_dnsd_config(tmp_path / "dnsd.yaml", store, zone, port, keydir)
    _, stop = start_dnsd(dnsd_path, conf, port, tmp_path / "dnsd.log")
    started = []
    try:
        # The community's keys sign the member's apexes too: one DS each.
        anchors = {z: resolvers.served_ds(HOST, port, z) for z in (ZONE, *APEXES)}
        assert anchors[ZONE] == [ds_of(ksk1)]
        # ... and the new KSK's, as the parent has it before the switch.
        anchors[ZONE].append(ds_of(ksk2))
        for apex in APEXES:
            anchors[apex].append(resolvers.ds_for(ksk2, apex))
        for kind, cls in KINDS.items():
            started.append(cls(tmp_path, anchors, {z: (HOST, port) for z in anchors}).start())
        seen = []
        before = direct(port, f"_xmpp-server._tcp.alpha.{ZONE}", "SRV")
        assert signer_tags(before, dns.rdatatype.SRV) == [tag[zsk1]]
        bad = watch(started, time.monotonic() + (t0 + end - time.time()), seen)
        assert not bad, "\n".join(bad[:20])
        assert len(seen) >= end - 5, f"asked only {len(seen)} times"
        # The rollovers happened: new keys sign, old keys are gone.
        after = direct(port, f"_xmpp-server._tcp.alpha.{ZONE}", "SRV")
        assert signer_tags(after, dns.rdatatype.SRV) == [tag[zsk2]]
        keys = direct(port, ZONE, "DNSKEY")
        assert signer_tags(keys, dns.rdatatype.DNSKEY) == [tag[ksk2]]
        published = sorted(dns.dnssec.key_id(k) for rrset in keys.answer
                           if rrset.rdtype == dns.rdatatype.DNSKEY for k in rrset)
        assert published == sorted([tag[ksk2], tag[zsk2]])
    finally:
        for r in started:
            r.stop()
        stop()


def rrsig_expiration(r, rdtype):
    return max(sig.expiration for rrset in r.answer if rrset.rdtype == dns.rdatatype.RRSIG
               for sig in rrset if sig.type_covered == rdtype)


def test_signatures_are_renewed_before_they_expire(dnsd_path, store, sample_zone, tmp_path):
    keydir = tmp_path / "keys"
    keydir.mkdir()
    keygen(keydir, ZONE, ksk=True)
    keygen(keydir, ZONE)
    # A few seconds of inception offset: a resolver's clock (kresd reads it
    # once per loop turn) may be a second behind the signer's, and a
    # signature made "now" would then not yet be valid (EDE 8).
    validity, refresh = 20, 10
    zone = short_zone(sample_zone, tmp_path / "fed.example.zone")
    port = free_port()
    conf = write_dnsd_config(tmp_path / "dnsd.yaml", store, zone, port, keydir,
                             extra={"validity": validity, "refresh": refresh,
                                    "inception-offset": 5})
    _, stop = start_dnsd(dnsd_path, conf, port, tmp_path / "dnsd.log")
    try:
        anchors = {z: resolvers.served_ds(HOST, port, z) for z in (ZONE, *APEXES)}
        name = f"_xmpp-server._tcp.alpha.{ZONE}"
        start = time.time()
        expirations = []
        # Asked straight at dnsd, from its answer cache: no RRSIG it serves
        # has expired, and they move on.
        while time.time() < start + 2 * validity:
            r = direct(port, name, "SRV")
            exp = rrsig_expiration(r, dns.rdatatype.SRV)
            now = time.time()
            assert exp > now, f"an expired signature served: {exp} at {now:.0f}"
            expirations.append(exp)
            time.sleep(1)
        assert len(set(expirations)) >= 3, expirations
        assert expirations == sorted(expirations)
        assert expirations[-1] >= expirations[0] + validity
        # Past the first signatures' validity, resolvers that start now
        # (nothing cached) find the answers secure.
        for kind, cls in KINDS.items():
            with cls(tmp_path, anchors, {z: (HOST, port) for z in anchors}) as res:
                for q in (name, "SRV"), (ZONE, "DNSKEY"), (f"nope.{ZONE}", "A"):
                    r = res.ask(*q)
                    assert r.flags & dns.flags.AD, (kind, q, r.to_text(),
                                                    resolvers.bogus_lines(res.log_text())[-3:])
    finally:
        stop()
