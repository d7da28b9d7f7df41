"""The policy push model: policyctl keygen, export-table, verify-table and
render-table, with tables made by policyctl and tables made by hand (and
signed with the openssl command) to be refused."""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

import yaml


def sign(key, path):
    """Sign a file as export-table does, with the openssl command."""
    text = subprocess.run(["openssl", "pkey", "-in", key, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    if text.startswith("ED25519"):
        args = ["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", path,
                "-out", f"{path}.sig"]
    else:
        args = ["openssl", "dgst", "-sha256", "-sign", key, "-out", f"{path}.sig", path]
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def keys(ctl, tmp_path):
    ctl.ok("keygen", "--out", tmp_path / "ch")
    ctl.ok("keygen", "--type", "p256", "--out", tmp_path / "ec")
    ctl.ok("keygen", "--out", tmp_path / "other")
    return tmp_path


@pytest.fixture
def table(loaded, keys, tmp_path):
    out = loaded.ok("export-table", "--sign", keys / "ch.key", "--out", tmp_path / "t.json")
    assert "signed in" in out
    return tmp_path / "t.json"


def verify(ctl, table, pub, *extra):
    return ctl("verify-table", "--pubkey", pub, *extra, table)


def test_keygen(keys, ctl):
    assert oct(os.stat(keys / "ch.key").st_mode & 0o777) == "0o600"
    assert (keys / "ch.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    # never over an existing key
    r = ctl("keygen", "--out", keys / "ch")
    assert r.returncode == 2 and "exists" in r.stderr


def test_table_content(table, loaded):
    t = json.loads(table.read_text())
    assert t["format"] == 1 and t["zone"] == "fed.example"
    assert t["levels"] == {"1": "basic", "2": "verified", "3": "pki-2fa"}
    assert t["members"]["alpha.fed.example"] == {
        "level": 3, "status": "active", "tags": ["industry:finance", "auth:pki"],
        "not-after": "2027-12-31T23:59:59Z"}
    assert t["members"]["epsilon.fed.example"]["status"] == "suspended"
    assert len(t["members"]) == 7
    serial = int(loaded.ok("history", "-n", "1").split()[0].strip("#"))
    assert t["serial"] == serial


def test_verify_ok_and_tools_agree(table, keys, loaded):
    r = verify(loaded, table, keys / "ch.pub")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"ok: {table}: fed.example serial ")
    # the signature is plain Ed25519 over the file: openssl checks it too
    subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", keys / "ch.pub",
                    "-rawin", "-in", table, "-sigfile", f"{table}.sig"], check=True,
                   capture_output=True)


def test_p256(loaded, keys, tmp_path):
    loaded.ok("export-table", "--sign", keys / "ec.key", "--out", tmp_path / "e.json")
    assert verify(loaded, tmp_path / "e.json", keys / "ec.pub").returncode == 0
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", keys / "ec.pub", "-signature",
                    tmp_path / "e.json.sig", tmp_path / "e.json"], check=True, capture_output=True)
    r = verify(loaded, tmp_path / "e.json", keys / "ch.pub")
    assert r.returncode == 1 and "signature does not match" in r.stderr


def test_tampered_byte(table, keys, loaded):
    data = bytearray(table.read_bytes())
    i = data.index(b'"level": 2')
    data[i + 9] = ord("3")    # beta's level 2 -> 3
    table.write_bytes(bytes(data))
    r = verify(loaded, table, keys / "ch.pub")
    assert r.returncode == 1
    assert "signature does not match: the table was changed" in r.stderr


def test_wrong_key(table, keys, loaded):
    r = verify(loaded, table, keys / "other.pub")
    assert r.returncode == 1 and "signed with another key" in r.stderr
    # not a key at all
    r = verify(loaded, table, table)
    assert r.returncode == 2


def test_missing_signature(table, keys, loaded):
    os.unlink(f"{table}.sig")
    r = verify(loaded, table, keys / "ch.pub")
    assert r.returncode == 1 and "t.json.sig" in r.stderr


def test_rollback(table, keys, loaded, tmp_path):
    state = tmp_path / "state"
    old = tmp_path / "old.json"
    os.rename(table, old)
    os.rename(f"{table}.sig", f"{old}.sig")
    assert verify(loaded, old, keys / "ch.pub", "--state", state).returncode == 0
    loaded.ok("set", "beta.fed.example", "level", "3")
    loaded.ok("export-table", "--sign", keys / "ch.key", "--out", tmp_path / "new.json")
    assert verify(loaded, tmp_path / "new.json", keys / "ch.pub", "--state", state).returncode == 0
    r = verify(loaded, old, keys / "ch.pub", "--state", state)
    assert r.returncode == 1
    assert "older than serial" in r.stderr and "rollback" in r.stderr
    # the same table again is fine
    assert verify(loaded, tmp_path / "new.json", keys / "ch.pub", "--state", state).returncode == 0
    # without --state, the state lives beside the table
    assert verify(loaded, old, keys / "ch.pub").returncode == 0
    assert (tmp_path / "old.json.accepted").read_text().startswith("serial ")


def handmade(tmp_path, keys, name, text):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    sign(str(keys / "ch.key"), str(p))
    return p


def good_table(**over):
    t = {"format": 1, "zone": "fed.example", "serial": 7, "made": "2026-01-01T00:00:00Z",
         "expires": "2099-01-01T00:00:00Z", "levels": {"1": "basic"},
         "members": {"a.fed.example": {"level": 1, "status": "active", "tags": []}}}
    t.update(over)
    return json.dumps(t)


BAD_TABLES = [
    ("expired", good_table(expires="2026-01-02T00:00:00Z"), "expired at 2026-01-02T00:00:00Z"),
    ("truncated", good_table()[:-20], "not a table: line"),
    ("not-json", "members: {}\n", "not a table"),
    ("blank", "\n", "not a table"),
    ("future-format", good_table(format=2, extra="new"), "format 2 is newer than this policyctl"),
    ("duplicate-member", good_table().replace(
        '"members": {', '"members": {"a.fed.example": {"level": 3, "status": "active", '
                        '"tags": []}, '), "duplicate"),
    ("bad-name", good_table(members={"a_b.fed.example": {"level": 1, "status": "active",
                                                         "tags": []}}), "a_b.fed.example"),
    ("upper-case-name", good_table(members={"A.fed.example": {"level": 1, "status": "active",
                                                              "tags": []}}), "normal form"),
    ("bad-level", good_table(members={"a.fed.example": {"level": 256, "status": "active",
                                                        "tags": []}}), "out of range"),
    ("bad-status", good_table(members={"a.fed.example": {"level": 1, "status": "asleep",
                                                         "tags": []}}), "asleep"),
    ("bad-tag", good_table(members={"a.fed.example": {"level": 1, "status": "active",
                                                      "tags": ["has space"]}}), "tag 1"),
    ("bad-date", good_table(made="2026-02-30T00:00:00Z"), "instants"),
    ("unknown-key", good_table(colour="blue"), "unknown key 'colour'"),
    ("not-an-object", "[1, 2]", "top level"),
    ("nul", good_table(zone="fed\u0000.example"), "not a table"),
]


@pytest.mark.parametrize("name,text,words", BAD_TABLES, ids=[b[0] for b in BAD_TABLES])
def test_bad_tables_refused(loaded, keys, tmp_path, name, text, words):
    p = handmade(tmp_path, keys, f"{name}.json", text)
    r = verify(loaded, p, keys / "ch.pub")
    assert r.returncode == 1, r.stdout + r.stderr
    assert words in r.stderr, r.stderr
    assert not (tmp_path / f"{name}.json.accepted").exists()
    # and render writes nothing
    (tmp_path / "local.yaml").write_text("min-peer-level: 1\n")
    out = tmp_path / f"{name}.allow"
    r = loaded("render-table", "--pubkey", keys / "ch.pub", "--for", "a.fed.example",
               "--local-policy", tmp_path / "local.yaml", "--format", "list", "--out", out, p)
    assert r.returncode == 1 and not out.exists()


def test_signed_over_different_bytes(loaded, keys, tmp_path):
    p = handmade(tmp_path, keys, "t.json", good_table())
    p.write_text(good_table(serial=8))   # the signature is of serial 7
    r = verify(loaded, p, keys / "ch.pub")
    assert r.returncode == 1 and "signature does not match" in r.stderr


# ---- render ----

LOCAL = """\
min-peer-level: 3
require-tags: [auth:pki]
allow: [partner.example, gamma.example]
deny: [omega.fed.example]
"""


def render(ctl, table, keys, tmp_path, fmt, local=LOCAL, who="alpha.fed.example"):
    (tmp_path / "local.yaml").write_text(local)
    out = tmp_path / f"allow.{fmt}"
    r = ctl("render-table", "--pubkey", keys / "ch.pub", "--for", who, "--local-policy",
            tmp_path / "local.yaml", "--format", fmt, "--out", out, table)
    return r, out


def test_render_list(table, keys, loaded, tmp_path):
    r, out = render(loaded, table, keys, tmp_path, "list")
    assert r.returncode == 0, r.stderr
    # delta: level 3 with auth:pki; gamma: level 1 but an exception; partner:
    # no member, an exception; beta level 2; epsilon suspended; zeta expired;
    # omega revoked (and denied)
    assert out.read_text() == "delta.fed.example\ngamma.example\npartner.example\n"


def test_render_prosody(table, keys, loaded, tmp_path):
    r, out = render(loaded, table, keys, tmp_path, "prosody")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert ("%ZONE federation: alpha.fed.example, delta.fed.example, gamma.example, "
            "partner.example\n") in text
    assert ("::deliver_remote\nLEAVING: federation\nKIND: message\nBOUNCE=policy-violation "
            "(not in the federation allow-list of alpha.fed.example)\n\nLEAVING: federation\n"
            "DROP.\n") in text
    assert ("::deliver\nENTERING: federation\nKIND: message\nBOUNCE=policy-violation "
            "(not in the federation allow-list of alpha.fed.example)\n\nENTERING: federation\n"
            "DROP.\n") in text


def test_render_ejabberd(table, keys, loaded, tmp_path):
    r, out = render(loaded, table, keys, tmp_path, "ejabberd")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(out.read_text())
    assert cfg == {
        "acl": {"federation_peers": {"server": ["delta.fed.example", "gamma.example",
                                                "partner.example"]}},
        "access_rules": {"federation_s2s": {"allow": "federation_peers"}},
        "s2s_access": "federation_s2s",
    }


@pytest.mark.parametrize("local,words", [
    ("min-peer-level: 300\n", "0 to 255"),
    ("colour: blue\n", "unknown key 'colour'"),
    ("allow: [a..b]\n", "a..b"),
    ("allow: [x.example]\ndeny: [x.example]\n", "both allowed and denied"),
    ("require-tags: [has space]\n", "has space"),
    ("", "empty"),
])
def test_render_bad_local_policy(table, keys, loaded, tmp_path, local, words):
    out = tmp_path / "allow.list"
    out.write_text("previous\n")
    r, _ = render(loaded, table, keys, tmp_path, "list", local=local)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert out.read_text() == "previous\n"      # untouched
    assert not (tmp_path / "t.json.accepted").exists()


def test_render_not_a_member(table, keys, loaded, tmp_path):
    r, out = render(loaded, table, keys, tmp_path, "list", who="nobody.example")
    assert r.returncode == 1 and "not a member" in r.stderr
    assert not out.exists()


def test_render_replaces_whole(table, keys, loaded, tmp_path):
    out = tmp_path / "allow.list"
    out.write_text("old\n")
    ino = os.stat(out).st_ino
    r, _ = render(loaded, table, keys, tmp_path, "list")
    assert r.returncode == 0
    assert os.stat(out).st_ino != ino       # a new file renamed over the old
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


# ---- ejabberd's own configuration loader ----

EJABBERD_YML = """\
hosts: ["alpha.fed.example"]
loglevel: info
listen: []
modules: {{}}
include_config_file: {include}
"""


def ejabberd_loads(d, node):
    """Start ejabberd in the foreground on a config that includes d's
    federation.yml; return (started, log)."""
    subprocess.run(["chown", "-R", "ejabberd", d], check=True)
    base = ["ejabberdctl", "--config-dir", d, "--config", d / "ejabberd.yml",
            "--spool", d / "db", "--logs", d / "log", "--node", node]
    p = subprocess.Popen([*base, "foreground"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    log = d / "log" / "ejabberd.log"
    started = False
    try:
        for _ in range(300):
            text = log.read_text() if log.exists() else ""
            if "is started in the node" in text:
                started = True
                break
            if p.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        if p.poll() is None:
            subprocess.run([*base, "stop"], capture_output=True, timeout=60)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return started, log.read_text() if log.exists() else ""


@pytest.mark.skipif(not shutil.which("ejabberdctl") or os.geteuid() != 0,
                    reason="ejabberd's loader check skipped: needs ejabberd and root")
def test_ejabberd_loads_the_rendered_config(table, keys, loaded, tmp_path):
    epmd_before = subprocess.run(["pgrep", "-x", "epmd"], capture_output=True).returncode == 0
    d = pathlib.Path(tempfile.mkdtemp(prefix="ejabberd-check-"))
    try:
        os.chmod(d, 0o755)
        (d / "db").mkdir()
        (d / "log").mkdir()
        r, out = render(loaded, table, keys, tmp_path, "ejabberd")
        assert r.returncode == 0
        shutil.copy(out, d / "federation.yml")
        (d / "ejabberd.yml").write_text(EJABBERD_YML.format(include=d / "federation.yml"))
        started, log = ejabberd_loads(d, f"chcheck{os.getpid()}@localhost")
        assert started and "Configuration loaded successfully" in log, log
        # an empty allow-list is a valid configuration too
        r, out = render(loaded, table, keys, tmp_path, "ejabberd",
                        local="min-peer-level: 255\n")
        shutil.copy(out, d / "federation.yml")
        shutil.rmtree(d / "db")
        (d / "db").mkdir()
        (d / "log" / "ejabberd.log").unlink()
        started, log = ejabberd_loads(d, f"chcheck{os.getpid()}b@localhost")
        assert started, log
        # and the check can fail: a list entry that is no name
        (d / "federation.yml").write_text(out.read_text().replace("server: []",
                                                                  "server: [5]"))
        shutil.rmtree(d / "db")
        (d / "db").mkdir()
        (d / "log" / "ejabberd.log").unlink()
        started, log = ejabberd_loads(d, f"chcheck{os.getpid()}c@localhost")
        assert not started and "Invalid value of option acl" in log, log
    finally:
        shutil.rmtree(d, ignore_errors=True)
        if not epmd_before:
            subprocess.run(["epmd", "-kill"], capture_output=True)
