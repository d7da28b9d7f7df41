"""Open a direct-TLS s2s stream (XEP-0368) with SNI = TO, not checking the
certificate, and print whose stream header comes back:

    tls_hello.py HOST PORT FROM TO
    reached from=<domain>      exit 0
    closed                     exit 1   (no TLS session: refused or unreachable)
"""
import socket
import ssl
import sys

from xmpp import Stream, header


def main(host, port, frm, to):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["xmpp-server"])
    try:
        with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10),
                             server_hostname=to) as t:
            t.sendall(header(frm, to).encode())
            kind, hdr = Stream(t).next()
    except (OSError, ssl.SSLError):
        kind = "eof"
    if kind != "header":
        print("closed")
        return 1
    print(f"reached from={hdr.get('from')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
