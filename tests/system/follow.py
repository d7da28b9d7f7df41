"""An initiating server that follows <see-other-host/> the way RFC 6120
section 4.9.3.19 asks (stock servers do not): it resolves the SRV records
of TO in priority order, opens a stream FROM -> TO, and on a redirect opens
the same stream (same 'to', same 'from') to the host given, at most 5
times.  It stops at the first stream header that is not a redirect and
prints what it reached:

    follow.py FROM TO
    reached <host:port> from=<domain in the peer's header>     exit 0
    refused <condition> <text>                                 exit 1
    unreachable                                                exit 2
"""
import socket
import sys

import dns.resolver

from xmpp import NS_STREAMS, NS_ERRORS, Stream, header

MAX_REDIRECTS = 5


def split_hostport(s):
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    return host, int(port)


def addresses(host):
    out = []
    for rdtype in ("A", "AAAA"):
        try:
            out += [r.address for r in dns.resolver.resolve(host, rdtype)]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            pass
    return out or [host]


def attempt(host, port, frm, to):
    """One stream: ('header', element, stream) or ('error', cond, text) or None."""
    for addr in addresses(host):
        try:
            s = socket.create_connection((addr, port), timeout=5)
        except OSError:
            continue
        with s:
            s.sendall(header(frm, to).encode())
            st = Stream(s)
            kind, hdr = st.next()
            if kind != "header":
                return None
            kind, el = st.next()
            if kind == "element" and el.tag == f"{{{NS_STREAMS}}}error":
                cond = [c for c in el if c.tag != f"{{{NS_ERRORS}}}text"][0]
                text = el.find(f"{{{NS_ERRORS}}}text")
                return ("error", cond.tag.split("}")[1], cond.text or
                        (text.text if text is not None else ""))
            return ("header", hdr, None)
    return None


def main(frm, to):
    srv = sorted(dns.resolver.resolve(f"_xmpp-server._tcp.{to}", "SRV"),
                 key=lambda r: (r.priority, -r.weight))
    for rr in srv:
        host, port = rr.target.to_text().rstrip("."), rr.port
        for _ in range(MAX_REDIRECTS + 1):
            r = attempt(host, port, frm, to)
            if r is None:
                break       # not reachable: the next SRV target
            if r[0] == "header":
                print(f"reached {host}:{port} from={r[1].get('from')}")
                return 0
            if r[1] != "see-other-host":
                print(f"refused {r[1]} {r[2]}")
                return 1
            host, port = split_hostport(r[2])
        else:
            print("refused too-many-redirects")
            return 1
    print("unreachable")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
