"""A minimal initiating XMPP server for the tests: it speaks the start of
an s2s stream (RFC 6120) and reads what comes back, with the XML parsed by
the standard library's pull parser, not by pattern matching."""
import socket
import ssl
import xml.etree.ElementTree as ET

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"


def header(frm, to, version="1.0", ns="jabber:server"):
    attrs = ""
    if frm is not None:
        attrs += f" from='{frm}'"
    if to is not None:
        attrs += f" to='{to}'"
    if version is not None:
        attrs += f" version='{version}'"
    return (f"<?xml version='1.0'?><stream:stream xmlns='{ns}' "
            f"xmlns:stream='{NS_STREAMS}'{attrs}>")


class Stream:
    """The receiving side's stream as events: its header, then top-level
    elements, then whether it was closed."""

    def __init__(self, sock, timeout=5):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.reset()

    def reset(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.root = None
        self.closed = False
        self.raw = b""

    def _events(self):
        for ev, el in self.parser.read_events():
            if ev == "start":
                self.depth += 1
                if self.depth == 1:
                    self.root = el
                    yield "header", el
            else:
                self.depth -= 1
                if self.depth == 1:
                    yield "element", el
                elif self.depth == 0:
                    self.closed = True
                    yield "closed", el

    def next(self):
        """The next event, reading as needed; ("eof", None) at the end."""
        while True:
            for e in self._events():
                return e
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                return "eof", None
            self.raw += data
            self.parser.feed(data)

    def until_error(self):
        """Read to the stream error; returns (header element, condition
        name, its text, the <text/> or None) and checks the stream closes."""
        hdr = err = None
        while True:
            kind, el = self.next()
            if kind == "header":
                hdr = el
            elif kind == "element" and el.tag == f"{{{NS_STREAMS}}}error":
                err = el
            elif kind in ("closed", "eof"):
                break
        assert hdr is not None, self.raw
        assert err is not None, self.raw
        assert self.closed, f"no </stream:stream>: {self.raw!r}"
        cond = [c for c in err if c.tag != f"{{{NS_ERRORS}}}text"]
        assert len(cond) == 1 and cond[0].tag.startswith(f"{{{NS_ERRORS}}}"), self.raw
        text = err.find(f"{{{NS_ERRORS}}}text")
        return (hdr, cond[0].tag.split("}")[1], (cond[0].text or ""),
                text.text if text is not None else None)


def connect(port, host="127.0.0.1", timeout=5):
    return socket.create_connection((host, port), timeout=timeout)


def ask(port, frm, to, host="127.0.0.1", **kw):
    """Open a stream from frm to to; returns until_error()'s tuple."""
    with connect(port, host) as s:
        s.sendall(header(frm, to, **kw).encode())
        return Stream(s).until_error()


def starttls(sock, ctx, server_hostname="ch.fed.example"):
    """After features offering STARTTLS: ask for it, wait for <proceed/>,
    then wrap the socket.  Returns the TLS socket."""
    st = Stream(sock)
    kind, _ = st.next()
    assert kind == "header", st.raw
    kind, feats = st.next()
    assert kind == "element" and feats.find(f"{{{NS_TLS}}}starttls") is not None, st.raw
    sock.sendall(f"<starttls xmlns='{NS_TLS}'/>".encode())
    kind, el = st.next()
    assert kind == "element" and el.tag == f"{{{NS_TLS}}}proceed", st.raw
    return ctx.wrap_socket(sock, server_hostname=server_hostname)


def client_ctx(ca=None, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx
