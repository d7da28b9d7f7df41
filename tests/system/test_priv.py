"""Least privilege: the daemons bind as root and run as user:/group: with no
capability, or start unprivileged with an ambient CAP_NET_BIND_SERVICE;
what they open later still opens; the store's modes; the systemd units and
what 'meson install' puts where.  Most need root (and setpriv, from
util-linux) and skip without it."""
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

import xmpp
from xmpp import Stream, connect, header

HOST = "127.0.0.1"
USER, GROUP = "nobody", "nogroup"
DIST = pathlib.Path(__file__).resolve().parents[2] / "dist"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def ids():
    import grp
    import pwd
    return pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid


def free_high_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def free_low_port():
    """A port below 1024, free for UDP and TCP on loopback: one that only
    root or CAP_NET_BIND_SERVICE may bind."""
    for _ in range(200):
        port = random.randint(600, 1000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((HOST, port))
                u.bind((HOST, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free low port")


@pytest.fixture
def place():
    """A directory the unprivileged user can reach (pytest's own are 0700)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="ch-priv-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def store(policyctl_path, place, sample_policy):
    """The sample community in a store given to GROUP, as the README says."""
    db = place / "store"
    for args in (["init", "--group", GROUP], ["load", sample_policy]):
        r = subprocess.run([policyctl_path, "--db", db, *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return db


@pytest.fixture
def zone(place, sample_zone):
    z = place / "fed.example.zone"
    z.write_text(sample_zone.read_text())
    z.chmod(0o644)
    return z


def status(pid):
    """Every thread's Uid, Gid, Groups, Cap* and NoNewPrivs lines."""
    out = []
    for task in sorted(os.listdir(f"/proc/{pid}/task")):
        with open(f"/proc/{pid}/task/{task}/status") as f:
            out.append(dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line))
    return out


def assert_no_privilege(pid, uid, gid, bounding_empty):
    threads = status(pid)
    for s in threads:
        assert s["Uid"].split() == [str(uid)] * 4, s["Uid"]
        assert s["Gid"].split() == [str(gid)] * 4, s["Gid"]
        for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert int(s[cap], 16) == 0, (cap, s[cap])
        if bounding_empty:
            assert int(s["CapBnd"], 16) == 0, s["CapBnd"]
        assert s["NoNewPrivs"] == "1"
    return threads


def ask(port, name, rdtype="SOA", timeout=2):
    q = dns.message.make_query(name, rdtype)
    return dns.query.udp(q, HOST, port=port, timeout=timeout)


class Daemon:
    """A daemon's process with its stderr in a file."""

    def __init__(self, args, log, wait_port=None, dns_port=None, env=None):
        self.logpath = log
        self.log = open(log, "w+")
        self.proc = subprocess.Popen(args, stderr=self.log, env=env)
        deadline = time.monotonic() + 10
        while dns_port or wait_port:
            assert time.monotonic() < deadline, self.stderr()
            assert self.proc.poll() is None, self.stderr()
            try:
                if dns_port:
                    ask(dns_port, "fed.example", timeout=0.2)
                else:
                    connect(wait_port, timeout=0.2).close()
                break
            except (OSError, dns.exception.Timeout):
                time.sleep(0.05)

    def stderr(self):
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        self.log.close()
        return rc


def run_to_exit(args, timeout=20):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def unprivileged(*caps):
    """setpriv: become USER:GROUP, optionally keeping caps as ambient ones."""
    cmd = ["setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--clear-groups"]
    if caps:
        c = ",".join("+" + x for x in caps)
        cmd += [f"--inh-caps={c}", f"--ambient-caps={c}"]
    return cmd


# ---- dnsd ----

@needs_root
def test_dnsd_started_as_root_runs_as_user_without_capabilities(dnsd_path, store, zone,
                                                                place, policyctl_path):
    port = free_low_port()
    mport = free_high_port()
    conf = place / "dnsd.yaml"
    conf.write_text(f"db: {store}\nzones: [{zone.name}]\nlisten: ['{HOST}:{port}']\n"
                    f"threads: 2\nuser: {USER}\ngroup: {GROUP}\nmetrics: {mport}\n")
    d = Daemon([dnsd_path, "--config", conf], place / "dnsd.log", dns_port=port)
    try:
        uid, gid = ids()
        threads = assert_no_privilege(d.proc.pid, uid, gid, bounding_empty=True)
        # The second UDP thread, and the metrics' thread: started after
        # the drop, it holds no capability either.
        assert len(threads) >= 3
        with urllib.request.urlopen(f"http://{HOST}:{mport}/metrics", timeout=5) as r:
            assert b"dnsd_queries_total" in r.read()
        assert all(s["Groups"].split() == [str(gid)] for s in threads)
        assert ask(port, "fed.example").rcode() == dns.rcode.NOERROR
        # A commit is seen: the lock file is still shared with the writer.
        subprocess.run([policyctl_path, "--db", store, "suspend", "alpha.fed.example"],
                       check=True, capture_output=True)
        r = ask(port, "_xmpp-server._tcp.alpha.fed.example", "SRV")
        assert len(r.answer[0]) == 1, r               # clearinghouse only
        # SIGHUP re-reads the zone file as the user.
        zone.write_text(zone.read_text() + "after-drop IN A 192.0.2.77\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while ask(port, "after-drop.fed.example", "A").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, d.stderr()
            time.sleep(0.05)
    finally:
        assert d.stop() == 0, d.stderr()
    log = d.stderr()
    assert f"running as uid {uid} gid {gid}, no capabilities" in log
    assert "zones reloaded" in log
    assert "writable by others" not in log and "running as root" not in log


@needs_root
def test_dnsd_root_only_zone_file_fails_at_start_not_at_reload(dnsd_path, store, zone, place):
    zone.chmod(0o600)
    r = run_to_exit([dnsd_path, "--db", store, "--zone", zone, "--listen",
                     f"{HOST}:{free_low_port()}", "--user", USER, "--group", GROUP])
    assert r.returncode == 3
    assert (f"{zone}: cannot be read as user {USER}, so SIGHUP could not reload it: "
            "Permission denied") in r.stderr


@needs_root
def test_dnsd_root_only_store_fails_at_start(dnsd_path, policyctl_path, place, zone,
                                             sample_policy):
    db = place / "rootonly"
    subprocess.run([policyctl_path, "--db", db, "init"], check=True, capture_output=True)
    r = run_to_exit([dnsd_path, "--db", db, "--zone", zone, "--listen",
                     f"{HOST}:{free_low_port()}", "--user", USER])
    assert r.returncode == 3
    assert f"{db}: the store cannot be opened as user {USER}: Permission denied" in r.stderr


@needs_root
def test_nonroot_low_port_bind_says_how_not_bare_permission_denied(dnsd_path, xmppd_path,
                                                                  store, zone):
    port = free_low_port()
    hint = "permission denied; start as root with user: set, or give CAP_NET_BIND_SERVICE"
    r = run_to_exit(unprivileged() + [dnsd_path, "--db", store, "--zone", zone, "--listen",
                                      f"{HOST}:{port}"])
    assert r.returncode != 0
    assert f"dnsd: cannot bind {HOST}:{port}: {hint}" in r.stderr
    r = run_to_exit(unprivileged() + [xmppd_path, "--db", store, "--listen", f"{HOST}:{port}"])
    assert r.returncode != 0
    assert f"xmppd: cannot bind {HOST}:{port}: {hint}" in r.stderr


@needs_root
def test_dnsd_with_ambient_net_bind_service_drops_it(dnsd_path, store, zone, place):
    port = free_low_port()
    d = Daemon(unprivileged("net_bind_service") + [
        dnsd_path, "--db", store, "--zone", zone, "--listen", f"{HOST}:{port}", "--threads", "2"],
        place / "dnsd.log", dns_port=port)
    try:
        uid, gid = ids()
        assert_no_privilege(d.proc.pid, uid, gid, bounding_empty=False)
        assert ask(port, "fed.example").rcode() == dns.rcode.NOERROR
    finally:
        assert d.stop() == 0, d.stderr()


@needs_root
def test_store_writable_by_others_warns(dnsd_path, xmppd_path, store, zone, place):
    (store / "data.mdb").chmod(0o666)
    port = free_low_port()
    d = Daemon([dnsd_path, "--db", store, "--zone", zone, "--listen", f"{HOST}:{port}",
                "--user", USER, "--group", GROUP], place / "dnsd.log", dns_port=port)
    assert d.stop() == 0
    assert f"dnsd: warning: {store}/data.mdb is writable by others (o+w)" in d.stderr()
    d = Daemon([xmppd_path, "--db", store, "--listen", f"{HOST}:{port}", "--user", USER,
                "--group", GROUP], place / "xmppd.log", wait_port=port)
    assert d.stop() == 0
    assert f"xmppd: warning: {store}/data.mdb is writable by others (o+w)" in d.stderr()


@needs_root
def test_unknown_user_is_a_settings_error(dnsd_path, xmppd_path, store, zone):
    r = run_to_exit([dnsd_path, "--db", store, "--zone", zone, "--listen", f"{HOST}:5300",
                     "--user", "no-such-user-here"])
    assert r.returncode == 2 and "user: no-such-user-here: no such user" in r.stderr
    r = run_to_exit([xmppd_path, "--db", store, "--listen", f"{HOST}:5300", "--group", GROUP])
    assert r.returncode == 2 and "group: nogroup: needs user: too" in r.stderr


@needs_root
def test_sd_notify_ready_reloading_stopping(dnsd_path, store, zone, place):
    sock_path = place / "notify"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(sock_path))
    sock_path.chmod(0o666)                       # dnsd sends after the drop
    s.settimeout(10)
    port = free_low_port()
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path))
    d = Daemon([dnsd_path, "--db", store, "--zone", zone, "--listen", f"{HOST}:{port}",
                "--user", USER], place / "dnsd.log", env=env)
    try:
        assert s.recv(4096) == b"READY=1"
        assert ask(port, "fed.example").rcode() == dns.rcode.NOERROR
        d.proc.send_signal(signal.SIGHUP)
        assert s.recv(4096) == b"RELOADING=1"
        assert s.recv(4096) == b"READY=1"
    finally:
        assert d.stop() == 0, d.stderr()
        assert s.recv(4096) == b"STOPPING=1"
        s.close()


# ---- xmppd ----

@needs_root
def test_xmppd_started_as_root_with_root_only_key_runs_as_user(xmppd_path, store, place, pki):
    # The key stays root's (mode 0600 in a 0700 directory): read before the drop.
    pki.chmod(0o700)
    (pki / "ch.key").chmod(0o600)
    port = free_low_port()
    mport = free_high_port()
    d = Daemon([xmppd_path, "--db", store, "--listen", f"{HOST}:{port}", "--cert",
                pki / "ch.pem", "--key", pki / "ch.key", "--ca", pki / "ca.pem",
                "--user", USER, "--group", GROUP, "--metrics", str(mport)],
               place / "xmppd.log", wait_port=port)
    try:
        uid, gid = ids()
        threads = assert_no_privilege(d.proc.pid, uid, gid, bounding_empty=True)
        assert len(threads) >= 2                     # the metrics' thread
        with urllib.request.urlopen(f"http://{HOST}:{mport}/metrics", timeout=5) as r:
            assert b"xmppd_streams_total" in r.read()
        ctx = xmpp.client_ctx(ca=pki / "ca.pem")
        with connect(port) as s:
            s.sendall(header("alpha.fed.example", "delta.fed.example").encode())
            t = xmpp.starttls(s, ctx)
            t.sendall(header("alpha.fed.example", "delta.fed.example").encode())
            _, cond, value, _ = Stream(t).until_error()
        assert (cond, value) == ("see-other-host", "xmpp1.delta.fed.example:5269")
    finally:
        assert d.stop() == 0, d.stderr()
    assert f"running as uid {uid} gid {gid}, no capabilities" in d.stderr()


@needs_root
def test_xmppd_with_ambient_net_bind_service_drops_it(xmppd_path, store, place):
    port = free_low_port()
    d = Daemon(unprivileged("net_bind_service") + [
        xmppd_path, "--db", store, "--listen", f"{HOST}:{port}"], place / "xmppd.log",
        wait_port=port)
    try:
        uid, gid = ids()
        assert_no_privilege(d.proc.pid, uid, gid, bounding_empty=False)
        _, cond, _, _ = xmpp.ask(port, "alpha.fed.example", "delta.fed.example")
        assert cond == "see-other-host"
    finally:
        assert d.stop() == 0, d.stderr()


# ---- the store's modes ----

@needs_root
def test_policyctl_init_group_modes(policyctl_path, store):
    _, gid = ids()
    st = os.stat(store)
    assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o2770
    for f in ("data.mdb", "lock.mdb"):
        st = os.stat(store / f)
        assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o660, f
    # Every writer must read the audit key, beside the store.
    st = os.stat(f"{store}.audit-key")
    assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o640
    # A member of the group writes; a user outside it cannot even read.
    r = run_to_exit(unprivileged() + [policyctl_path, "--db", store, "suspend",
                                      "beta.fed.example"])
    assert r.returncode == 0, r.stderr
    r = run_to_exit(["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups",
                     policyctl_path, "--db", store, "list"])
    assert r.returncode == 3 and "Permission denied" in r.stderr
    # On an existing store --group only sets the modes again.
    os.chmod(store / "lock.mdb", 0o600)
    r = run_to_exit([policyctl_path, "--db", store, "init", "--group", GROUP])
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(store / "lock.mdb").st_mode) == 0o660


# ---- systemd units and installation ----

def built_unit(name, tmp_path, dnsd_path, xmppd_path):
    """The configured unit from the build, its ExecStart pointed at the
    built program (systemd-analyze verify wants it to exist)."""
    build = pathlib.Path(dnsd_path).resolve().parents[1]
    text = (build / "dist" / name).read_text()
    text = re.sub(r"ExecStart=\S+/dnsd ", f"ExecStart={dnsd_path} ", text)
    text = re.sub(r"ExecStart=\S+/xmppd ", f"ExecStart={xmppd_path} ", text)
    out = tmp_path / name
    out.write_text(text)
    return out


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
@pytest.mark.parametrize("unit", ["dnsd.service", "xmppd.service"])
def test_systemd_units_verify_and_are_hardened(unit, tmp_path, dnsd_path, xmppd_path):
    path = built_unit(unit, tmp_path, dnsd_path, xmppd_path)
    r = run_to_exit(["systemd-analyze", "verify", "--man=no", path], timeout=60)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    r = run_to_exit(["systemd-analyze", "security", "--offline=true", path], timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.5, r.stdout
    for good in ("NoNewPrivileges=", "ProtectHome=", "PrivateTmp=", "SystemCallFilter=~@swap",
                 "CapabilityBoundingSet=~CAP_SYS_ADMIN", "RestrictAddressFamilies=~…"):
        line = next(ln for ln in r.stdout.splitlines() if good in ln)
        assert line.lstrip().startswith("✓"), line


def test_meson_install_layout(dnsd_path, tmp_path):
    build = pathlib.Path(dnsd_path).resolve().parents[1]
    dest = tmp_path / "dest"
    r = run_to_exit(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                     "--destdir", dest], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    intro = subprocess.run(["meson", "introspect", "--buildoptions", build],
                           capture_output=True, text=True, check=True).stdout
    import json
    opt = {o["name"]: o["value"] for o in json.loads(intro)}
    prefix = opt["prefix"]

    def there(*p):
        return dest / os.path.join(*p).lstrip("/")

    sbin = os.path.join(prefix, opt["sbindir"])
    assert os.access(there(sbin, "dnsd"), os.X_OK)
    assert os.access(there(sbin, "xmppd"), os.X_OK)
    assert os.access(there(prefix, opt["bindir"], "policyctl"), os.X_OK)
    conf = there(prefix, opt["sysconfdir"], "clearinghouse")
    assert {"dnsd.yaml", "xmppd.yaml", "fed.example.zone"} <= set(os.listdir(conf))
    units = [p for p in dest.rglob("*.service")]
    assert {p.name for p in units} == {"dnsd.service", "xmppd.service"}
    assert all(p.parent.name == "system" and p.parent.parent.name == "systemd" for p in units)
    text = next(p for p in units if p.name == "dnsd.service").read_text()
    assert f"ExecStart={os.path.join(sbin, 'dnsd')} --config " in text


@needs_root
@pytest.mark.skipif(not shutil.which("systemd-sysusers"), reason="no systemd-sysusers")
def test_sysusers_and_tmpfiles_make_the_user_and_the_store_directory(dnsd_path, tmp_path):
    dist = pathlib.Path(dnsd_path).resolve().parents[1] / "dist"
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    r = run_to_exit(["systemd-sysusers", f"--root={root}", dist / "clearinghouse.sysusers"])
    assert r.returncode == 0, r.stderr
    def entries(name):
        lines = (root / "etc" / name).read_text().splitlines()
        return {ln.split(":")[0]: ln.split(":") for ln in lines}

    users, groups = entries("passwd"), entries("group")
    assert users["clearinghouse"][3] == groups["clearinghouse"][2]
    assert users["clearinghouse"][6] == "/usr/sbin/nologin"
    r = run_to_exit(["systemd-tmpfiles", f"--root={root}", "--create",
                     dist / "clearinghouse.tmpfiles"])
    assert r.returncode == 0, r.stderr
    store = root / users["clearinghouse"][5].lstrip("/")
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o2770
    assert os.stat(store).st_uid == 0


@needs_root
@pytest.mark.skipif(not shutil.which("unshare"), reason="no unshare")
def test_store_read_only_but_lock_file_as_the_units_mount_it(dnsd_path, policyctl_path, store,
                                                             zone, place):
    """The units' ReadOnlyPaths=STORE and ReadWritePaths=STORE/lock.mdb, made
    by hand in a mount namespace of the daemon's own: it still answers and
    sees commits made outside, and cannot write the store."""
    port = free_low_port()
    pidfile = place / "pid"
    script = (f"mount --bind {store} {store} && mount -o remount,ro,bind {store} && "
              f"mount --bind {store}/lock.mdb {store}/lock.mdb && "
              f"mount -o remount,rw,bind {store}/lock.mdb && "
              f"if touch {store}/data.mdb 2>/dev/null; then exit 9; fi && "
              f"echo $$ > {pidfile} && exec \"$@\"")
    cmd = ["unshare", "-m", "sh", "-c", script, "sh", *unprivileged("net_bind_service"),
           dnsd_path, "--db", store, "--zone", zone, "--listen", f"{HOST}:{port}"]
    d = Daemon(cmd, place / "dnsd.log", dns_port=port)
    try:
        assert int(pidfile.read_text()) == d.proc.pid
        before = ask(port, "fed.example").answer[0][0].serial
        subprocess.run([policyctl_path, "--db", store, "suspend", "beta.fed.example"],
                       check=True, capture_output=True)
        deadline = time.monotonic() + 5
        while ask(port, "fed.example").answer[0][0].serial == before:
            assert time.monotonic() < deadline, d.stderr()
            time.sleep(0.05)
    finally:
        assert d.stop() == 0, d.stderr()
