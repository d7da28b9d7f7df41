#!/usr/bin/env python3
"""Fails if the object files of a static library call each other in a cycle.

Each argument is a static library (.a).  An object file calls another when
one of its undefined symbols is defined by the other (nm).  The calls of
each library must form no cycle: a part may rely on the parts below it,
never on one that relies on it.  Prints each library's calls, and each
cycle found; exits 1 if there is one.
"""
import os
import subprocess
import sys


def symbols(lib):
    """{member: (defined, undefined)} for the members of lib."""
    out = subprocess.run(['nm', '-A', lib], check=True, capture_output=True,
                         text=True).stdout
    members = {}
    for line in out.splitlines():
        where, _, rest = line.rpartition(':')
        member = os.path.basename(where.rpartition(':')[2])
        fields = rest.split()
        if len(fields) < 2:
            continue
        kind, name = fields[-2], fields[-1]
        d, u = members.setdefault(member, (set(), set()))
        if kind == 'U':
            u.add(name)
        elif kind.isupper():
            d.add(name)
    return members


def calls(members):
    owner = {s: m for m, (d, _) in members.items() for s in d}
    return {m: sorted({owner[s] for s in u if s in owner and owner[s] != m})
            for m, (_, u) in members.items()}


def cycles(graph):
    """The strongly connected parts of more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(libs):
    bad = 0
    for lib in libs:
        graph = calls(symbols(lib))
        print(lib)
        for m in sorted(graph):
            if graph[m]:
                print('  %s -> %s' % (m, ' '.join(graph[m])))
        for part in cycles(graph):
            print('  CYCLE: %s' % ' '.join(part))
            bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
