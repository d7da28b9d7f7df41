"""Shared fixtures for the system tests: the built programs and a fresh store."""
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
