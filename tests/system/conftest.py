"""Shared fixtures for the system tests: the built programs and a fresh store."""
import hashlib
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _program(env_name, default):
    path = os.environ.get(env_name) or str(ROOT / "build" / default)
    if not os.access(path, os.X_OK):
        pytest.exit(f"{path} is not built; run the tests through meson", returncode=2)
    return path


@pytest.fixture(scope="session")
def policyctl_path():
    return _program("POLICYCTL", "tools/policyctl")


@pytest.fixture(scope="session")
def dnsd_path():
    return _program("DNSD", "dnsd/dnsd")


@pytest.fixture(scope="session")
def sample_zone():
    return ROOT / "zones" / "fed.example.zone"


@pytest.fixture(scope="session")
def sample_policy():
    return ROOT / "zones" / "fed.example.policy.yaml"


class Ctl:
    """Runs policyctl against one store directory."""

    def __init__(self, path, db):
        self.path = path
        self.db = db

    def __call__(self, *args, env=None, stdin=None, user=None):
        cmd = [self.path, "--db", str(self.db), *map(str, args)]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
            # user is a uid: setpriv takes a group by number, not a user's name
        return subprocess.run(cmd, capture_output=True, text=True, env=env, input=stdin,
                              timeout=600)

    def ok(self, *args):
        r = self(*args)
        assert r.returncode == 0, f"policyctl {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout


@pytest.fixture
def ctl(policyctl_path, tmp_path):
    c = Ctl(policyctl_path, tmp_path / "store")
    c.ok("init")
    return c


@pytest.fixture
def loaded(ctl, sample_policy):
    ctl.ok("load", sample_policy)
    return ctl


@pytest.fixture(scope="session")
def xmppd_path():
    return _program("XMPPD", "xmppd/xmppd")


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A federation CA, xmppd's certificate for ch.fed.example, certificates
    for alpha.fed.example (CA-signed, and one self-signed for pinning), all
    made with the openssl command for this run only."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Federation CA")
    for name, host in (("ch", "ch.fed.example"), ("alpha", "alpha.fed.example"),
                       ("beta", "beta.fed.example")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={host}")
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{host}\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    # an SRV-ID only (RFC 6125 6.5.1: otherName id-on-dnsSRV), no DNS-ID
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=not-the-domain")
    (d / "srv.ext").write_text("subjectAltName=otherName:1.3.6.1.5.5.7.8.7;"
                               "IA5STRING:_xmpp-server.alpha.fed.example\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "srv.ext")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "self.key", "-out", "self.pem", "-days", "2", "-subj", "/CN=self-signed",
        "-addext", "subjectAltName=DNS:other.example")
    # the pin: SHA-256 of the self-signed certificate's SubjectPublicKeyInfo
    spki = subprocess.run(["openssl", "x509", "-in", d / "self.pem", "-pubkey", "-noout"],
                          check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=spki,
                         check=True, capture_output=True).stdout
    (d / "self.pin").write_text(hashlib.sha256(der).hexdigest())
    return d
