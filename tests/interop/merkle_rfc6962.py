#!/usr/bin/env python3
"""An independent judge of Warden's Merkle log (wire/src/tlog), written from RFC 6962 §2.1.

It follows the RFC's recursive definitions literally -- MTH (§2.1), PATH (§2.1.1) and
PROOF/SUBPROOF (§2.1.2) -- over the list of leaf inputs, splitting every range at the largest
power of two smaller than its length. It knows nothing of stored subtrees, node indexes or the
RFC 9162 verification loops Warden uses; the only shortcut is remembering MTH of ranges already
computed, which changes no result.

Usage: merkle_rfc6962.py IN.json OUT.json

IN.json, written by tests/tests/tlog_rfc6962.rs:
  {"leaves": [hex leaf input, ...],
   "roots": [hex MTH of the first n leaves, for n = 0, 1, ...],
   "inclusion": [[m, n, [hex, ...]], ...],      PATH(m, D[0:n]) as Warden made it
   "consistency": [[m, n, [hex, ...]], ...]}    PROOF(m, D[0:n]) as Warden made it

Every root and proof is recomputed here and compared byte for byte; any difference fails (exit 1).
OUT.json gets this script's own roots and proofs, for index/size pairs it picks itself with its
own random generator, for Warden's verifiers to accept:
  {"roots": [...], "inclusion": [[m, n, [hex, ...]], ...], "consistency": [[m, n, [hex, ...]], ...]}
"""

import hashlib
import json
import random
import sys


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_below(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), as RFC 6962 §2.1 defines it."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Rfc6962:
    """The hash tree over the list D of leaf inputs, in the RFC's own terms."""

    def __init__(self, leaves):
        self.D = leaves
        self.memo = {}

    def MTH(self, lo, hi):
        """MTH(D[lo:hi])."""
        key = (lo, hi)
        if key in self.memo:
            return self.memo[key]
        n = hi - lo
        if n == 0:
            # "The hash of an empty list is the hash of an empty string"
            result = sha256(b"")
        elif n == 1:
            # "The hash of a list with one entry (also known as a leaf hash)"
            result = sha256(b"\x00" + self.D[lo])
        else:
            # "MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))"
            k = largest_power_of_two_below(n)
            result = sha256(b"\x01" + self.MTH(lo, lo + k) + self.MTH(lo + k, hi))
        self.memo[key] = result
        return result

    def PATH(self, m, lo, hi):
        """PATH(m, D[lo:hi]), m relative to lo (§2.1.1)."""
        n = hi - lo
        if n == 1:
            # "The path for the single leaf in a tree with a one-element input list is empty"
            return []
        k = largest_power_of_two_below(n)
        if m < k:
            # "PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])" for m < k
            return self.PATH(m, lo, lo + k) + [self.MTH(lo + k, hi)]
        # "PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])" for m >= k
        return self.PATH(m - k, lo + k, hi) + [self.MTH(lo, lo + k)]

    def PROOF(self, m, n):
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (§2.1.2)."""
        return self.SUBPROOF(m, 0, n, True)

    def SUBPROOF(self, m, lo, hi, b):
        """SUBPROOF(m, D[lo:hi], b), m relative to lo."""
        n = hi - lo
        if m == n:
            # "SUBPROOF(m, D[m], true) = {}"; "SUBPROOF(m, D[m], false) = {MTH(D[m])}"
            return [] if b else [self.MTH(lo, hi)]
        k = largest_power_of_two_below(n)
        if m <= k:
            # "SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])"
            return self.SUBPROOF(m, lo, lo + k, b) + [self.MTH(lo + k, hi)]
        # "SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])"
        return self.SUBPROOF(m - k, lo + k, hi, False) + [self.MTH(lo, lo + k)]


def hexes(hashes):
    return [h.hex() for h in hashes]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        given = json.load(f)
    tree = Rfc6962([bytes.fromhex(d) for d in given["leaves"]])
    size = len(tree.D)

    failures = []

    def compare(what, theirs, ours):
        if theirs != ours:
            failures.append(f"{what}: Warden {theirs}, RFC 6962 {ours}")

    roots = [tree.MTH(0, n).hex() for n in range(size + 1)]
    for n, root in enumerate(given["roots"]):
        compare(f"root of size {n}", root, roots[n])

    inclusion_hashes = 0
    for m, n, proof in given["inclusion"]:
        inclusion_hashes += len(proof)
        compare(f"PATH({m}, D[{n}])", proof, hexes(tree.PATH(m, 0, n)))

    consistency_hashes = 0
    for m, n, proof in given["consistency"]:
        consistency_hashes += len(proof)
        compare(f"PROOF({m}, D[{n}])", proof, hexes(tree.PROOF(m, n)))

    print(
        f"RFC 6962 judge compared {len(given['roots'])} roots, "
        f"{len(given['inclusion'])} inclusion proofs ({inclusion_hashes} hashes), "
        f"{len(given['consistency'])} consistency proofs ({consistency_hashes} hashes) "
        f"over {size} leaves"
    )
    if failures:
        print(f"{len(failures)} differences; the first ones:")
        for failure in failures[:10]:
            print("  " + failure)
        sys.exit(1)
    print("all identical byte for byte")

    # This judge's own proofs, at pairs of its own choosing.
    rng = random.Random(6962)
    inclusion = []
    for _ in range(3000):
        n = rng.randint(1, size)
        m = rng.randrange(n)
        inclusion.append([m, n, hexes(tree.PATH(m, 0, n))])
    consistency = []
    for i in range(3000):
        n = rng.randint(1, size)
        m = [n, 1, rng.randint(1, n)][i % 3]
        consistency.append([m, n, hexes(tree.PROOF(m, n))])
    with open(sys.argv[2], "w") as f:
        json.dump({"roots": roots, "inclusion": inclusion, "consistency": consistency}, f)
    print(
        f"RFC 6962 judge wrote {len(roots)} roots, {len(inclusion)} inclusion proofs and "
        f"{len(consistency)} consistency proofs of its own"
    )


if __name__ == "__main__":
    main()
