"""Validating resolvers on loopback, to prove signed answers: unbound, Knot
Resolver (kresd) and PowerDNS Recursor, each on a free port in a directory
of its own with its own configuration and log (no Debian service is
used), trusting the given DS records and sending the given zones to an
authoritative server on loopback; delv with the same anchors; a proxy
that flips a bit in a signature on its way; Knot DNS with mod-onlinesign
as the signer to prove the lab without dnsd; BIND's key tools.

    anchors = {"fed.example": ["12345 15 2 AB..."]}
    with Unbound(tmp_path, anchors, {"fed.example": ("127.0.0.1", port)}) as u:
        r = u.ask("_xmpp-server._tcp.alpha.fed.example", "SRV")
        assert r.flags & dns.flags.AD
        u.flush()

Everything runs as the user running the tests; nothing binds a fixed port,
nothing is written outside the given directory.  A resolver's outgoing
address may be another loopback address (127.0.0.2: a view of dnsd)."""
import os
import re
import selectors
import shutil
import socket
import struct
import subprocess
import threading
import time

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype

from secondaries import Server
from test_dnsd import HOST, free_port

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"
KRESD = shutil.which("kresd") or "/usr/sbin/kresd"
RECURSOR = shutil.which("pdns_recursor") or "/usr/sbin/pdns_recursor"
REC_CONTROL = shutil.which("rec_control") or "/usr/bin/rec_control"
DELV = shutil.which("delv") or "/usr/bin/delv"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KEYMGR = shutil.which("keymgr") or "/usr/sbin/keymgr"
KEYGEN = shutil.which("dnssec-keygen") or "/usr/bin/dnssec-keygen"
DSFROMKEY = shutil.which("dnssec-dsfromkey") or "/usr/bin/dnssec-dsfromkey"

PROGRAMS = {"unbound": UNBOUND, "kresd": KRESD, "pdns": RECURSOR, "delv": DELV,
            "knotd": KNOTD, "keymgr": KEYMGR, "dnssec-keygen": KEYGEN}


def missing():
    """The programs of the lab that are not installed (Debian packages
    unbound, knot-resolver, pdns-recursor, bind9-dnsutils, knot, bind9)."""
    return [name for name, path in PROGRAMS.items() if not os.access(path, os.X_OK)]


# ---- keys ----------------------------------------------------------------------------

def keygen(keydir, zone, algorithm="ED25519", ksk=False, timing=None):
    """A new key for zone in keydir, made by dnssec-keygen, as an operator
    makes one.  timing maps dnssec-keygen's timing options ("P", "A", "I",
    "D", "R", "Psync"...) to their values (a date, +N, "now" or "none").
    Returns the path of its .key file."""
    args = [KEYGEN, "-q", "-K", str(keydir), "-a", algorithm, "-n", "ZONE"]
    if ksk:
        args += ["-f", "KSK"]
    for opt, value in (timing or {}).items():
        args += [f"-{opt}", str(value)]
    args.append(zone)
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)
    return os.path.join(str(keydir), out.stdout.strip() + ".key")


def settime(keyfile, timing):
    """Change a key's timing fields as an operator does (dnssec-settime)."""
    args = [shutil.which("dnssec-settime") or "/usr/bin/dnssec-settime", "-K",
            os.path.dirname(keyfile)]
    for opt, value in timing.items():
        args += [f"-{opt}", str(value)]
    args.append(os.path.basename(keyfile)[:-len(".key")])
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def ds_of(keyfile, digest=2):
    """The DS of a .key file as dnssec-dsfromkey prints it: 'tag alg type hex'."""
    out = subprocess.run([DSFROMKEY, f"-{digest}", keyfile], check=True, capture_output=True,
                         text=True, timeout=60).stdout.split()
    return " ".join(out[3:7]).upper()


def ds_for(keyfile, owner, digest="SHA256"):
    """The DS of the key in a .key file as a key of another apex, owner
    (dnsd signs the member apexes with the community zone's keys)."""
    with open(keyfile) as f:
        text = next(line for line in f if line.strip() and not line.startswith(";"))
    rdata = dns.rdata.from_text("IN", "DNSKEY", text.split("DNSKEY", 1)[1])
    return dns.dnssec.make_ds(owner + ".", rdata, digest).to_text().upper()


def served_ds(host, port, zone, digest="SHA256"):
    """The DS of the secure entry points (flag 257) zone serves at host@port:
    to trust a zone whose keys the test did not make."""
    q = dns.message.make_query(zone, "DNSKEY", want_dnssec=True)
    r = dns.query.tcp(q, host, port=port, timeout=5)
    out = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.DNSKEY:
            for key in rrset:
                if key.flags & 1:
                    out.append(dns.dnssec.make_ds(zone + ".", key, digest).to_text().upper())
    return out


# ---- resolvers -----------------------------------------------------------------------

class Resolver(Server):
    """One validating resolver in its own directory.  anchors maps zone ->
    [DS text]; forwards maps zone -> (host, port) of its authoritative
    server; source is the outgoing address."""

    kind = "?"

    def __init__(self, workdir, anchors, forwards, source=HOST, name=None):
        super().__init__(workdir, name or f"{self.kind}-{source}")
        self.anchors, self.forwards, self.source = dict(anchors), dict(forwards), source

    def write_config(self):
        raise NotImplementedError

    def start(self, timeout=20):
        # Up when it answers anything (a name outside every forward: SERVFAIL
        # or REFUSED, no Internet is needed for that).
        return super().start("up.invalid", timeout, probe_type="A")

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def ask(self, name, rdtype, tcp=False, timeout=8):
        """The resolver's answer to name/rdtype, asked with RD, DO and AD
        (RFC 6840 5.7: AD in a query asks for AD in the answer)."""
        q = dns.message.make_query(name, rdtype, want_dnssec=True, payload=1232)
        q.flags |= dns.flags.AD | dns.flags.RD
        if tcp:
            return dns.query.tcp(q, HOST, port=self.port, timeout=timeout)
        return dns.query.udp_with_fallback(q, HOST, port=self.port, timeout=timeout)[0]

    def flush(self):
        """Forget every cached answer (and key) of the forwarded zones."""
        raise NotImplementedError

    def run(self, args):
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return r.stdout


class Unbound(Resolver):
    kind = "unbound"

    def write_config(self):
        d = self.dir
        anchors = "".join(f'    trust-anchor: "{z}. DS {ds}"\n'
                          for z, dss in self.anchors.items() for ds in dss)
        stubs = "".join(f'stub-zone:\n    name: "{z}."\n    stub-addr: {h}@{p}\n'
                        for z, (h, p) in self.forwards.items())
        (d / "unbound.conf").write_text(f"""server:
    interface: {HOST}@{self.port}
    port: {self.port}
    outgoing-interface: {self.source}
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    logfile: ""
    use-syslog: no
    log-time-ascii: yes
    verbosity: 1
    val-log-level: 2
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    num-threads: 1
    qname-minimisation: no
    module-config: "validator iterator"
    harden-dnssec-stripped: yes
    val-permissive-mode: no
    serve-expired: no
{anchors}{stubs}remote-control:
    control-enable: yes
    control-interface: {d}/control.sock
    control-use-cert: no
""")

    def command(self):
        return [UNBOUND, "-d", "-c", str(self.dir / "unbound.conf")]

    def control(self, *args):
        return self.run([UNBOUND_CONTROL, "-c", str(self.dir / "unbound.conf"), *args])

    def flush(self):
        for zone in self.forwards:
            self.control("flush_zone", zone)     # records, messages and keys
        self.control("flush_bogus")
        self.control("flush_negative")


class Kresd(Resolver):
    kind = "kresd"

    def write_config(self):
        d = self.dir
        # One file per zone: kresd 5.6 keeps only the last of several
        # trust_anchors.add() for one name, which breaks a double-DS rollover.
        anchors = ""
        for i, (z, dss) in enumerate(self.anchors.items()):
            path = d / f"anchors-{i}.zone"
            path.write_text("".join(f"{z}. IN DS {ds}\n" for ds in dss))
            anchors += f"trust_anchors.add_file('{path}', true)\n"
        # FORWARD validates (STUB would not); the target answers
        # authoritatively, which kresd takes as a forwarder's answer.
        fwd = "".join(f"policy.add(policy.suffix(policy.FORWARD({{'{h}@{p}'}}), "
                      f"{{todname('{z}.')}}))\n" for z, (h, p) in self.forwards.items())
        (d / "config").write_text(f"""-- no Internet: no root key, no RFC 5011 refresh, no priming
modules.unload('ta_update')
modules.unload('ta_signal_query')
modules.unload('priming')
modules.unload('detect_time_jump')
net.listen('{HOST}', {self.port}, {{kind = 'dns'}})
net.ipv6 = false
net.outgoing_v4('{self.source}')
cache.open(16 * MB, 'lmdb://{d}/cache')
trust_anchors.remove('.')
{anchors}{fwd}log_level('info')
""")

    def command(self):
        return [KRESD, "-n", "-c", str(self.dir / "config"), str(self.dir)]

    def control(self, command):
        """One Lua command on kresd's control socket (rundir/control/PID)."""
        path = str(self.dir / "control" / str(self.proc.pid))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            out = b""
            # A prompt "> " on connecting, then the result and the next prompt.
            while not out.endswith(b"\n> "):
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            return out.decode(errors="replace")[2:-2]

    def flush(self):
        out = self.control("cache.clear()")
        assert "count" in out, out


class Recursor(Resolver):
    kind = "pdns"

    def write_config(self):
        d = self.dir
        fwd = ", ".join(f"{z}={h}:{p}" for z, (h, p) in self.forwards.items())
        tas = "".join(f"addTA('{z}', '{ds}')\n" for z, dss in self.anchors.items() for ds in dss)
        (d / "ta.lua").write_text("clearTA()\n" + tas)
        # forward-zones (not -recurse): the targets are authoritative (RD=0).
        (d / "recursor.conf").write_text(f"""local-address={HOST}
local-port={self.port}
query-local-address={self.source}
forward-zones={fwd}
dont-query=
dnssec=validate
dnssec-log-bogus=yes
lua-config-file={d}/ta.lua
socket-dir={d}
daemon=no
write-pid=no
threads=1
loglevel=6
disable-syslog=yes
log-timestamp=yes
security-poll-suffix=
hint-file=no
""")

    def command(self):
        return [RECURSOR, f"--config-dir={self.dir}"]

    def flush(self):
        for zone in self.forwards:
            self.run([REC_CONTROL, f"--socket-dir={self.dir}", "wipe-cache", f"{zone}$"])


KINDS = {"unbound": Unbound, "kresd": Kresd, "pdns": Recursor}


def delv(server, port, anchors, root, name, rdtype, workdir):
    """delv @server -p port with anchors (zone -> [DS text]) and +root=root:
    (returncode, output).  Its first line says '; fully validated' for a
    secure answer, '; negative response, fully validated' for a secure
    denial."""
    path = workdir / "delv-anchors.conf"
    lines = []
    for z, dss in anchors.items():
        for ds in dss:
            tag, alg, dt, digest = ds.split(None, 3)
            lines.append(f'    {z}. static-ds {tag} {alg} {dt} "{digest.replace(" ", "")}";')
    path.write_text("trust-anchors {\n" + "\n".join(lines) + "\n};\n")
    r = subprocess.run([DELV, f"@{server}", "-p", str(port), "-a", str(path), f"+root={root}",
                        "+tcp", name, rdtype], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


# ---- tampering -----------------------------------------------------------------------

def flip_signature_bit(wire, qtypes):
    """wire with one bit flipped in the signature of its first RRSIG (answer
    section first), when the question's type is in qtypes; else unchanged."""
    try:
        m = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return wire
    if not m.question or m.question[0].rdtype not in qtypes:
        return wire
    for section in (m.answer, m.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.RRSIG:
                sig = rrset[0].signature
                at = wire.find(sig)
                if at >= 0:
                    i = at + len(sig) // 2
                    return wire[:i] + bytes([wire[i] ^ 0x01]) + wire[i + 1:]
    return wire


class TamperProxy:
    """A UDP and TCP proxy on a free loopback port in front of upstream
    (host, port), passing every message through tamper(wire) -> wire on
    its way back.  Runs in threads; stop() ends them."""

    def __init__(self, upstream, tamper):
        self.upstream, self.tamper = upstream, tamper
        self.port = free_port()
        self.tampered = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((HOST, self.port))
        self.tcp.listen(16)
        self.stopping = False
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        for t in self.threads:
            t.start()

    def _pass(self, wire):
        out = self.tamper(wire)
        if out != wire:
            self.tampered += 1
        return out

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ, "udp")
        sel.register(self.tcp, selectors.EVENT_READ, "tcp")
        pending = {}
        while not self.stopping:
            for key, _ in sel.select(0.2):
                if key.data == "udp":
                    wire, client = self.udp.recvfrom(65535)
                    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    up.sendto(wire, self.upstream)
                    pending[up] = (client, time.monotonic())
                    sel.register(up, selectors.EVENT_READ, "up")
                elif key.data == "tcp":
                    conn, _ = self.tcp.accept()
                    t = threading.Thread(target=self._tcp, args=(conn,), daemon=True)
                    t.start()
                else:
                    up = key.fileobj
                    wire = up.recv(65535)
                    client, _ = pending.pop(up)
                    sel.unregister(up)
                    up.close()
                    self.udp.sendto(self._pass(wire), client)
            # Queries upstream never answered are dropped after 5 s.
            now = time.monotonic()
            for up, (_, t0) in list(pending.items()):
                if now - t0 > 5:
                    sel.unregister(up)
                    up.close()
                    del pending[up]
        sel.close()

    @staticmethod
    def _read(s, n):
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                return None
            out += chunk
        return out

    def _tcp(self, conn):
        conn.settimeout(10)
        try:
            with conn, socket.create_connection(self.upstream, timeout=10) as up:
                while not self.stopping:
                    head = self._read(conn, 2)
                    if head is None:
                        return
                    query = self._read(conn, struct.unpack("!H", head)[0])
                    up.sendall(head + query)
                    head = self._read(up, 2)
                    if head is None:
                        return
                    wire = self._pass(self._read(up, struct.unpack("!H", head)[0]))
                    conn.sendall(struct.pack("!H", len(wire)) + wire)
        except OSError:
            return

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(timeout=5)
        self.udp.close()
        self.tcp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- Knot DNS as the signer, to prove the lab without dnsd ---------------------------

class KnotSigner(Server):
    """knotd serving zone files (zone -> path) signed online by
    mod-onlinesign with the BIND key files of keydirs (zone -> directory),
    imported with keymgr.  Note that mod-onlinesign denies with "black
    lies": a name that does not exist is NODATA (NOERROR), not NXDOMAIN."""

    kind = "knot"

    def __init__(self, workdir, files, keydirs, host=HOST, port=None, also=None):
        super().__init__(workdir, "knot-signer")
        self.also = also            # another address to listen on, at port 53
        self.files, self.keydirs = dict(files), dict(keydirs)
        self.host = host
        self.port = port or self.port

    def config(self):
        zones = "".join(f"  - domain: {z}\n    file: {f}\n" for z, f in self.files.items())
        listen = f"{self.host}@{self.port}" + (f", {self.also}@53" if self.also else "")
        return f"""server:
    listen: [{listen}]
    rundir: {self.dir}
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: {self.dir}
policy:
  - id: manual
    manual: on
mod-onlinesign:
  - id: sign
    policy: manual
template:
  - id: default
    storage: {self.dir}
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
    module: mod-onlinesign/sign
zone:
{zones}"""

    def start(self, timeout=20):
        conf = self.dir / "knot.conf"
        conf.write_text(self.config())
        for zone, keydir in self.keydirs.items():
            for name in sorted(os.listdir(keydir)):
                if name.startswith(f"K{zone}.+") and name.endswith(".private"):
                    subprocess.run([KEYMGR, "-c", str(conf), zone, "import-bind",
                                    os.path.join(keydir, name)],
                                   check=True, capture_output=True, timeout=60)
        self.log = open(self.logfile, "a")
        self.proc = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        q = dns.message.make_query(next(iter(self.files)), "SOA")
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = dns.query.udp(q, self.host, port=self.port, timeout=0.3)
                if r.rcode() == dns.rcode.NOERROR:
                    return self
            except (dns.exception.Timeout, OSError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"knotd did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)


def validated(r):
    """Whether a resolver's answer is secure: AD set and not SERVFAIL."""
    return r.rcode() != dns.rcode.SERVFAIL and bool(r.flags & dns.flags.AD)


def bogus_lines(text):
    """The log lines of a resolver that say why an answer failed validation."""
    pat = re.compile(r"bogus|validation failure|BOGUS|DNSSEC|signature", re.I)
    return [line for line in text.splitlines() if pat.search(line)]
