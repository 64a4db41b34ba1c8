#!/usr/bin/env python3
"""Keeps the rows of a `duplicates` listing whose both sides are production code: a crate's
`src/` outside its `#[cfg(test)]` module, not the test harness, test support or benches.

    duplicates --most 200 --seconds 60 | python3 scripts/production-duplicates.py [TREE]

TREE: the tree the listing is of (default: this repository).

Prints the counts (identical, same shape, boilerplate) and the identical and same-shape rows;
exits 1 when an identical block remains.
"""

import os
import re
import sys

PRODUCTION = re.compile(
    r"^(wire|proto|store|verifier|fetch|verifier-service|verifier-cli|kbs|agent)/src/"
)
SIDE = re.compile(r"(\S+):(\d+)-(\d+)")


def tests_start(path):
    """The line of the file's first `#[cfg(test)]` (everything from there is test code)."""
    try:
        with open(path, encoding="utf-8") as source:
            for number, line in enumerate(source, 1):
                if line.startswith("#[cfg(test)]"):
                    return number
    except OSError:
        return 0
    return float("inf")


def production(side):
    match = SIDE.match(side)
    if not match:
        return False
    path, end = match.group(1), int(match.group(3))
    if not PRODUCTION.match(path) or path.endswith("/tests.rs"):
        return False
    return end < tests_start(path)


def main():
    rows = [line.strip() for line in sys.stdin if re.match(r"^D\d+ ", line)]
    kept = {"identical": [], "shape": [], "boilerplate": []}
    for row in rows:
        words = row.split()
        if not (production(words[1]) and production(words[3])):
            continue
        kind = "boilerplate" if "boilerplate" in row else "shape" if "shape" in row else "identical"
        kept[kind].append(row)
    print(
        "production-only pairs: identical {}, same shape {}, boilerplate {}".format(
            *(len(kept[kind]) for kind in ("identical", "shape", "boilerplate"))
        )
    )
    for row in kept["identical"] + kept["shape"]:
        print("  " + row)
    return 1 if kept["identical"] else 0


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    os.chdir(sys.argv[1] if len(sys.argv) > 1 else default)
    sys.exit(main())
