# Default appraisal policy: verified claims + reference values -> AR4SI trustworthiness vector.
#
# input.tee               TEE name ("sample", later "snp", "tdx", ...)
# input.claims            claims the TEE verifier produced after checking signatures and binding
# input.reference_values  operator reference values, grouped by name (by convention the TEE name)
# input.insecure          true for TEEs with no hardware root of trust (sample)
#
# AR4SI values: 2 affirming, 32..95 warning, 96..127 contraindicated, 0 no claim.
# Anything not positively matched against a reference value is at best a warning.
package warden.appraisal

reference := object.get(input.reference_values, input.tee, {})

# The verifier only calls this policy once the evidence is bound to the session's nonce and key.
instance_identity := 2

# Insecure TEEs make no hardware claim; real TEEs reach here only after endorsement checks.
hardware := 0 if input.insecure else := 2

# Debug-mode TEEs are contraindicated: their memory can be read by the host.
configuration := 96 if object.get(input.claims, "debug", false) == true else := 0

default executables := 33

executables := 2 if {
	input.tee == "sample"
	min_svn := reference.min_svn
	is_number(min_svn)
	input.claims.svn >= min_svn
}

trust_vector := {
	"instance-identity": instance_identity,
	"hardware": hardware,
	"configuration": configuration,
	"executables": executables,
}
