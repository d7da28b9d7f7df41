"""policyctl against the real store: the sample community, every kind of bad
input, and stores that are missing, unreadable or not stores at all."""
import json
import os
import pathlib
import pty
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

from conftest import Ctl

HEAD = """community:
  zone: fed.example
  clearinghouse:
    - {host: ch.fed.example, port: 5269}
members:
  a.fed.example:
    level: 1
"""


def can_mount():
    return os.geteuid() == 0 and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


def state(ctl):
    """Everything a load could change: the policy and the serial."""
    hist = ctl.ok("history", "-n", "1")
    return ctl.ok("export"), ctl.ok("export", "--json"), hist.split()[0]


# ---- the sample community ---------------------------------------------------

def test_sample_loads_and_lists(loaded):
    out = loaded.ok("list")
    names = [line.split()[0] for line in out.splitlines() if not line.startswith("#")]
    assert names == sorted(names)
    assert len(names) >= 5
    statuses = {line.split()[2] for line in out.splitlines()[1:]}
    assert {"active", "suspended", "revoked"} <= statuses


@pytest.mark.parametrize("a,b,word,rule,code", [
    ("alpha.fed.example", "delta.fed.example", "allow", "policy-ok", 0),
    ("alpha.fed.example", "beta.fed.example", "deny", "override-deny", 1),
    ("alpha.fed.example", "gamma.example", "allow", "override-allow", 0),
    ("delta.fed.example", "gamma.example", "deny", "level", 1),
    ("beta.fed.example", "delta.fed.example", "deny", "forbidden-tag", 1),
    ("alpha.fed.example", "epsilon.fed.example", "deny", "not-active", 1),
    ("alpha.fed.example", "omega.fed.example", "deny", "not-active", 1),
    ("zeta.fed.example", "beta.fed.example", "deny", "expired", 1),
    ("alpha.fed.example", "nobody.example", "unknown", "unknown-member", 1),
])
def test_check(loaded, a, b, word, rule, code):
    for x, y in ((a, b), (b, a)):
        r = loaded("check", x, y)
        assert r.returncode == code, r.stderr
        first, second = r.stdout.splitlines()[:2]
        assert first.split()[0] == word
        assert first.split()[1] == rule + ":"
        assert second.startswith("targets: ")


def test_check_gives_the_targets(loaded):
    out = loaded.ok("check", "alpha.fed.example", "delta.fed.example")
    assert out.splitlines()[1] == "targets: xmpp1.delta.fed.example:5269 xmpp2.delta.fed.example:5269"
    out = loaded.ok("check", "ALPHA.fed.example.", "gamma.example")
    assert out.splitlines()[1] == "targets: xmpp.gamma.example:5269"


def test_check_at_a_time(loaded):
    assert loaded("check", "--at", "2025-06-30", "zeta.fed.example", "beta.fed.example").returncode == 0
    assert loaded("check", "--at", "2025-07-01", "zeta.fed.example", "beta.fed.example").returncode == 1
    r = loaded("check", "--at", "someday", "zeta.fed.example", "beta.fed.example")
    assert r.returncode == 2 and "--at" in r.stderr


def test_export_round_trip(loaded, tmp_path):
    exported = loaded.ok("export")
    (tmp_path / "again.yaml").write_text(exported)
    dry = loaded.ok("load", "--dry-run", tmp_path / "again.yaml")
    assert dry.strip().startswith("members: 0 added, 0 removed, 0 changed")
    assert "community unchanged" in dry
    before = state(loaded)
    loaded.ok("load", tmp_path / "again.yaml")
    assert loaded.ok("export") == exported
    assert state(loaded)[2] != before[2]  # a load is a commit, even an idle one


def test_export_json_matches_yaml(loaded):
    j = json.loads(loaded.ok("export", "--json"))
    y = yaml.safe_load(loaded.ok("export"))
    assert set(j["members"]) == set(y["members"])
    assert j["members"]["alpha.fed.example"]["level"] == 3
    assert j["community"]["zone"] == "fed.example"
    assert {"allow": ["alpha.fed.example", "gamma.example"]} in j["overrides"]


def test_xmppd_settings_round_trip(loaded, sample_policy, tmp_path):
    y = yaml.safe_load(loaded.ok("export"))
    assert (y["community"]["identity"], y["community"]["deny-text"]) == ("claim", "generic")
    text = sample_policy.read_text().replace(
        "  ttl: 60\n", "  ttl: 60\n  identity: certificate\n  deny-text: rule\n")
    (tmp_path / "p.yaml").write_text(text)
    loaded.ok("load", tmp_path / "p.yaml")
    y = yaml.safe_load(loaded.ok("export"))
    assert (y["community"]["identity"], y["community"]["deny-text"]) == ("certificate", "rule")


def test_show(loaded):
    y = yaml.safe_load(loaded.ok("show", "alpha.fed.example"))
    m = y["alpha.fed.example"]
    assert m["level"] == 3
    assert m["queriers"] == ["192.0.2.0/24"]
    assert m["policy"]["require-tags"] == ["auth:pki"]
    r = loaded("show", "nobody.example")
    assert r.returncode == 1 and "not a member" in r.stderr


def test_dry_run_lists_changes_and_writes_nothing(loaded, sample_policy, tmp_path):
    text = sample_policy.read_text()
    text = text.replace("  beta.fed.example:\n    level: 2", "  beta.fed.example:\n    level: 1")
    text = text.replace("  zeta.fed.example:", "  eta.fed.example: {level: 1}\n  zeta.fed.example:")
    text = re.sub(r"  omega\.fed\.example:\n(    .*\n)+", "", text)
    (tmp_path / "p.yaml").write_text(text)
    before = state(loaded)
    out = loaded.ok("load", "--dry-run", tmp_path / "p.yaml")
    assert "~ beta.fed.example" in out.splitlines()
    assert "+ eta.fed.example" in out.splitlines()
    assert "- omega.fed.example" in out.splitlines()
    assert "members: 1 added, 1 removed, 1 changed" in out
    assert state(loaded) == before
    loaded.ok("load", tmp_path / "p.yaml")
    hist = loaded.ok("history", "-n", "1")
    assert "1 added, 1 removed, 1 changed" in hist
    assert "-omega.fed.example" in hist


# ---- one-off edits ------------------------------------------------------------

def test_suspend_resume(loaded):
    assert loaded("check", "alpha.fed.example", "delta.fed.example").returncode == 0
    loaded.ok("suspend", "delta.fed.example")
    r = loaded("check", "alpha.fed.example", "delta.fed.example")
    assert r.returncode == 1 and r.stdout.startswith("deny not-active:")
    assert "already suspended" in loaded.ok("suspend", "delta.fed.example")
    loaded.ok("resume", "delta.fed.example")
    assert loaded("check", "alpha.fed.example", "delta.fed.example").returncode == 0
    # A revoked member comes back only on purpose.
    r = loaded("resume", "omega.fed.example")
    assert r.returncode == 2 and "revoked" in r.stderr
    loaded.ok("set", "omega.fed.example", "status", "active")
    hist = loaded.ok("history", "-n", "3")
    assert "delta.fed.example: status active -> suspended" in hist
    assert "delta.fed.example: status suspended -> active" in hist
    assert "omega.fed.example: status = active" in hist


def test_set(loaded):
    r = loaded("check", "delta.fed.example", "gamma.example")
    assert r.stdout.startswith("deny level:")
    loaded.ok("set", "gamma.example", "level", "2")
    assert loaded("check", "delta.fed.example", "gamma.example").returncode == 0
    loaded.ok("set", "gamma.example", "tags", "[auth:password]")
    r = loaded("check", "delta.fed.example", "gamma.example")
    assert r.stdout.startswith("deny forbidden-tag:")
    loaded.ok("set", "delta.fed.example", "forbid-tags", "[]")
    assert loaded("check", "delta.fed.example", "gamma.example").returncode == 0
    loaded.ok("set", "gamma.example", "targets", "[a.gamma.example:5269, b.gamma.example:5270]")
    out = loaded.ok("check", "delta.fed.example", "gamma.example")
    assert out.splitlines()[1] == "targets: a.gamma.example:5269 b.gamma.example:5270"
    loaded.ok("set", "gamma.example", "note", "moved: see ticket #12")
    assert yaml.safe_load(loaded.ok("show", "gamma.example"))["gamma.example"]["note"] == \
        "moved: see ticket #12"


@pytest.mark.parametrize("args,msg", [
    (["set", "gamma.example", "colour", "blue"], "unknown key 'colour'"),
    (["set", "gamma.example", "level", "256"], "0 to 255"),
    (["set", "gamma.example", "targets", "[xmpp.gamma.example]"], "needs a port"),
    (["set", "gamma.example", "addresses", "[192.0.2.300]"], "192.0.2.300"),
    (["set", "nobody.example", "level", "1"], "not a member"),
    (["set", "bad_name.example", "level", "1"], "bad_name.example"),
    (["suspend", "nobody.example"], "not a member"),
    (["check", "a..example", "gamma.example"], "a..example"),
    (["set", "gamma.example", "level"], "missing arguments"),
    (["frobnicate"], "no command"),
])
def test_edit_refused_changes_nothing(loaded, args, msg):
    before = state(loaded)
    r = loaded(*args)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr
    assert state(loaded) == before


# ---- bad policy files ----------------------------------------------------------

BAD = [
    # name, text after HEAD, line, column, words in the message
    ("syntax", "    tags: [a, b\n", 9, 1, "syntax error"),
    ("unknown-key", "    colour: blue\n", 8, 5, "unknown key 'colour'"),
    ("bad-name", "  bad_name.example: {level: 1}\n", 8, 3, "bad_name.example"),
    ("numeric-name", "  192.0.2.1: {level: 1}\n", 8, 3, "192.0.2.1"),
    ("long-label", "  %s.example: {level: 1}\n" % ("a" * 64), 8, 3, "63"),
    ("bad-address", "    addresses: [192.0.2.300]\n", 8, 17, "192.0.2.300"),
    ("bad-prefix", "    queriers: [192.0.2.1/24]\n", 8, 16, "192.0.2.1/24"),
    ("level-range", "  b.fed.example: {level: 256}\n", 8, 26, "0 to 255"),
    ("level-negative", "  b.fed.example: {level: -1}\n", 8, 26, "0 to 255"),
    ("target-no-port", "    targets: [xmpp.a.fed.example]\n", 8, 15, "needs a port"),
    ("target-bad-port", "    targets: [xmpp.a.fed.example:70000]\n", 8, 15, "70000"),
    ("override-non-member", "overrides:\n  - allow: [a.fed.example, b.fed.example]\n", 9, 5,
     "b.fed.example"),
    ("override-self", "overrides:\n  - deny: [a.fed.example, a.fed.example]\n", 9, 5, "itself"),
    ("duplicate-member", "  A.fed.example.: {level: 2}\n", 8, 3, "twice"),
    ("bad-date", "    not-after: 2027-02-30\n", 8, 16, "2027-02-30"),
    ("bad-status", "    status: asleep\n", 8, 13, "asleep"),
    ("bad-tag", "    tags: [has space]\n", 8, 12, "has space"),
    ("alias", "    tags: &t [a]\n  b.fed.example: {level: 1, tags: *t}\n", 9, 35, "alias"),
    ("not-a-mapping", "    policy: [min-peer-level]\n", 8, 13, "mapping"),
    # past YAML's 1024-character key limit the name used to read as "members
    # must be a mapping"; below it, the name was echoed whole
    ("member-name-too-long-yaml-key", "  %s.example: {level: 1}\n" % ("x" * 2000), 8, 3,
     "at most 253 octets"),
    ("member-name-too-long", "  %s.example: {level: 1}\n" % ("x" * 300), 8, 3,
     "308 octets is too long"),
    # accepted, but never matched: dnsd sees an IPv4 querier as IPv4
    ("querier-v4-mapped-prefix", "    queriers: ['::ffff:192.0.2.0/120']\n", 8, 16,
     "write 192.0.2.0/24"),
    ("querier-v4-mapped-address", "    queriers: ['::FFFF:192.0.2.1']\n", 8, 16,
     "write 192.0.2.1/32"),
]


@pytest.mark.parametrize("name,text,line,col,words", BAD, ids=[b[0] for b in BAD])
def test_bad_file_refused(loaded, tmp_path, name, text, line, col, words):
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD + text)
    before = state(loaded)
    for args in (["load", "--dry-run", path], ["load", path]):
        r = loaded(*args)
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.startswith(f"{path}:{line}:{col}: "), r.stderr
        assert words in r.stderr, r.stderr
        assert r.stdout == ""
    assert state(loaded) == before


@pytest.mark.parametrize("text,words", [
    ("", "empty"),
    ("community: {zone: fed.example}\nmembers: {}\n", "clearinghouse"),
    ("members: {}\n", "community"),
    ("- a\n- b\n", "mapping"),
    ("community: {zone: fed.example, clearinghouse: [{host: ch.fed.example, port: 5269}]}\n"
     "members: {}\n---\nmembers: {}\n", "one YAML document"),
])
def test_bad_file_whole(loaded, tmp_path, text, words):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    before = state(loaded)
    r = loaded("load", path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{path}:"), r.stderr
    assert words in r.stderr, r.stderr
    assert state(loaded) == before


@pytest.mark.parametrize("first", [True, False], ids=["first-member", "later-member"])
def test_member_name_of_100mb_says_too_long(loaded, tmp_path, first):
    path = tmp_path / "huge.yaml"
    head = HEAD.replace("  a.fed.example:\n    level: 1\n", "") if first else HEAD
    with open(path, "w") as f:
        f.write(head + "  ")
        f.write("x" * (100 << 20))
        f.write(".example: {level: 1}\n")
    r = loaded("load", "--dry-run", path)
    assert r.returncode == 2
    line = head.count("\n") + 1
    assert r.stderr.startswith(f"{path}:{line}:3: "), r.stderr[:300]
    assert "too long" in r.stderr and "253 octets" in r.stderr and len(r.stderr) < 400


def test_querier_v4_mapped_elsewhere_accepted(loaded, tmp_path):
    """Only the IPv4-mapped range is refused: plain IPv6 and ::/0 still load."""
    path = tmp_path / "v6.yaml"
    path.write_text(HEAD + "    queriers: ['2001:db8::/32', '::/0', '::/95']\n")
    loaded.ok("load", path)


def test_missing_file(loaded, tmp_path):
    r = loaded("load", tmp_path / "nope.yaml")
    assert r.returncode == 2 and "No such file" in r.stderr


# ---- bad stores ------------------------------------------------------------------

def test_missing_store(policyctl_path, tmp_path):
    from conftest import Ctl
    r = Ctl(policyctl_path, tmp_path / "nowhere")("list")
    assert r.returncode == 3
    assert "no policy store" in r.stderr and "nowhere" in r.stderr


def test_not_a_store(policyctl_path, tmp_path):
    from conftest import Ctl
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data.mdb").write_bytes(b"this is not an LMDB file" * 100)
    r = Ctl(policyctl_path, tmp_path / "d")("list")
    assert r.returncode == 3 and "not a policy store" in r.stderr
    (tmp_path / "f").write_text("a file")
    r = Ctl(policyctl_path, tmp_path / "f")("list")
    assert r.returncode == 3 and "Not a directory" in r.stderr
    (tmp_path / "e").mkdir()
    r = Ctl(policyctl_path, tmp_path / "e")("list")
    assert r.returncode == 3 and "not a policy store" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run policyctl as another user")
def test_unreadable_store(loaded, tmp_path):
    os.chmod(tmp_path, 0o755)
    os.chmod(loaded.db, 0o700)
    r = loaded("list", user=65534)  # nobody / nogroup
    assert r.returncode == 3, r.stderr
    assert "Permission denied" in r.stderr


@pytest.mark.skipif(not can_mount(), reason="needs root and mount namespaces")
def test_read_only_mount_refused_not_lockless(loaded):
    """On a read-only file system LMDB quietly read without its lock file,
    so a writer could reuse pages under a reader: the opener must refuse."""
    script = ('mount --bind -o ro "$1" "$1" && "$2" --db "$1" list; echo "list=$?"; '
              '"$2" --db "$1" check alpha.fed.example delta.fed.example; echo "check=$?"')
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        str(loaded.db), loaded.path], capture_output=True, text=True, timeout=60)
    assert "list=3" in r.stdout and "check=3" in r.stdout, r.stdout + r.stderr
    assert "lock.mdb is not writable" in r.stderr, r.stderr
    assert "make only data.mdb read-only" in r.stderr
    # the way the message and README give: only the data file read-only
    script = 'mount --bind -o ro "$1/data.mdb" "$1/data.mdb" && "$2" --db "$1" list'
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        str(loaded.db), loaded.path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "alpha.fed.example" in r.stdout, r.stderr
    loaded.ok("list")   # the mounts were the namespace's only


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run policyctl as another user")
def test_read_only_lock_file_refused(policyctl_path, sample_policy):
    # pytest's own directory is private to root: this store must be
    # reachable by another user
    top = pathlib.Path(tempfile.mkdtemp(prefix="pdb-lock-"))
    try:
        os.chmod(top, 0o755)
        ctl = Ctl(policyctl_path, top / "store")
        ctl.ok("init")
        ctl.ok("load", sample_policy)
        os.chmod(ctl.db, 0o755)
        os.chmod(ctl.db / "data.mdb", 0o644)
        os.chmod(ctl.db / "lock.mdb", 0o444)
        r = ctl("list", user=65534)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "lock.mdb is not writable" in r.stderr, r.stderr
        os.chmod(ctl.db / "lock.mdb", 0o666)   # a writable lock file is all it takes
        r = ctl("list", user=65534)
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(top)


def test_store_from_environment(policyctl_path, loaded):
    env = dict(os.environ, CLEARINGHOUSE_DB=str(loaded.db))
    r = subprocess.run([policyctl_path, "check", "alpha.fed.example", "delta.fed.example"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("allow")
    env.pop("CLEARINGHOUSE_DB")
    r = subprocess.run([policyctl_path, "list"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "CLEARINGHOUSE_DB" in r.stderr


def test_init_twice(ctl):
    r = ctl("init")
    assert r.returncode == 3 and "already initialised" in r.stderr


@pytest.mark.skipif(not can_mount(), reason="needs root and mount namespaces")
def test_load_on_full_disk_says_no_space(policyctl_path, tmp_path):
    """LMDB calls the short write of a full device an I/O error."""
    many_members(tmp_path / "many.yaml", 20000)
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = ('mount -t tmpfs -o size=1m tmpfs "$1" && "$2" --db "$1/s" init >/dev/null && '
              '{ "$2" --db "$1/s" load "$3"; echo "load=$?"; "$2" --db "$1/s" list >/dev/null; '
              'echo "list=$?"; }')
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        str(mnt), policyctl_path, str(tmp_path / "many.yaml")],
                       capture_output=True, text=True, timeout=300)
    assert "load=3" in r.stdout, r.stdout + r.stderr
    assert "no space left on the store's device" in r.stderr, r.stderr
    assert "Input/output error" not in r.stderr
    assert "list=0" in r.stdout, r.stdout + r.stderr   # the store is still whole


# A process that takes LMDB reader slots of a store, as many as it can up to
# N, prints how many, and waits to be killed.  ctypes on the system liblmdb:
# no daemon offers a way to hold hundreds of snapshots on request.
READER_HOLDER = r"""
import ctypes, sys, time
lib = ctypes.CDLL("liblmdb.so.0")
env = ctypes.c_void_p()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
lib.mdb_env_set_maxreaders(env, 1022)
lib.mdb_env_set_maxdbs(env, 8)
MDB_NOTLS, MDB_RDONLY = 0x200000, 0x20000
rc = lib.mdb_env_open(env, sys.argv[1].encode(), MDB_NOTLS | MDB_RDONLY, 0o640)
held = 0
while rc == 0 and held < int(sys.argv[2]):
    txn = ctypes.c_void_p()
    if lib.mdb_txn_begin(env, None, MDB_RDONLY, ctypes.byref(txn)) != 0:
        break
    held += 1
print(held, flush=True)
time.sleep(600)
"""


def hold_readers(db, n):
    p = subprocess.Popen(["python3", "-c", READER_HOLDER, str(db), str(n)],
                         stdout=subprocess.PIPE, text=True)
    held = int(p.stdout.readline())
    return p, held


def test_reader_slots_of_killed_processes_do_not_lock_out(loaded, dnsd_path, sample_zone):
    """Readers SIGKILLed while another process keeps the store open left
    their slots taken: policyctl could not write, dnsd not start."""
    from test_dnsd import Dnsd
    keeper, held = hold_readers(loaded.db, 1)   # a daemon still running
    try:
        assert held == 1
        total = 0
        for _ in range(70):
            p, held = hold_readers(loaded.db, 16)   # a dnsd of 8 threads
            p.kill()
            p.wait()
            total += held
        assert total + 1 == 1022   # then every slot was taken
        loaded.ok("suspend", "alpha.fed.example")
        loaded.ok("list")
        d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)], ["--threads", "8"])
        try:
            assert d.ask("fed.example", "SOA").answer
        finally:
            d.proc.kill()
            d.proc.wait()
    finally:
        keeper.kill()
        keeper.wait()


def test_reader_slots_all_live_say_why(loaded):
    keeper, held = hold_readers(loaded.db, 1022)
    try:
        assert held == 1022
        r = loaded("list")
        assert r.returncode == 3
        assert "too many readers: stale slots of killed processes, or maxreaders too small" \
            in r.stderr, r.stderr
    finally:
        keeper.kill()
        keeper.wait()


# ---- verify, backup, restore -------------------------------------------------------

def restore(backup, store):
    """The README's restore, with every user of the store stopped."""
    store.mkdir(exist_ok=True)
    shutil.copyfile(backup, store / "data.mdb")
    (store / "lock.mdb").unlink(missing_ok=True)


def flips(data):
    """Deterministic damage near alpha.fed.example's record: its kind byte,
    its key's length, its page's flags, and the page's first node offset."""
    key = b"alpha.fed.example"
    at = data.index(key + b"M")
    page = at - at % 4096
    return {"record-kind": at + len(key), "key-length": at - 1,
            "page-flags": page + 10, "node-offset": page + 16}


def test_backup_verify_restore(loaded, tmp_path):
    before = loaded.ok("export")
    out = loaded.ok("verify")
    assert "store sound" in out
    backup = tmp_path / "policy.backup"
    loaded.ok("backup", backup)
    assert backup.stat().st_mode & 0o777 == 0o600
    r = loaded("backup", backup)   # never replaced
    assert r.returncode == 2 and "already exists" in r.stderr
    # the store is damaged where its readers will find it ...
    data = bytearray((loaded.db / "data.mdb").read_bytes())
    for k in range(len(data)):
        if data.startswith(b"alpha.fed.example" + b"M", k):
            data[k + len("alpha.fed.example")] ^= 0xFF
    (loaded.db / "data.mdb").write_bytes(data)
    r = loaded("verify")
    assert r.returncode == 3 and "store damaged" in r.stderr, r.stdout + r.stderr
    # ... and restored from the backup
    restore(backup, loaded.db)
    assert "store sound" in loaded.ok("verify")
    assert loaded.ok("export") == before
    loaded.ok("suspend", "alpha.fed.example")   # and writable


@pytest.mark.parametrize("where", ["record-kind", "key-length", "page-flags", "node-offset"])
def test_verify_flipped_byte_reports_never_crashes(loaded, tmp_path, where):
    """One flipped byte made export and list fault inside LMDB."""
    backup = tmp_path / "compact.mdb"
    loaded.ok("backup", backup)   # compacted: no free page to flip harmlessly
    data = bytearray(backup.read_bytes())
    data[flips(data)[where]] ^= 0xFF
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "data.mdb").write_bytes(data)
    r = Ctl(loaded.path, damaged)("verify")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "store damaged" in r.stderr
    assert "store sound" not in r.stdout


def test_verify_and_backup_beside_a_writer(loaded, tmp_path):
    """One snapshot per walk: commits meanwhile are no damage."""
    writer = subprocess.Popen(["sh", "-c", 'for i in $(seq 40); do "$1" --db "$2" suspend '
                               'alpha.fed.example && "$1" --db "$2" resume alpha.fed.example '
                               '|| exit 1; done', "sh", loaded.path, str(loaded.db)],
                              stdout=subprocess.DEVNULL)
    try:
        for i in range(10):
            assert "store sound" in loaded.ok("verify")
            loaded.ok("backup", tmp_path / f"b{i}")
    finally:
        assert writer.wait(timeout=300) == 0
    for i in range(10):
        d = tmp_path / f"r{i}"
        restore(tmp_path / f"b{i}", d)
        assert "store sound" in Ctl(loaded.path, d).ok("verify")


@pytest.mark.skipif(not can_mount(), reason="needs root and mount namespaces")
def test_backup_on_full_disk_leaves_nothing(loaded, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = ('mount -t tmpfs -o size=8k tmpfs "$1" && "$2" --db "$3" backup "$1/b"; '
              'echo "backup=$?"; ls -A "$1"')
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        str(mnt), loaded.path, str(loaded.db)],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines() == ["backup=3"], r.stdout + r.stderr   # no file, no temporary
    assert "No space left on device" in r.stderr


def test_backup_of_missing_store(policyctl_path, tmp_path):
    r = Ctl(policyctl_path, tmp_path / "none")("backup", tmp_path / "b")
    assert r.returncode == 3
    assert not (tmp_path / "b").exists()


# ---- help and the progress bar ------------------------------------------------------

COMMANDS = ["init", "load", "export", "show", "list", "history", "check", "suspend",
            "resume", "set", "verify", "backup"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(policyctl_path, command):
    for args in ([command, "--help"], ["help", command]):
        r = subprocess.run([policyctl_path, *args], capture_output=True, text=True)
        assert r.returncode == 0
        assert r.stdout.startswith(f"usage: policyctl [--db DIR] {command}")
    r = subprocess.run([policyctl_path, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and f"  {command}" in r.stdout


def many_members(path, n):
    with open(path, "w") as f:
        f.write(HEAD)
        for i in range(n):
            f.write(f"  m{i:06d}.fed.example: {{level: {i % 4}, targets: [x.m{i:06d}.fed.example:5269]}}\n")


def test_progress_only_on_a_terminal(ctl, tmp_path):
    many_members(tmp_path / "many.yaml", 20000)
    r = ctl("load", tmp_path / "many.yaml")
    assert r.returncode == 0 and r.stderr == ""
    # stderr on a terminal: the bar is drawn, and it reaches 100%.
    master, slave = pty.openpty()
    p = subprocess.Popen([ctl.path, "--db", str(ctl.db), "load", tmp_path / "many.yaml"],
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert p.wait(timeout=300) == 0
    os.close(master)
    assert b"[####" in seen and b"100.0%" in seen
