"""SEV-SNP launch digests from AMD's sev-snp-measure (PyPI), for Warden's differential test
(verifier/tests/measure_snp_differential.rs).

Usage: python3 snp_measure_cases.py < cases.json > results.json

Input: {"images": [PATH, ...], "cases": [CASE, ...]} where CASE is
  {"image": PATH, "vcpus": N, "vcpu": null | {"type": NAME} | {"sig": N}
     | {"family": F, "model": M, "stepping": S},
   "vmm": "QEMU" | "ec2" | "gce", "features": N,
   "kernel": PATH | null, "initrd": PATH | null, "append": STR | null, "full": BOOL}
Output: {"version": V, "ovmf_hashes": {PATH: HEX | {"error": MSG}},
         "results": [{"digest": HEX} | {"error": MSG}, ...]}  (results in case order)

One process for every case: the library entry point, not the CLI, so Python starts once. Each
image's firmware pages are hashed once (calc_snp_ovmf_hash) and passed as the seed, unless the
case asks for the "full" path, which hashes the firmware again.
"""

import importlib.metadata
import json
import sys

from sevsnpmeasure import guest, vcpu_types
from sevsnpmeasure.sev_mode import SevMode
from sevsnpmeasure.vmm_types import VMMType


def error(e: BaseException) -> dict:
    return {"error": f"{type(e).__name__}: {e}"}


def signature(vcpu):
    # The CLI's precedence (family triple, then sig, then type), minus its truthiness test:
    # that quirk is in cli.py only, and the library takes the integer as given.
    if vcpu is None:
        return None
    if "family" in vcpu:
        return vcpu_types.cpu_sig(vcpu["family"], vcpu["model"], vcpu["stepping"])
    if "sig" in vcpu:
        return vcpu["sig"]
    return vcpu_types.CPU_SIGS[vcpu["type"]]


def main() -> None:
    request = json.load(sys.stdin)
    hashes = {}
    for path in request["images"]:
        try:
            hashes[path] = guest.calc_snp_ovmf_hash(path).hex()
        except Exception as e:  # noqa: BLE001 - reported per image, judged by the Rust side
            hashes[path] = error(e)
    results = []
    for case in request["cases"]:
        seed = hashes.get(case["image"])
        try:
            digest = guest.calc_launch_digest(
                SevMode.SEV_SNP,
                case["vcpus"],
                signature(case["vcpu"]),
                case["image"],
                case["kernel"],
                case["initrd"],
                case["append"],
                case["features"],
                "" if case["full"] or not isinstance(seed, str) else seed,
                VMMType[case["vmm"]],
            )
            results.append({"digest": digest.hex()})
        except Exception as e:  # noqa: BLE001 - a refusal is a result to compare
            results.append(error(e))
    json.dump(
        {
            "version": importlib.metadata.version("sev-snp-measure"),
            "ovmf_hashes": hashes,
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
