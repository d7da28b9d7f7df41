"""TSIG (RFC 8945) on ordinary queries to dnsd with keys configured, checked
by other implementations: dig and kdig verify the signed answers, dnspython
verifies them and sends a request from a clock an hour off; a wrong secret,
an unknown key and a stale time each get NOTAUTH with their TSIG error.
Also the keys: checks at start-up and the snippets of policyctl tsig-keygen,
fed to Knot's, NSD's and BIND's own configuration checkers."""
import base64
import os
import shutil
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import pytest

from test_dnsd import HOST, TIMEOUT, Dnsd

SECRET256 = base64.b64encode(bytes(range(100, 132))).decode()
SECRET512 = base64.b64encode(bytes(range(1, 65))).decode()
WRONG = base64.b64encode(bytes(range(200, 232))).decode()

CONFIG = f"""keys:
  - {{name: xfr-knot, algorithm: hmac-sha256, secret: "{SECRET256}"}}
  - {{name: Xfr-Big., algorithm: hmac-sha512, secret: "{SECRET512}"}}
"""


@pytest.fixture
def keyed(dnsd_path, loaded, sample_zone, tmp_path):
    """dnsd with two keys."""
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(CONFIG)
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)], extra=["--config", str(conf)])
    yield d
    assert d.stop() == 0
    assert SECRET256 not in d.stderr() and SECRET512 not in d.stderr()


def dig(d, *args):
    return subprocess.run(["dig", f"@{HOST}", "-p", str(d.port), "+norec", *args],
                          capture_output=True, text=True, timeout=10)


def kdig(d, *args):
    return subprocess.run(["kdig", f"@{HOST}", "-p", str(d.port), "+norec", *args],
                          capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_verifies_signed_answer(keyed, transport):
    r = dig(keyed, transport, "-y", f"hmac-sha256:xfr-knot:{SECRET256}", "fed.example", "SOA")
    out = r.stdout + r.stderr
    assert "status: NOERROR" in out, out
    assert "TSIG PSEUDOSECTION" in out and "ANSWER: 1" in out, out
    assert "tsig verify failure" not in out and "Couldn't verify" not in out, out
    assert "hmac-sha256" in out


def test_kdig_verifies_signed_answer_both_algorithms(keyed):
    for spec in (f"hmac-sha256:xfr-knot:{SECRET256}", f"hmac-sha512:xfr-big:{SECRET512}"):
        for transport in ("+notcp", "+tcp"):
            r = kdig(keyed, transport, "-y", spec, "fed.example", "SOA")
            out = r.stdout + r.stderr
            assert "status: NOERROR" in out, out
            assert "TSIG PSEUDOSECTION" in out, out
            assert "WARNING" not in out, out


def test_dnspython_verifies_signed_answer(keyed):
    keyring = dns.tsigkeyring.from_text({"xfr-knot.": ("hmac-sha256", SECRET256)})
    q = dns.message.make_query("fed.example", "SOA", use_edns=0)
    q.use_tsig(keyring, keyname="xfr-knot.")
    # dns.query checks the answer's MAC against the request's and raises
    # if it does not verify.
    r = dns.query.udp(q, HOST, port=keyed.port, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR and r.had_tsig and len(r.answer) == 1
    r = dns.query.tcp(q, HOST, port=keyed.port, timeout=TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR and r.had_tsig


def test_wrong_secret_is_notauth_badsig(keyed):
    r = dig(keyed, "-y", f"hmac-sha256:xfr-knot:{WRONG}", "fed.example", "SOA")
    assert "status: NOTAUTH" in r.stdout and "BADSIG" in r.stdout, r.stdout
    assert "ANSWER: 0" in r.stdout
    # The record is bare: no MAC (RFC 8945 5.3.2).
    keyring = dns.tsigkeyring.from_text({"xfr-knot.": ("hmac-sha256", WRONG)})
    q = dns.message.make_query("fed.example", "SOA", use_edns=0)
    q.use_tsig(keyring, keyname="xfr-knot.")
    with pytest.raises(dns.tsig.PeerBadSignature):
        dns.query.udp(q, HOST, port=keyed.port, timeout=TIMEOUT)


def test_unknown_key_still_notauth_badkey_with_keys_configured(keyed):
    r = dig(keyed, "-y", f"hmac-sha256:xfr-nsd:{SECRET256}", "fed.example", "SOA")
    assert "status: NOTAUTH" in r.stdout and "BADKEY" in r.stdout, r.stdout
    # A known name with another algorithm is no key of ours either.
    r = dig(keyed, "-y", f"hmac-sha512:xfr-knot:{SECRET256}", "fed.example", "SOA")
    assert "status: NOTAUTH" in r.stdout and "BADKEY" in r.stdout, r.stdout


def test_request_an_hour_off_is_notauth_badtime_signed(keyed, monkeypatch):
    keyring = dns.tsigkeyring.from_text({"xfr-knot.": ("hmac-sha256", SECRET256)})
    q = dns.message.make_query("fed.example", "SOA", use_edns=0)
    q.use_tsig(keyring, keyname="xfr-knot.")
    real = time.time()
    monkeypatch.setattr(time, "time", lambda: real - 3600)
    wire = q.to_wire()
    monkeypatch.undo()
    reply = keyed.raw_udp(wire)
    assert reply is not None
    # dnspython reports the error of the TSIG (RFC 8945 5.2.3); the record
    # it read is kept on the way.
    seen = []
    validate = dns.tsig.validate

    def keep(wire, key, owner, rdata, *args, **kw):
        seen.append(rdata)
        return validate(wire, key, owner, rdata, *args, **kw)
    monkeypatch.setattr(dns.tsig, "validate", keep)
    with pytest.raises(dns.tsig.PeerBadTime):
        dns.message.from_wire(reply, keyring=keyring, request_mac=q.mac)
    monkeypatch.undo()
    assert reply[3] & 0xF == dns.rcode.NOTAUTH
    tsig = seen[0]
    # It is signed, with the request's time and ours in Other Data.
    assert tsig.error == dns.rcode.BADTIME
    assert len(tsig.mac) == 32
    assert tsig.time_signed == int(real - 3600)
    assert len(tsig.other) == 6
    assert abs(int.from_bytes(tsig.other, "big") - real) < 600


def test_signed_answer_never_cached_as_another_query_s(keyed):
    """Two signed queries in a row each get their own MAC, and an unsigned
    one after them gets none: the cache never serves a signed answer."""
    keyring = dns.tsigkeyring.from_text({"xfr-knot.": ("hmac-sha256", SECRET256)})
    macs = set()
    for _ in range(2):
        q = dns.message.make_query("fed.example", "SOA", use_edns=0)
        q.use_tsig(keyring, keyname="xfr-knot.")
        r = dns.query.udp(q, HOST, port=keyed.port, timeout=TIMEOUT)
        macs.add(r.mac)
    assert len(macs) == 2
    for _ in range(2):
        r = keyed.ask("fed.example", "SOA", use_edns=0)
        assert not r.had_tsig and r.rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("record, why", [
    ('{name: k, algorithm: hmac-sha256, secret: "AQIDBAUGBwg="}', "the secret is 8 bytes"),
    ('{name: k, algorithm: hmac-md5, secret: "%s"}' % SECRET256, "unknown algorithm 'hmac-md5'"),
    ('{name: k, algorithm: hmac-sha256, secret: "not base64!"}', "not base64"),
    ('{algorithm: hmac-sha256, secret: "%s"}' % SECRET256, "a key needs a name"),
])
def test_bad_key_is_startup_error_exit_2(dnsd_path, loaded, sample_zone, tmp_path, record, why):
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(f"threads: 1\nkeys:\n  - {{name: ok, algorithm: hmac-sha256, secret: \"{SECRET256}\"}}\n"
                    f"  - {record}\n")
    r = subprocess.run([dnsd_path, "--config", str(conf), "--db", str(loaded.db),
                        "--zone", str(sample_zone), "--listen", f"{HOST}:0"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert f"{conf}:4:5: " in r.stderr and why in r.stderr, r.stderr
    assert SECRET256 not in r.stderr and "AQIDBAUGBwg" not in r.stderr


def snippet(text, title):
    lines, on = [], False
    for line in text.splitlines():
        if line.startswith("# "):
            on = line.startswith("# " + title)
        elif on and line:
            lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("alg", ["hmac-sha256", "hmac-sha512"])
def test_tsig_keygen_snippets_accepted_by_each_server(policyctl_path, dnsd_path, loaded,
                                                     sample_zone, tmp_path, alg):
    r = subprocess.run([policyctl_path, "tsig-keygen", "--algorithm", alg, "xfr-test"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    secret = snippet(out, "BIND").split('secret "')[1].split('"')[0]
    assert len(base64.b64decode(secret, validate=True)) == (32 if alg == "hmac-sha256" else 64)
    # Two runs never give the same secret.
    again = subprocess.run([policyctl_path, "tsig-keygen", "--algorithm", alg, "xfr-test"],
                           capture_output=True, text=True, timeout=10).stdout
    assert secret not in again
    checkers = [("Knot", "knotc", lambda f: ["knotc", "-c", f, "conf-check"]),
                ("NSD", "nsd-checkconf", lambda f: ["nsd-checkconf", f]),
                ("BIND", "named-checkconf", lambda f: ["named-checkconf", f])]
    checked = 0
    for title, prog, cmd in checkers:
        if not shutil.which(prog):
            continue
        f = tmp_path / f"{prog}.conf"
        f.write_text(snippet(out, title))
        c = subprocess.run(cmd(str(f)), capture_output=True, text=True, timeout=20)
        assert c.returncode == 0, f"{prog}: {c.stdout}{c.stderr}\n{f.read_text()}"
        checked += 1
    assert checked >= 1, "none of knotc, nsd-checkconf, named-checkconf is installed"
    # dnsd takes its own form, and answers that key.
    conf = tmp_path / "dnsd.yaml"
    conf.write_text(snippet(out, "dnsd"))
    d = Dnsd(dnsd_path, str(loaded.db), [str(sample_zone)], extra=["--config", str(conf)])
    try:
        res = dig(d, "-y", f"{alg}:xfr-test:{secret}", "fed.example", "SOA").stdout
        assert "status: NOERROR" in res and "TSIG PSEUDOSECTION" in res, res
        assert "tsig verify failure" not in res
    finally:
        assert d.stop() == 0
    assert secret not in d.stderr()


def test_tsig_keygen_refuses_bad_name_and_algorithm(policyctl_path):
    for args in (["a b"], ["x."], ["--algorithm", "hmac-md5", "x"], []):
        r = subprocess.run([policyctl_path, "tsig-keygen", *args], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 2 and r.stdout == "", (args, r.stdout, r.stderr)
