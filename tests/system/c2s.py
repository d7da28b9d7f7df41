"""A minimal XMPP client (RFC 6120 c2s with SASL PLAIN, no TLS) for the
end-to-end tests, run inside a member's network namespace:

    c2s.py send JID PASSWORD TO BODY     prints "error: TEXT" for a bounce
                                         that comes back within 3 s
    c2s.py recv JID PASSWORD SECONDS     prints the body of each message

Exit status 0 when the command did what it says."""
import base64
import socket
import sys
import time

from xmpp import Stream

NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"


def open_stream(sock, st, domain):
    st.reset()
    sock.sendall((f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  f"xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' "
                  f"version='1.0'>").encode())
    kind, _ = st.next()
    assert kind == "header", st.raw
    kind, feats = st.next()
    assert kind == "element", st.raw
    return feats


def login(jid, password):
    user, domain = jid.split("@")
    sock = socket.create_connection(("127.0.0.1", 5222), timeout=10)
    st = Stream(sock, timeout=10)
    open_stream(sock, st, domain)
    cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    sock.sendall(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{cred}</auth>".encode())
    kind, el = st.next()
    assert el.tag == f"{{{NS_SASL}}}success", st.raw
    open_stream(sock, st, domain)
    sock.sendall(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'/></iq>".encode())
    kind, el = st.next()
    assert el.get("type") == "result", st.raw
    sock.sendall(b"<presence/>")
    return sock, st


def elements(sock, st, seconds):
    """The top-level elements the server sends within seconds."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            kind, el = st.next()
        except socket.timeout:
            continue
        if kind != "element":
            return
        yield el


def main(argv):
    cmd, jid, password = argv[1:4]
    sock, st = login(jid, password)
    if cmd == "send":
        to, body = argv[4:6]
        sock.sendall(f"<message to='{to}' type='chat' id='m{time.time_ns()}'>"
                     f"<body>{body}</body></message>".encode())
        # wait a little for a bounce; the server has taken the message by then
        for el in elements(sock, st, 3):
            if el.tag == "{jabber:client}message" and el.get("type") == "error":
                text = el.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}text")
                print(f"error: {text.text if text is not None else ''}", flush=True)
                break
        sock.sendall(b"</stream:stream>")
        return 0
    got = 0
    for el in elements(sock, st, float(argv[4])):
        body = el.find("{jabber:client}body")
        if el.tag == "{jabber:client}message" and body is not None:
            print(body.text, flush=True)
            got += 1
    return 0 if got else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
