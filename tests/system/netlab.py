"""A small federation on one machine: network namespaces joined by a
bridge, one for the clearinghouse (dnsd and xmppd) and one per member
server (Prosody), each with its own /etc/netns/NAME/resolv.conf pointing at
dnsd.  Everything made here is removed by close()."""
import os
import pathlib
import shutil
import signal
import subprocess
import time

from conftest import Ctl

HUB_IP = "192.0.2.5"       # ch.fed.example and ns1.fed.example
NETNS_ETC = pathlib.Path("/etc/netns")
USER, PASSWORD = "user", "secret"   # one account on every member server


def zone(servers):
    """The static part of fed.example: ns1 and ch at the hub, and
    xmpp.NAME for each {NAME: address} in servers."""
    return ("$ORIGIN fed.example.\n$TTL 60\n"
            "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 5\n@ IN NS ns1\n"
            f"ns1 IN A {HUB_IP}\nch IN A {HUB_IP}\n"
            + "".join(f"xmpp.{name} IN A {addr}\n" for name, addr in servers.items()))


def store(policyctl_path, work, policy):
    """A policy store in work holding the policy file text policy."""
    ctl = Ctl(policyctl_path, work / "store")
    ctl.ok("init")
    (work / "policy.yaml").write_text(policy)
    ctl.ok("load", work / "policy.yaml")
    return ctl


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def can_make_namespaces():
    """None if this machine can run the lab, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "the ip command (iproute2) is missing"
    if not shutil.which("prosody"):
        return "Prosody is not installed (Debian package prosody)"
    name = f"chprobe{os.getpid()}"
    r = ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    r = ip("-n", name, "link", "add", "probe0", "type", "bridge", check=False)
    ip("netns", "del", name, check=False)
    if r.returncode != 0:
        return f"cannot create a bridge in a namespace: {r.stderr.strip()}"
    return None


PROSODY_CFG = """\
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ debug = "{d}/prosody.log" }}
plugin_paths = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "offline"; "ping"; "posix"{modules} }}
interfaces = {{ "{ip}", "127.0.0.1" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
s2s_require_encryption = false
s2s_secure_auth = false
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
certificates = "{d}"
{extra}
VirtualHost "{domain}"
{vhost}
"""


class Lab:
    def __init__(self, workdir):
        self.tag = f"ch{os.getpid() % 100000}"
        self.work = pathlib.Path(workdir)
        self.namespaces = []
        self.procs = []
        self.hub = self.netns("hub")
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "addr", "add", f"{HUB_IP}/24", "dev", "br0")
        ip("-n", self.hub, "link", "set", "br0", "up")

    def netns(self, role, addr=None):
        """A namespace with loopback up; joined to the hub's bridge with addr."""
        name = f"{self.tag}-{role}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        (NETNS_ETC / name).mkdir(parents=True, exist_ok=True)
        (NETNS_ETC / name / "resolv.conf").write_text(f"nameserver {HUB_IP}\n")
        ip("-n", name, "link", "set", "lo", "up")
        if addr:
            veth = f"v{len(self.namespaces)}"
            ip("-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
               "netns", name)
            ip("-n", self.hub, "link", "set", veth, "master", "br0", "up")
            ip("-n", name, "addr", "add", f"{addr}/24", "dev", "eth0")
            ip("-n", name, "link", "set", "eth0", "up")
        return name

    def run(self, ns, args, **kw):
        return subprocess.run(["ip", "netns", "exec", ns, *map(str, args)], **kw)

    def start(self, ns, args, log):
        p = subprocess.Popen(["ip", "netns", "exec", ns, *map(str, args)],
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def wait_port(self, ns, host, port, timeout=20):
        code = ("import socket,sys\n"
                f"socket.create_connection(('{host}', {port}), timeout=0.3).close()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(ns, ["/usr/bin/python3", "-c", code], capture_output=True).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"nothing listens on {host}:{port} in {ns}")

    def start_dnsd(self, dnsd_path, db, zone_text):
        """dnsd in the hub on port 53, the resolver every namespace uses."""
        zone = self.work / "zone"
        zone.write_text(zone_text)
        self.dnsd = self.start(self.hub, [dnsd_path, "--db", db, "--zone", zone, "--listen",
                                          f"{HUB_IP}:53", "--threads", "1"],
                               open(self.work / "dnsd.log", "w"))

    def prosody(self, domain, addr, users, extra="", vhost="", modules=()):
        """A Prosody for domain in its own namespace at addr, with users
        {name: password} registered."""
        ns = self.netns(domain.split(".")[0], addr)
        d = self.work / domain
        (d / "data").mkdir(parents=True)
        # A self-signed certificate: TLS between the servers is real (and
        # end to end through the relay), and dialback proves the domain.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / f"{domain}.key",
                        "-out", d / f"{domain}.crt", "-days", "2", "-subj", f"/CN={domain}",
                        "-addext", f"subjectAltName=DNS:{domain}"],
                       check=True, capture_output=True)
        # found by name in the certificates directory, also by the
        # direct-TLS service, which picks by SNI
        cfg = d / "prosody.cfg.lua"
        cfg.write_text(PROSODY_CFG.format(d=d, ip=addr, domain=domain, extra=extra, vhost=vhost,
                                          modules="".join(f'; "{m}"' for m in modules)))
        for user, pw in users.items():
            r = self.run(ns, ["prosodyctl", "--config", cfg, "register", user, domain, pw],
                         capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
        p = self.start(ns, ["prosody", "-F", "--config", cfg], open(d / "stdout.log", "w"))
        self.wait_port(ns, addr, 5269)
        return Member(self, ns, domain, d, p)

    def delivered(self, frm, to, body, wait=20):
        """Send body from USER@frm to USER@to (short names); True if it
        arrives within wait seconds.  A bounce the sender got is kept in
        self.bounce."""
        self.bounce = self.members[frm].send(USER, PASSWORD, f"{USER}@{to}.fed.example", body)
        return body in self.members[to].received(USER, PASSWORD, wait)

    def close(self):
        for p in reversed(self.procs):
            self.stop(p, signal.SIGKILL if p.poll() is None else signal.SIGTERM)
        for name in self.namespaces:
            ip("netns", "del", name, check=False)
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)


class Member:
    def __init__(self, lab, ns, domain, d, proc):
        self.lab, self.ns, self.domain, self.dir, self.proc = lab, ns, domain, d, proc

    def log(self):
        return (self.dir / "prosody.log").read_text(errors="replace")

    def reload(self, marker, timeout=20):
        """SIGHUP: Prosody re-reads its configuration (and mod_firewall its
        scripts); wait until the log shows marker once more than before."""
        before = self.log().count(marker)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(marker) > before:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.domain}: no '{marker}' after SIGHUP")

    def send(self, user, pw, to, body):
        r = self.lab.run(self.ns, ["/usr/bin/python3", pathlib.Path(__file__).parent / "c2s.py",
                                   "send", f"{user}@{self.domain}", pw, to, body],
                         capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def received(self, user, pw, seconds):
        """Bodies of the messages user gets (stored offline or live) within seconds."""
        r = self.lab.run(self.ns, ["/usr/bin/python3", pathlib.Path(__file__).parent / "c2s.py",
                                   "recv", f"{user}@{self.domain}", pw, seconds],
                         capture_output=True, text=True, timeout=seconds + 60)
        return r.stdout.split()
