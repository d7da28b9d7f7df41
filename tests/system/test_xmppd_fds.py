"""xmppd at its open-file limit: connections run into conn-max, lowered to
what the limit leaves, before they run into the kernel's limit, so that a
peer refused for want of a descriptor hears <resource-constraint/> (and the
log says so) instead of a connection closed without a word."""
import resource
import select
import socket
import subprocess
import time

from test_xmppd import HDR, HOST, Member, free_port, read_to_eof, relay_policy, wait_for
from xmpp import connect

LIMIT = 48


def start(xmppd_path, ctl, tmp_path, *extra):
    (tmp_path / "x.yaml").write_text("first-byte-ms: 600000\nsetup-ms: 600000\n")
    port = free_port()
    logpath = tmp_path / "xmppd.log"
    log = open(logpath, "w+")
    proc = subprocess.Popen(
        [xmppd_path, "--config", str(tmp_path / "x.yaml"), "--db", str(ctl.db),
         "--listen", f"{HOST}:{port}", *extra], stderr=log,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT)))
    assert wait_for(lambda: b"listening" in logpath.read_bytes(), 10), logpath.read_text()
    return proc, log, logpath, port


def stop(proc, log):
    proc.send_signal(15)
    assert proc.wait(timeout=10) == 0
    log.close()


def closed_ones(socks, wait=1.0):
    """The sockets the server has closed, each with what it said last."""
    time.sleep(wait)
    readable, _, _ = select.select(socks, [], [], 0)
    return [(s, read_to_eof(s)) for s in readable]


def test_idle_flood_past_the_open_file_limit_hears_resource_constraint(
        xmppd_path, loaded, tmp_path):
    proc, log, logpath, port = start(xmppd_path, loaded, tmp_path)
    socks = []
    try:
        assert "more than the open-file limit leaves" in logpath.read_text()
        for _ in range(2 * LIMIT):
            socks.append(connect(port))
            time.sleep(0.01)
        closed = closed_ones(socks)
        # the oldest gave way to newcomers, each with a word, none silently
        assert len(closed) >= LIMIT // 2, len(closed)
        silent = [data for s, data in closed if b"<resource-constraint" not in data]
        assert silent == [], f"{len(silent)} of {len(closed)} closed without resource-constraint"
        # and the newest are being served: one speaks and is answered
        s = socks[-1]
        s.sendall(HDR)
        data = read_to_eof(s)
        assert b"<see-other-host" in data and data.endswith(b"</stream:stream>"), data
    finally:
        for s in socks:
            s.close()
        stop(proc, log)


def test_relays_holding_every_descriptor_refuse_newcomers_with_resource_constraint(
        xmppd_path, ctl, tmp_path):
    member = Member()
    relay_policy(ctl, tmp_path, ("127.0.0.0x1", member.port))
    proc, log, logpath, port = start(xmppd_path, ctl, tmp_path, "--mode", "relay")
    held, answer = [], b""
    try:
        for _ in range(LIMIT):
            s = connect(port)
            s.sendall(HDR)
            if select.select([s, member.sock], [], [], 5)[0] == [member.sock]:
                held += [s, member.accept()]
                continue
            answer = read_to_eof(s)
            s.close()
            break
        assert held, "no relay was made"
        assert b"<resource-constraint" in answer, answer
        text = logpath.read_text()
        assert ("relay refused: no descriptor left" in text or
                "refused: out of descriptors (the open-file limit)" in text), text
        assert "no target reachable" not in text
    finally:
        for x in held:
            x.close()
        member.close()
        stop(proc, log)
