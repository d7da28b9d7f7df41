"""Thousands of random commits interleaved with queries from several
views: every SRV answer is checked against the decision policyctl check
gives for that view at that moment, so an answer cached across a commit
that changed it cannot pass.  Also: a load of a file with one change
writes that member and not the whole store."""
import os
import random
import time

import dns.rdatatype
import pytest

from test_dnsd import Dnsd

COMMITS = 2000          # bounded: ~2,000 commits, each a batch of 1 to 4 edits
QUERIES_PER_COMMIT = 2
MEMBERS = 24
DEADLINE_S = 100        # the loop stops here even if commits remain
# Source addresses the queries come from (all on loopback), and the querier
# prefixes members may list: /32s, two that nest (.0/29 holds .2 to .7) and
# a /24 with a /32 inside.
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)] + ["127.0.1.5", "127.0.1.9"]
PREFIXES = [f"127.0.0.{i}/32" for i in range(2, 10)] + \
    ["127.0.0.0/29", "127.0.1.0/24", "127.0.1.5/32"]


def name(i):
    return f"m{i:02d}.fed.example"


def write_policy(path, rnd, queriers):
    lines = ["community:", "  zone: fed.example", "  clearinghouse:",
             "    - {host: ch.fed.example, port: 5269}", "  fallback: allowed",
             "  default: {min-peer-level: 1}", "members:"]
    for i in range(MEMBERS):
        q = ", ".join(queriers[name(i)])
        lines.append(f"  {name(i)}: {{level: {rnd.randrange(4)}, "
                     f"targets: [xmpp.{name(i)}:5269], queriers: [{q}]}}")
    path.write_text("\n".join(lines) + "\n")


def covers(prefix, addr):
    net, bits = prefix.split("/")
    to_int = lambda a: int.from_bytes(bytes(map(int, a.split("."))), "big")  # noqa: E731
    bits = int(bits)
    mask = ((1 << bits) - 1) << (32 - bits) if bits else 0
    return to_int(net) & mask == to_int(addr) & mask


def view_of(queriers, addr):
    """The member a source address speaks for: the longest prefix, the
    first name among members listing the same one."""
    best = None
    for member in sorted(queriers):
        for p in queriers[member]:
            if covers(p, addr) and (best is None or int(p.split("/")[1]) > best[0]):
                best = (int(p.split("/")[1]), member)
    return best[1] if best else None


def random_edit(rnd, queriers):
    m = name(rnd.randrange(MEMBERS))
    kind = rnd.randrange(6)
    if kind == 0:
        return f"set {m} level {rnd.randrange(4)}"
    if kind == 1:
        return f"suspend {m}"
    if kind == 2:
        return f"resume {m}"
    if kind == 3:
        queriers[m] = rnd.sample(PREFIXES, rnd.randrange(3))
        return f"set {m} queriers [{', '.join(queriers[m])}]"
    if kind == 4:
        other = name(rnd.randrange(MEMBERS))
        if other == m:
            return f"set {m} min-peer-level {rnd.randrange(4)}"
        return f"override {m} {other} {rnd.choice(['allow', 'deny', 'none'])}"
    return f"set {m} min-peer-level {rnd.randrange(4)}"


def own_targets(answer):
    """How many SRV records of the answer are the member's own hosts (the
    clearinghouse has priority 0)."""
    return sum(1 for rrset in answer.answer if rrset.rdtype == dns.rdatatype.SRV
               for rr in rrset if rr.priority != 0)


@pytest.fixture
def churn(dnsd_path, ctl, sample_zone, tmp_path):
    rnd = random.Random(int(os.environ.get("CHURN_SEED", "14")))
    queriers = {name(i): rnd.sample(PREFIXES, rnd.randrange(2)) for i in range(MEMBERS)}
    policy = tmp_path / "churn.yaml"
    write_policy(policy, rnd, queriers)
    ctl.ok("load", policy)
    d = Dnsd(dnsd_path, str(ctl.db), [str(sample_zone)], extra=["--threads", "2"])
    yield d, ctl, rnd, queriers
    if d.proc.poll() is None:
        assert d.stop() == 0, d.stderr()


def test_no_stale_answer_across_thousands_of_commits(churn):
    d, ctl, rnd, queriers = churn
    start = time.monotonic()
    # Pairs asked again and again, so that most answers come from the cache.
    hot = [(rnd.randrange(MEMBERS), rnd.choice(SOURCES)) for _ in range(40)]
    commits = checked = fallbacks = 0
    while commits < COMMITS and time.monotonic() - start < DEADLINE_S:
        edits = [random_edit(rnd, queriers) for _ in range(rnd.randrange(1, 5))]
        r = ctl("batch", "-", stdin="\n".join(edits) + "\n")
        assert r.returncode == 0, r.stderr
        commits += 1
        for _ in range(QUERIES_PER_COMMIT):
            i, source = rnd.choice(hot)
            member, view = name(i), view_of(queriers, source)
            answer = d.ask(f"_xmpp-server._tcp.{member}", "SRV", source=source)
            got = own_targets(answer)
            if view is None or view == member:
                want = 0 if view is None else got   # a member about itself: not checked
            else:
                want = 1 if ctl("check", view, member).returncode == 0 else 0
            assert got == want, (
                f"commit {commits}: {member} asked from {source} (view {view}): "
                f"{got} own targets, policyctl check says {want}; last edits {edits}")
            checked += 1
            fallbacks += got
    # The run must have done real work: commits, and answers both ways.
    assert commits >= 300, f"only {commits} commits in {DEADLINE_S} s"
    assert fallbacks > 0 and fallbacks < checked, (fallbacks, checked)


def test_load_with_one_change_writes_only_that_member(ctl, tmp_path):
    rnd = random.Random(1)
    lines = ["community:", "  zone: fed.example", "  clearinghouse:",
             "    - {host: ch.fed.example, port: 5269}", "members:"]
    for i in range(20000):
        lines.append(f"  n{i:05d}.fed.example: {{level: {i % 4}, tags: [t{rnd.randrange(50)}], "
                     f"targets: [xmpp.n{i:05d}.fed.example:5269]}}")
    first = tmp_path / "first.yaml"
    first.write_text("\n".join(lines) + "\n")
    lines[5 + 777] = lines[5 + 777].replace("level: 1", "level: 2")
    second = tmp_path / "second.yaml"
    second.write_text("\n".join(lines) + "\n")
    ctl.ok("load", first)
    data = os.path.join(ctl.db, "data.mdb")
    size = os.path.getsize(data)
    out = ctl.ok("load", second)
    assert "1 changed, 19999 unchanged" in out
    # Rewriting every record needs a second copy of every page: the file
    # would about double.  One changed member needs a few pages.
    assert os.path.getsize(data) < size * 1.25, (size, os.path.getsize(data))
    hist = ctl.ok("history", "-n", "1")
    assert "~n00777.fed.example" in hist


def test_batch_is_one_commit_and_a_refused_line_writes_nothing(ctl, tmp_path):
    policy = tmp_path / "p.yaml"
    write_policy(policy, random.Random(2), {name(i): [] for i in range(MEMBERS)})
    ctl.ok("load", policy)
    before = ctl.ok("history", "-n", "1")
    # A good edit, then one that is refused: neither is written.
    r = ctl("batch", "-", stdin=f"suspend {name(1)}\n\n# a comment\nset {name(2)} level nine\n")
    assert r.returncode == 2
    assert "stdin:4:" in r.stderr and "nothing written" in r.stderr
    assert ctl.ok("history", "-n", "1") == before
    assert "status: active" in ctl.ok("show", name(1)) or "suspended" not in ctl.ok("show", name(1))
    # Three edits, one serial, one audit entry naming them all.
    edits = tmp_path / "edits"
    edits.write_text(f"suspend {name(1)}\nset {name(2)} level 3\n"
                     f"override {name(1)} {name(2)} deny\nsuspend {name(1)}\n")
    out = ctl.ok("batch", edits)
    assert "3 of 4 edits changed something" in out
    hist = ctl.ok("history", "-n", "1")
    assert "suspended" in hist and "level = 3" in hist and "deny" in hist
    assert ctl("check", name(1), name(2)).returncode == 1
    # Nothing to change: no commit.
    assert "nothing changed" in ctl.ok("batch", edits)
    assert ctl.ok("history", "-n", "1") == hist
    r = ctl("batch", "-", stdin="override a.fed.example a.fed.example deny\n")
    assert r.returncode == 2 and "two different members" in r.stderr


def test_set_to_the_value_it_has_makes_no_commit(ctl, tmp_path):
    policy = tmp_path / "p.yaml"
    write_policy(policy, random.Random(3), {name(i): [] for i in range(MEMBERS)})
    ctl.ok("load", policy)
    ctl.ok("set", name(5), "level", "2")
    before = ctl.ok("history", "-n", "1")
    out = ctl.ok("set", name(5), "level", "2")
    assert "nothing changed" in out and "serial" not in out
    assert ctl.ok("history", "-n", "1") == before
