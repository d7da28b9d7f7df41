"""The audit log against someone who can write the store's file but does not
hold the audit key: entries rewritten, dropped, reordered and a tail cut, all
with LMDB's own mdb_dump and mdb_load, each caught by 'history --verify'."""
import os
import re
import shutil
import struct
import subprocess

import pytest

from conftest import Ctl


def fnv1a32(b):
    h = 2166136261
    for x in b:
        h = ((h ^ x) * 16777619) & 0xFFFFFFFF
    return h


def dump(store):
    """Every database of the store: [(header lines, {key: value})].  In
    hex: LMDB 0.9.24's printable form does not escape a backslash."""
    text = subprocess.run(["mdb_dump", "-a", str(store)], capture_output=True,
                          text=True, check=True).stdout
    dbs, lines = [], text.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith("VERSION="):
        head = []
        while lines[i] != "HEADER=END":
            head.append(lines[i])
            i += 1
        i += 1
        data = {}
        while lines[i] != "DATA=END":
            data[bytes.fromhex(lines[i])] = bytes.fromhex(lines[i + 1])
            i += 2
        i += 1
        dbs.append((head, data))
    return dbs


def load(store, dbs, tmp_path):
    """Write the databases back as a new data.mdb in place of the store's,
    as a forger with mdb_load would."""
    text = ""
    for head, data in dbs:
        text += "\n".join(head) + "\nHEADER=END\n"
        for k, v in data.items():
            text += f" {k.hex()}\n {v.hex()}\n"
        text += "DATA=END\n"
    (tmp_path / "forged.dump").write_text(text)
    fresh = tmp_path / "forged"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    subprocess.run(["mdb_load", "-f", str(tmp_path / "forged.dump"), str(fresh)], check=True)
    shutil.copyfile(fresh / "data.mdb", store / "data.mdb")
    if (store / "lock.mdb").exists():
        os.unlink(store / "lock.mdb")


def audit_of(dbs):
    return next(data for head, data in dbs if "database=audit" in head)


def meta_of(dbs):
    return next(data for head, data in dbs if "database=meta" in head)


def serial(k):
    return struct.unpack(">Q", k)[0]


def refit(v):
    """The record's own check (FNV-1a, unkeyed) made to fit again."""
    return v[:-4] + struct.pack(">I", fnv1a32(v[:-7]))


@pytest.fixture
def edited(loaded):
    loaded.ok("suspend", "delta.fed.example")
    loaded.ok("resume", "delta.fed.example")
    loaded.ok("set", "gamma.example", "level", "2")
    return loaded


def verify(ctl):
    return ctl("history", "--verify")


def test_intact_log_verifies(edited):
    r = verify(edited)
    assert r.returncode == 0, r.stderr
    assert "audit log intact: 5 entries" in r.stdout
    assert "every MAC and the head checked" in r.stdout
    # and a dump and load that changes nothing changes no verdict
    dbs = dump(edited.db)
    load(edited.db, dbs, edited.db.parent)
    assert verify(edited).returncode == 0


def test_history_shows_the_real_uid_beside_a_claimed_sudo_user(loaded):
    env = dict(os.environ, SUDO_USER="mallory")
    r = loaded("suspend", "delta.fed.example", env=env)
    assert r.returncode == 0, r.stderr
    last = loaded.ok("history", "-n", "1").splitlines()[0]
    assert f"(uid {os.getuid()}" in last and "SUDO_USER mallory)" in last
    assert not re.search(r"\bmallory \(via sudo", last)


def test_forged_entry_is_named(edited, tmp_path):
    dbs = dump(edited.db)
    audit = audit_of(dbs)
    k = sorted(audit)[2]          # the suspend
    v = audit[k]
    assert b"status active -> suspended" in v
    # the forger rewrites what happened, and even makes the record's own
    # check fit again
    audit[k] = refit(v.replace(b"active -> suspended", b"active -> active!!!"))
    load(edited.db, dbs, tmp_path)
    assert "active -> active!!!" in edited.ok("history")   # history shows it ...
    r = verify(edited)                                     # ... verify does not accept it
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"entry {serial(k)} fails its MAC" in r.stderr
    assert "NOT intact" in r.stderr


def test_dropped_entry_is_named(edited, tmp_path):
    dbs = dump(edited.db)
    audit = audit_of(dbs)
    keys = sorted(audit)
    del audit[keys[2]]
    load(edited.db, dbs, tmp_path)
    r = verify(edited)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"entry {serial(keys[3])} follows entry {serial(keys[1])}: the entries between "
            "them are missing") in r.stderr


def test_reordered_entries_are_named(edited, tmp_path):
    dbs = dump(edited.db)
    audit = audit_of(dbs)
    keys = sorted(audit)
    audit[keys[2]], audit[keys[3]] = audit[keys[3]], audit[keys[2]]
    load(edited.db, dbs, tmp_path)
    r = verify(edited)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"entry {serial(keys[2])} fails its MAC" in r.stderr
    assert f"entry {serial(keys[3])} fails its MAC" in r.stderr


def test_cut_tail_is_named(edited, tmp_path):
    dbs = dump(edited.db)
    audit, meta = audit_of(dbs), meta_of(dbs)
    keys = sorted(audit)
    del audit[keys[-1]]
    meta[b"serial"] = keys[-2]     # and the serial put back to match
    load(edited.db, dbs, tmp_path)
    r = verify(edited)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"the log ends at entry {serial(keys[-2])}, but its head names entry "
            f"{serial(keys[-1])}") in r.stderr


def test_keyed_log_needs_its_key_to_write_and_to_verify(edited, tmp_path):
    key = edited.db.parent / "store.audit-key"
    assert key.stat().st_mode & 0o777 == 0o640
    moved = tmp_path / "elsewhere.key"
    key.rename(moved)
    r = edited("suspend", "delta.fed.example")
    assert r.returncode == 3 and "the audit log is keyed" in r.stderr
    r = verify(edited)
    assert r.returncode == 3 and "only the links were checked" in r.stderr
    r = edited("--audit-key", moved, "history", "--verify")
    assert r.returncode == 0, r.stderr
    r = Ctl(edited.path, edited.db)("history", "--verify",
                                    env=dict(os.environ, CLEARINGHOUSE_AUDIT_KEY=str(moved)))
    assert r.returncode == 0, r.stderr
    # another key is told apart from tampering
    other = tmp_path / "other.key"
    other.write_text("ab" * 32 + "\n")
    other.chmod(0o600)
    r = Ctl(edited.path, edited.db)("history", "--verify",
                                    env=dict(os.environ, CLEARINGHOUSE_AUDIT_KEY=str(other)))
    assert r.returncode == 3 and "is not the key this log was keyed with" in r.stderr


def test_old_store_keyed_later(policyctl_path, tmp_path):
    # A store made without a key (as before the key existed), then keyed.
    store = tmp_path / "old"
    env = dict(os.environ, CLEARINGHOUSE_AUDIT_KEY=str(tmp_path / "k"))
    ctl = Ctl(policyctl_path, store)
    assert ctl("init", env=env).returncode == 0
    os.unlink(tmp_path / "k")
    dbs = dump(store)
    del meta_of(dbs)[b"audit-head"]
    audit = audit_of(dbs)
    (k, v), = audit.items()
    # the entry as an older version wrote it: no link, no uid, no MAC
    fields, i = bytearray(v[:2]), 2
    while i < len(v) - 7:
        tag, n = v[i], struct.unpack(">H", v[i + 1:i + 3])[0]
        if tag < 64:
            fields += v[i:i + 3 + n]
        i += 3 + n
    fields += b"\xff\x00\x04" + struct.pack(">I", fnv1a32(bytes(fields)))
    audit[k] = bytes(fields)
    load(store, dbs, tmp_path)
    r = ctl("history", "--verify", env=env)
    assert r.returncode == 0, r.stderr
    assert "every entry is from before the chain" in r.stdout
    r = ctl("audit-key", env=env)
    assert r.returncode == 0, r.stderr
    r = ctl("history", "--verify", env=env)
    assert r.returncode == 0, r.stderr
    assert f"the chain starts at entry {serial(k) + 1}" in r.stdout
    assert f"keyed from entry {serial(k) + 1} on" in r.stdout
