# Default signing policy: may this attested caller get a code-signing certificate, or a
# signature from a named key, and under which builder name?
#
# input.token    the EAR claims of the caller's attestation result (verified by the KBS)
# input.request  {"kind": "certificate" | "dsse", "key": named key or null,
#                 "public-key": {"algorithm", "spki-sha256"} (certificates),
#                 "lifetime-seconds" (certificates),
#                 "statement": {"predicate-type", "builder-id", "subjects"} (dsse)}
# input.kbs      {"issuer"}
#
# Rules: `allow` (boolean) and `builder` (the builder name: the identity becomes
# <issuer>/builders/<builder>). Undefined, non-boolean, non-string or an error all refuse.
#
# Shipped: refuse everything. An operator decides which measured builds may sign; see
# docs/attested-signing.md for an example.
package warden.signing

default allow := false

default builder := ""
