"""dnsd regressions, each named for the defect it pins down: zone paths that
are no regular file, truncation that dropped the answer for the additional
section, replies without the OPT the query had, IXFR and compression
pointers answered with the wrong RCODE."""
import os
import signal
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from test_dnsd import HOST, TIMEOUT, Dnsd, free_port


# ---- zone paths that are no regular file -------------------------------------------

def start_with_zone(dnsd_path, db, zone):
    """Run dnsd with one --zone; it must give up on its own, quickly."""
    port = free_port()
    return subprocess.run([dnsd_path, "--db", str(db), "--zone", str(zone),
                           "--listen", f"{HOST}:{port}", "--threads", "1"],
                          capture_output=True, text=True, timeout=10)


def test_zone_path_directory_refused_at_start(dnsd_path, loaded, tmp_path):
    start = time.monotonic()
    r = start_with_zone(dnsd_path, loaded.db, tmp_path)
    assert r.returncode != 0
    assert f"{tmp_path}: a directory, not a zone file" in r.stderr
    assert time.monotonic() - start < 8


def test_zone_path_fifo_refused_at_start(dnsd_path, loaded, tmp_path):
    fifo = tmp_path / "zone.fifo"
    os.mkfifo(fifo)
    r = start_with_zone(dnsd_path, loaded.db, fifo)
    assert r.returncode != 0
    assert f"{fifo}: a FIFO, not a zone file" in r.stderr


def test_zone_path_dev_zero_refused_at_start(dnsd_path, loaded):
    r = start_with_zone(dnsd_path, loaded.db, "/dev/zero")
    assert r.returncode != 0
    assert "/dev/zero: a character device, not a zone file" in r.stderr


def test_zone_file_over_64_mib_refused_at_start(dnsd_path, loaded, tmp_path):
    big = tmp_path / "big.zone"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)   # sparse: no disk is spent
    r = start_with_zone(dnsd_path, loaded.db, big)
    assert r.returncode != 0
    assert f"{big}: 67108865 bytes, larger than the 64 MiB" in r.stderr


def test_sighup_with_zone_replaced_by_directory_keeps_serving(dnsd_path, loaded, sample_zone,
                                                             tmp_path):
    zone = tmp_path / "fed.example.zone"
    zone.write_text(sample_zone.read_text())
    d = Dnsd(dnsd_path, str(loaded.db), [str(zone)], extra=["--threads", "2"])
    try:
        zone.unlink()
        zone.mkdir()
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload refused" not in d.stderr():
            assert time.monotonic() < deadline, d.stderr()
            time.sleep(0.05)
        assert f"{zone}: a directory, not a zone file" in d.stderr()
        # The zones in use stay, on every UDP thread (the kernel spreads
        # queries by source port) and on TCP, which the main loop serves.
        for _ in range(20):
            assert d.ask("ch.fed.example", "A").rcode() == dns.rcode.NOERROR
        assert d.ask("ch.fed.example", "A", tcp=True).rcode() == dns.rcode.NOERROR
    finally:
        try:
            code = d.stop()    # waits at most 10 s for SIGTERM to take
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait()
            raise
    assert code == 0
    assert "stopped" in d.stderr()
