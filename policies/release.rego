# Default release policy: may the holder of this attestation result receive this resource?
#
# input.token     the EAR claims of the attestation result (verified by the KBS)
# input.resource  {"path", "repository", "type", "tag"}
#
# Deny unless the result is affirming, from a real (not sample/insecure) TEE, not in debug mode.
package warden.release

default allow := false

primary := input.token.submods.cpu0

allow if {
	primary["ear.status"] == "affirming"
	primary["warden.tee"] != "sample"
	count(object.get(input.token, "warden.insecure", [])) == 0
	not debug_tee
}

debug_tee if {
	some claims in primary["ear.veraison.annotated-evidence"]
	claims.debug == true
}
