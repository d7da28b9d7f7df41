#!/usr/bin/env python3
"""Writes the seed corpus of the libFuzzer targets: tests/fuzz/corpus/<target>/seed-*.

    python3 tests/fuzz/seeds.py

Each seed is one input of a kind the parser meets in real use, or one step
off it, so that a short fuzz run starts from every path worth reaching.
Inputs that once made a target crash are kept beside them as crash-<what>
and are never written here: they were found, not made.

fuzz_query: the first byte picks the transport (bit 0: TCP) and the querier's
family (bit 1: IPv6), the rest is the DNS message.  fuzz_stream: the first
byte's low 7 bits are the piece size less one, bit 7 means after TLS; the
rest is what the initiating server sends.  fuzz_table: the table file.
"""
import json
import pathlib
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

UDP4, TCP4, UDP6, TCP6 = b"\x00", b"\x01", b"\x02", b"\x03"


def query(name, rdtype, transport=UDP4, qid=0x1234, **kw):
    q = dns.message.make_query(name, rdtype, id=qid, **kw)
    return transport + q.to_wire()


def query_seeds():
    s = {}
    s["a-apex"] = query("fed.example.", "SOA")
    s["a-host"] = query("ch.fed.example.", "A")
    s["aaaa-host-v6"] = query("ch.fed.example.", "AAAA", UDP6)
    s["ns-apex-tcp"] = query("fed.example.", "NS", TCP4)
    s["mx-apex"] = query("fed.example.", "MX")
    s["cname"] = query("www.fed.example.", "A")
    s["delegation"] = query("host.sub.fed.example.", "A")
    s["srv-member"] = query("_xmpp-server._tcp.alpha.fed.example.", "SRV")
    s["srv-member-tls"] = query("_xmpps-server._tcp.alpha.fed.example.", "SRV", TCP6)
    s["srv-outside-zone-member"] = query("_xmpp-server._tcp.gamma.example.", "SRV")
    s["soa-outside-zone-apex"] = query("_xmpp-server._tcp.gamma.example.", "SOA")
    s["srv-suspended"] = query("_xmpp-server._tcp.beta.fed.example.", "SRV")
    s["srv-unknown"] = query("_xmpp-server._tcp.nobody.fed.example.", "SRV")
    s["nodata"] = query("ch.fed.example.", "TXT")
    s["nxdomain"] = query("nothing.fed.example.", "A")
    s["refused-outside"] = query("example.org.", "A")
    s["any-minimal"] = query("fed.example.", "ANY")
    s["case-kept"] = query("_XMPP-Server._TCP.Alpha.FED.example.", "SRV")
    s["edns-do"] = query("_xmpp-server._tcp.alpha.fed.example.", "SRV",
                         use_edns=0, payload=4096, want_dnssec=True)
    s["edns-small-payload"] = query("fed.example.", "NS", use_edns=0, payload=512)
    s["edns-version1"] = query("fed.example.", "SOA", use_edns=1)
    s["edns-options"] = query("fed.example.", "SOA", use_edns=0, options=[
        dns.edns.GenericOption(dns.edns.NSID, b""),
        dns.edns.GenericOption(10, bytes(range(8)))])  # a client cookie
    s["chaos-class"] = query("version.bind.", "TXT", rdclass="CH")
    s["axfr-tcp"] = query("fed.example.", "AXFR", TCP4)

    ixfr = dns.message.make_query("fed.example.", "IXFR", id=0x4242)
    ixfr.authority.append(dns.rrset.from_text(
        "fed.example.", 0, "IN", "SOA", "ns1.fed.example. hostmaster.fed.example. 1 7200 3600 1209600 60"))
    s["ixfr-tcp"] = TCP4 + ixfr.to_wire()

    notify = dns.message.make_query("fed.example.", "SOA", id=0x0707)
    notify.set_opcode(dns.opcode.NOTIFY)
    notify.flags |= dns.flags.AA
    notify.flags &= ~dns.flags.RD
    s["notify"] = UDP4 + notify.to_wire()

    response = dns.message.make_response(dns.message.make_query("fed.example.", "SOA"))
    s["response-ignored"] = UDP4 + response.to_wire()

    wire = bytearray(dns.message.make_query("fed.example.", "A", id=1).to_wire())
    wire[5] = 2                                        # QDCOUNT 2, one question
    s["formerr-qdcount"] = UDP4 + bytes(wire)
    s["formerr-short-header"] = UDP4 + b"\x12\x34\x01\x00\x00\x01"
    # A question whose name is a compression pointer to itself.
    s["formerr-pointer-loop"] = UDP4 + struct.pack(">HHHHHH", 9, 0, 1, 0, 0, 0) + \
        b"\xc0\x0c" + struct.pack(">HH", 1, 1)
    s["long-name"] = query(".".join(["a" * 63] * 3) + ".fed.example.", "A")
    return s


HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          "xmlns:stream='http://etherx.jabber.org/streams' {attrs}>")


def header(attrs="from='a.fed.example' to='b.fed.example' version='1.0'"):
    return HEADER.format(attrs=attrs)


def stream(text, step=127, tls=False):
    return bytes([(step - 1) | (0x80 if tls else 0)]) + text.encode()


def stream_seeds():
    s = {}
    s["allow"] = stream(header())
    s["allow-byte-by-byte"] = stream(header(), step=1)
    s["allow-after-tls"] = stream(header(), tls=True)
    s["dialback-ns"] = stream(
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' "
        "xmlns:db='jabber:server:dialback' from='a.fed.example' to='b.fed.example' "
        "version='1.0' xml:lang='en'>", step=7)
    s["deny-suspended"] = stream(header("from='a.fed.example' to='c.fed.example' version='1.0'"))
    s["unknown-member"] = stream(header("from='a.fed.example' to='x.fed.example' version='1.0'"))
    s["no-to"] = stream(header("from='a.fed.example' version='1.0'"))
    s["no-from"] = stream(header("to='b.fed.example' version='1.0'"))
    s["from-not-domain"] = stream(header("from='a@b/c' to='b.fed.example' version='1.0'"))
    s["to-idn"] = stream(header("from='a.fed.example' to='b\u00fccher.example' version='1.0'"))
    s["no-version"] = stream(header("from='a.fed.example' to='b.fed.example'"))
    s["version-2"] = stream(header("from='a.fed.example' to='b.fed.example' version='2.0'"))
    s["client-namespace"] = stream(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
        "to='b.fed.example' version='1.0'>")
    s["undeclared-prefix"] = stream("<stream:stream xmlns='jabber:server' to='b.fed.example'>")
    s["not-stream"] = stream("<message xmlns='jabber:server'/>")
    s["dtd-entity"] = stream("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'aaaa'>"
                             "<!ENTITY b '&a;&a;&a;&a;'>]>" + header())
    s["comment"] = stream("<!-- hello -->" + header())
    s["processing-instruction"] = stream("<?php x ?>" + header())
    s["not-xml"] = stream("GET / HTTP/1.1\r\nHost: b.fed.example\r\n\r\n")
    s["bom-utf8"] = stream("\ufeff" + header())
    s["starttls"] = stream(header() + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", step=16)
    s["element-then-close"] = stream(
        header() + "<db:result xmlns:db='jabber:server:dialback' from='a.fed.example' "
        "to='b.fed.example'>key</db:result></stream:stream>", step=32)
    s["close-at-once"] = stream(header() + "</stream:stream>")
    s["long-attribute"] = stream(header("from='a.fed.example' to='b.fed.example' version='1.0' x='"
                                        + "y" * 3000 + "'"))
    return s


SAMPLE_MEMBERS = {
    "alpha.fed.example": {"level": 3, "not-after": "2027-12-31T23:59:59Z", "status": "active",
                          "tags": ["industry:finance", "auth:pki"]},
    "beta.fed.example": {"level": 2, "status": "active",
                         "tags": ["industry:finance", "auth:password"]},
    "epsilon.fed.example": {"level": 2, "status": "suspended",
                            "tags": ["industry:logistics", "auth:pki"]},
    "gamma.example": {"level": 1, "status": "active", "tags": ["industry:finance", "auth:pki"]},
    "omega.fed.example": {"level": 3, "status": "revoked",
                          "tags": ["industry:defence", "auth:pki", "clearance:secret"]},
    "zeta.fed.example": {"level": 1, "not-after": "2025-06-30T23:59:59Z", "status": "active",
                         "tags": ["industry:retail"]},
}


def table(members=None, levels=None, **top):
    t = {"expires": "2026-12-04T10:00:00Z", "format": 1,
         "levels": {"1": "basic", "2": "verified", "3": "pki-2fa"} if levels is None else levels,
         "made": "2026-11-27T10:00:00Z",
         "members": SAMPLE_MEMBERS if members is None else members,
         "serial": 1795776522, "zone": "fed.example"}
    t.update(top)
    return (json.dumps(t, indent=1, sort_keys=True) + "\n").encode()


def table_seeds():
    s = {}
    s["sample"] = table()
    s["empty"] = table(members={}, levels={})
    s["levels-all-256"] = table(levels={str(i): f"l{i}" for i in range(256)})
    s["idn-member"] = table(members={"xn--bcher-kva.example": {
        "level": 0, "status": "active", "tags": []}})
    s["format-newer"] = table(format=2)
    s["expires-before-made"] = table(expires="2026-11-01T00:00:00Z")
    s["unknown-key"] = table(signer="someone")
    s["member-not-normal"] = table(members={"Alpha.fed.example": {
        "level": 1, "status": "active", "tags": []}})
    s["tag-twice"] = table(members={"a.fed.example": {
        "level": 1, "status": "active", "tags": ["auth:pki", "auth:pki"]}})
    s["level-too-big"] = table(members={"a.fed.example": {
        "level": 256, "status": "active", "tags": []}})
    whole = table().decode()
    s["member-twice"] = whole.replace('"beta.fed.example"', '"alpha.fed.example"', 1).encode()
    s["truncated"] = table()[:200]
    s["not-object"] = b"[1, 2, 3]\n"
    return s


def main():
    for target, seeds in (("fuzz_query", query_seeds()), ("fuzz_stream", stream_seeds()),
                          ("fuzz_table", table_seeds())):
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("seed-*"):
            old.unlink()
        for name, data in seeds.items():
            (d / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
