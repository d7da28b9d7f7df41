"""Real secondaries of a primary on loopback: Knot DNS (knotd), NSD and
BIND (named), each on a free port in a directory of its own with its own
configuration, working files and log, following a primary through NOTIFY,
IXFR and AXFR with a TSIG key; Knot and BIND also follow a catalog zone
(RFC 9432), NSD (which has no catalog consumer in 4.6) is given its zones.
Also a Knot DNS primary, to prove the lab without dnsd.

    key = Key.new("xfr-lab")
    with Lab(tmp_path, ("127.0.0.1", port), key, zones=[...], catalog="catalog.fed.example") as lab:
        lab.notify_targets()            # what the primary's notify: lists
        lab.wait_serial("fed.example", serial)
        lab["knot"].transfers("fed.example")   # ["AXFR", "IXFR", ...]

Everything runs as the user running the tests (root in the sandbox and in
CI); nothing binds a fixed port, nothing is written outside the
directory."""
import base64
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

from test_dnsd import HOST, free_port

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NAMED = shutil.which("named") or "/usr/sbin/named"
PROGRAMS = {"knot": KNOTD, "nsd": NSD, "bind": NAMED}


def missing():
    """The secondaries whose program is not installed (Debian packages
    knot, nsd, bind9)."""
    return [kind for kind, path in PROGRAMS.items() if not os.access(path, os.X_OK)]


class Key:
    """A TSIG key: its name, algorithm and base64 secret."""

    def __init__(self, name, algorithm, secret):
        self.name, self.algorithm, self.secret = name, algorithm, secret

    @classmethod
    def new(cls, name, algorithm="hmac-sha256"):
        size = 64 if algorithm == "hmac-sha512" else 32
        return cls(name, algorithm, base64.b64encode(secrets.token_bytes(size)).decode())

    def keyring(self):
        return dns.tsigkeyring.from_text({self.name: (self.algorithm, self.secret)})

    def dnsd_yaml(self):
        """The entry of dnsd's keys: for it."""
        return f'{{name: {self.name}, algorithm: {self.algorithm}, secret: "{self.secret}"}}'


def soa_serial(port, zone, timeout=0.5):
    """The SOA serial served at HOST@port for zone, or None (no answer, or
    not authoritative for it)."""
    q = dns.message.make_query(zone, "SOA")
    try:
        r = dns.query.udp(q, HOST, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None
    if r.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


class Server:
    """One daemon in its own directory: start() runs it, stop() ends it."""

    kind = "?"

    def __init__(self, workdir, name=None):
        self.dir = workdir / (name or self.kind)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.logfile = self.dir / f"{self.kind}.log"
        self.proc = None

    def command(self):
        raise NotImplementedError

    def start(self, probe_zone, timeout=20, probe_type="SOA"):
        """Write the configuration, run the daemon, and return self once
        it answers probe_zone/probe_type with anything."""
        self.write_config()
        self.log = open(self.logfile, "a")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
        q = dns.message.make_query(probe_zone, probe_type)
        deadline = time.monotonic() + timeout
        while True:
            try:
                dns.query.udp(q, HOST, port=self.port, timeout=0.2)
                return self
            except (dns.exception.Timeout, OSError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.kind} did not start:\n{self.log_text()[-3000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            self.log.close()
        self.proc = None

    def log_text(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def serial(self, zone):
        return soa_serial(self.port, zone)

    def wait_serial(self, zone, serial, timeout=10):
        """Wait until zone is served with serial (or, serial None, not
        served at all).  Returns whether it happened in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serial(zone) == serial:
                return True
            time.sleep(0.1)
        return self.serial(zone) == serial

    def transfers(self, zone):
        """The incoming transfers of zone, in order, as its log says:
        'IXFR' or 'AXFR' (an IXFR answered with the whole zone is 'AXFR')."""
        raise NotImplementedError

    def axfr(self, zone, key=None):
        """The zone as this server serves it (for the differential checks)."""
        kw = {"keyring": key.keyring(), "keyname": key.name} if key else {}
        msgs = dns.query.xfr(HOST, zone.rstrip(".") + ".", port=self.port, timeout=5,
                             lifetime=20, relativize=False, **kw)
        return dns.zone.from_xfr(msgs, relativize=False)


def _zone_word(zone):
    return zone.rstrip(".").lower()


class Secondary(Server):
    """A secondary of primary (host, port) for zones, transferring with key;
    catalog, where the kind consumes one, names the catalog zone."""

    def __init__(self, workdir, primary, key, zones, catalog=None):
        super().__init__(workdir)
        self.primary, self.key, self.zones, self.catalog = primary, key, zones, catalog


class KnotSecondary(Secondary):
    kind = "knot"

    def config(self):
        host, port = self.primary
        zones = "".join(f"  - domain: {z}\n" for z in self.zones)
        if self.catalog:
            zones += (f"  - domain: {self.catalog}\n    catalog-role: interpret\n"
                      "    catalog-template: member\n")
        return f"""server:
    listen: {HOST}@{self.port}
    rundir: {self.dir}
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: {self.dir}
key:
  - id: {self.key.name}
    algorithm: {self.key.algorithm}
    secret: {self.key.secret}
remote:
  - id: primary
    address: {host}@{port}
    key: {self.key.name}
acl:
  - id: from_primary
    address: {host}
    key: {self.key.name}
    action: notify
template:
  - id: default
    storage: {self.dir}
    master: primary
    acl: from_primary
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
  - id: member
    storage: {self.dir}
    master: primary
    acl: from_primary
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
zone:
{zones}"""

    def write_config(self):
        (self.dir / "knot.conf").write_text(self.config())

    def command(self):
        return [KNOTD, "-c", str(self.dir / "knot.conf")]

    def transfers(self, zone):
        # "[fed.example.] IXFR, incoming, remote 127.0.0.1@5300 TSIG xfr, finished, ..."
        # An IXFR that the primary answered with the whole zone is logged as
        # "IXFR, incoming, ... receiving AXFR-style IXFR".
        out = []
        pat = re.compile(r"\[" + re.escape(_zone_word(zone)) +
                         r"\.\] (AXFR|IXFR), incoming, .*?(finished|AXFR-style)", re.I)
        for m in pat.finditer(self.log_text()):
            if m.group(2) == "AXFR-style":
                out[-1:] = ["AXFR"] if out and out[-1] == "IXFR" else out[-1:]
                continue
            out.append(m.group(1).upper())
        return out


class NsdSecondary(Secondary):
    """NSD 4.6 consumes no catalog: its zones are given."""
    kind = "nsd"

    def config(self):
        host, port = self.primary
        zones = "".join(f"zone:\n    name: {z}\n    include-pattern: from-primary\n"
                        for z in self.zones)
        d = self.dir
        return f"""server:
    ip-address: {HOST}@{self.port}
    port: {self.port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 2
    hide-version: yes
remote-control:
    control-enable: no
key:
    name: "{self.key.name}"
    algorithm: {self.key.algorithm}
    secret: "{self.key.secret}"
pattern:
    name: from-primary
    zonefile: "%s.zone"
    allow-notify: {host} {self.key.name}
    request-xfr: {host}@{port} {self.key.name}
{zones}"""

    def write_config(self):
        (self.dir / "nsd.conf").write_text(self.config())

    def command(self):
        return [NSD, "-d", "-c", str(self.dir / "nsd.conf")]

    def transfers(self, zone):
        # NSD 4.6 does not log the kind of a transfer, at any verbosity:
        # 'xfrd: zone fed.example committed "received update to serial 7
        # ..."' is all.  Each is 'XFR'; the primary's log says which.
        pat = re.compile(r"xfrd: zone " + re.escape(_zone_word(zone)) + r" committed ", re.I)
        return ["XFR" for line in self.log_text().splitlines() if pat.search(line)]


class BindSecondary(Secondary):
    kind = "bind"

    def config(self):
        host, port = self.primary
        d = self.dir
        primaries = f'{{ {host} port {port} key "{self.key.name}"; }}'
        zones = "".join(f'zone "{z}" {{ type secondary; primaries {primaries}; '
                        f'file "{d}/{_zone_word(z)}.db"; }};\n' for z in self.zones)
        catz = ""
        if self.catalog:
            zones += (f'zone "{self.catalog}" {{ type secondary; primaries {primaries}; '
                      f'file "{d}/{_zone_word(self.catalog)}.db"; }};\n')
            catz = (f'    catalog-zones {{ zone "{self.catalog}" default-primaries '
                    f'{primaries} zone-directory "{d}" in-memory yes '
                    f'min-update-interval 1; }};\n')
        return f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {self.port} {{ {HOST}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-notify {{ {host}; }};
    allow-transfer {{ any; }};
    transfer-source {HOST};
{catz}}};
controls {{ }};
key "{self.key.name}" {{ algorithm {self.key.algorithm}; secret "{self.key.secret}"; }};
server {host} {{ keys {{ "{self.key.name}"; }}; }};
logging {{
    channel all {{ stderr; severity info; print-time yes; print-category yes; }};
    channel xfer {{ stderr; severity debug 3; print-time yes; print-category yes; }};
    category default {{ all; }};
    category xfer-in {{ xfer; }};
    category notify {{ all; }};
    category general {{ all; }};
}};
{zones}"""

    def write_config(self):
        (self.dir / "named.conf").write_text(self.config())

    def command(self):
        return [NAMED, "-g", "-d", "3", "-n", "1", "-c", str(self.dir / "named.conf")]

    def transfers(self, zone):
        # "transfer of 'fed.example/IN' from 127.0.0.1#5300: Transfer
        # completed: ..." preceded by "... got incremental response" for
        # an IXFR; an IXFR answered with the whole zone: "got nonincremental
        # response" (an AXFR).  Those two are xfer-in's debug level 3.
        out, kind = [], "AXFR"
        tag = f"transfer of '{_zone_word(zone)}/in'"
        for line in self.log_text().splitlines():
            if tag not in line.lower():
                continue
            low = line.lower()
            if "got incremental response" in low:
                kind = "IXFR"
            elif "got nonincremental response" in low or "requesting axfr" in low:
                kind = "AXFR"
            elif "transfer completed" in low:
                out.append(kind)
                kind = "AXFR"
        return out


class KnotPrimary(Server):
    """Knot DNS as the primary of zone files, with IXFR from the
    differences of the files (zonefile-load: difference) and NOTIFY to
    the lab's secondaries: to prove the lab without dnsd."""

    kind = "knot-primary"

    def __init__(self, workdir, key, files, catalog=None):
        super().__init__(workdir, "primary")
        self.key, self.files, self.catalog = key, dict(files), catalog
        self.logfile = self.dir / "knot.log"
        self.targets = []

    def config(self):
        remotes = "".join(f"  - id: sec{i}\n    address: {h}@{p}\n    key: {self.key.name}\n"
                          for i, (h, p) in enumerate(self.targets))
        notify = ("    notify: [" + ", ".join(f"sec{i}" for i in range(len(self.targets)))
                  + "]\n") if self.targets else ""
        zones = "".join(f"  - domain: {z}\n    file: {f}\n" for z, f in self.files.items())
        return f"""server:
    listen: {HOST}@{self.port}
    rundir: {self.dir}
log:
  - target: stderr
    any: info
control:
    listen: {self.dir}/knot.sock
database:
    storage: {self.dir}
key:
  - id: {self.key.name}
    algorithm: {self.key.algorithm}
    secret: {self.key.secret}
{"remote:" + chr(10) + remotes if remotes else ""}acl:
  - id: transfer
    key: {self.key.name}
    action: transfer
template:
  - id: default
    storage: {self.dir}
    acl: transfer
{notify}    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
zone:
{zones}"""

    def write_config(self):
        (self.dir / "knot.conf").write_text(self.config())

    def command(self):
        return [KNOTD, "-c", str(self.dir / "knot.conf")]

    def reload(self):
        """Read the zone files again (after a serial bump) and the
        configuration (zones added or removed); NOTIFY follows."""
        subprocess.run([KNOTC, "-c", str(self.dir / "knot.conf"), "reload"], check=True,
                       capture_output=True, timeout=30)


def catalog_text(catalog, zones, serial):
    """A catalog zone (RFC 9432, version 2) listing zones."""
    lines = [f"$ORIGIN {catalog}.", "$TTL 0",
             f"@ IN SOA invalid. invalid. {serial} 3600 600 2147483646 0", "@ IN NS invalid.",
             'version IN TXT "2"']
    for z in zones:
        uid = base64.b32encode(z.lower().encode()).decode().rstrip("=").lower()[:40]
        lines.append(f"{uid}.zones IN PTR {z}.")
    return "\n".join(lines) + "\n"


class Lab:
    """The three secondaries of primary (host, port) for zones, with key;
    Knot and BIND also consume the catalog zone, if any (zones then lists
    only the zones not in the catalog: NSD is given catalog_members too).
    A context manager: every daemon is stopped on leaving."""

    def __init__(self, workdir, primary, key, zones, catalog=None, catalog_members=(),
                 kinds=("knot", "nsd", "bind")):
        self.workdir, self.primary, self.key = workdir, primary, key
        self.zones, self.catalog = list(zones), catalog
        self.servers = {}
        for kind in kinds:
            if kind == "knot":
                s = KnotSecondary(workdir, primary, key, self.zones, catalog)
            elif kind == "nsd":
                s = NsdSecondary(workdir, primary, key, self.zones + list(catalog_members))
            else:
                s = BindSecondary(workdir, primary, key, self.zones, catalog)
            self.servers[kind] = s

    def __getitem__(self, kind):
        return self.servers[kind]

    def __iter__(self):
        return iter(self.servers.values())

    def notify_targets(self):
        """(host, port) of each secondary, for the primary's notify list."""
        return [(HOST, s.port) for s in self]

    def start(self):
        for s in self:
            s.start(self.zones[0])
        return self

    def stop(self):
        for s in self:
            s.stop()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def wait_serial(self, zone, serial, timeout=10, kinds=None):
        """Wait until every secondary (or those of kinds) serves zone with
        serial (None: not at all).  Returns those that did not, by kind."""
        late = {}
        deadline = time.monotonic() + timeout
        for kind, s in self.servers.items():
            if kinds and kind not in kinds:
                continue
            if not s.wait_serial(zone, serial, max(0.5, deadline - time.monotonic())):
                late[kind] = s.serial(zone)
        return late


@contextlib.contextmanager
def knot_primary(p, targets):
    """Start the KnotPrimary p with NOTIFY to targets [(host, port)]; yields
    it, and stops it on leaving."""
    p.targets = list(targets)
    try:
        p.start(next(iter(p.files)))
        yield p
    finally:
        p.stop()
