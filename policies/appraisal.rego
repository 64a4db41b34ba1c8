# Default appraisal policy: verified claims + reference values -> AR4SI trustworthiness vector.
#
# input.tee               TEE name ("sample", "snp", ...)
# input.claims            claims the TEE verifier produced after checking signatures and binding
# input.reference_values  operator reference values, grouped by name (by convention the TEE name)
# input.insecure          true for results with no hardware root of trust (sample, sim-snp)
# input.init_data         the init-data document the evidence binds ({"version", "algorithm",
#                         "data"}), or null when the client presented none
#
# AR4SI values: 2 affirming, 32..95 warning, 96..127 contraindicated, 0 no claim.
# Anything not positively matched against a reference value is at best a warning.
#
# The reference values of each TEE (keys, types, the claim each constrains, meaning) are
# defined once in verifier/src/reference.rs and documented in docs/reference-values.md; a test
# checks that this policy reads exactly those keys.
package warden.appraisal

reference := object.get(input.reference_values, input.tee, {})

# The verifier only calls this policy once the evidence is bound to the session's nonce and key.
instance_identity := 2

# Insecure results make no hardware claim; real TEEs reach here only after endorsement checks.
# Firmware below the operator's minimum TCB is genuine but outdated: a warning.
hardware := 0 if input.insecure
else := 96 if tdx_tcb_refused
else := 32 if tcb_below_minimum
else := 32 if tdx_tcb_not_accepted
else := 2

tcb_below_minimum if {
	some component, minimum in object.get(reference, "min_tcb", {})
	input.claims.reported_tcb[component] < minimum
}

# Intel's verdict on the platform TCB (the verifier already refused Revoked and unknown levels).
accepted_tcb_statuses := object.get(reference, "accepted_tcb_statuses", ["UpToDate"])

# The claims of the hardware report: top level for SNP and TDX, nested for Azure vTPM evidence.
hardware_claims := input.claims.snp if input.tee == "az-snp-vtpm"
else := input.claims.tdx if input.tee == "az-tdx-vtpm"
else := input.claims

tdx_tcb_status := hardware_claims.tcb_status if input.tee in {"tdx", "az-tdx-vtpm"}

tdx_tcb_not_accepted if {
	status := tdx_tcb_status
	not status in accepted_tcb_statuses
}

tdx_tcb_refused if {
	tdx_tcb_not_accepted
	startswith(tdx_tcb_status, "OutOfDate")
}

# Debug-mode TEEs are contraindicated (the host can read their memory) unless a reference value
# explicitly allows them; so are other launch-policy choices the operator has ruled out.
configuration := 96 if count(configuration_violations) > 0 else := 0

configuration_violations contains "debug" if {
	object.get(hardware_claims, "debug", false) == true
	not reference.allow_debug == true
}

configuration_violations contains "migrate_ma" if {
	input.claims.migrate_ma == true
	not reference.allow_migrate_ma == true
}

configuration_violations contains "smt" if {
	input.claims.smt == true
	reference.allow_smt == false
}

configuration_violations contains "vmpl" if {
	allowed := reference.vmpls
	not input.claims.vmpl in allowed
}

configuration_violations contains "ak_key" if {
	allowed := reference.ak_keys
	not input.claims.ak.spki_sha256 in allowed
}

configuration_violations contains "secure_boot" if {
	reference.require_secure_boot == true
	not input.claims.event_log.secure_boot == true
}

configuration_violations contains "signing_key" if {
	allowed := reference.signing_keys
	not input.claims.signing_key in allowed
}

default executables := 33

executables := 2 if {
	input.tee == "sample"
	min_svn := reference.min_svn
	is_number(min_svn)
	input.claims.svn >= min_svn
}

executables := 2 if {
	input.tee == "snp"
	input.claims.measurement in reference.measurements
	listed_or_unrestricted("host_data", "host_data")
	listed_or_unrestricted("id_key_digests", "id_key_digest")
	listed_or_unrestricted("author_key_digests", "author_key_digest")
	input.claims.guest_svn >= object.get(reference, "min_guest_svn", 0)
}

executables := 2 if {
	input.tee == "tdx"
	input.claims.mr_td in reference.mr_td
	every name in ["mr_seam", "mr_config_id", "mr_owner", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "xfam"] {
		listed_or_unrestricted(name, name)
	}
}

executables := 2 if {
	input.tee in {"tpm", "az-snp-vtpm", "az-tdx-vtpm"}
	pcrs_listed
	listed_or_unrestricted_in(hardware_claims, "measurements", "measurement")
	listed_or_unrestricted_in(hardware_claims, "mr_td", "mr_td")
	logged_events_allowed
}

logged_events_allowed if not reference.event_digests

# Each listed PCR was replayed from the event log the verifier matched against the quote (a log
# leaving out a PCR's events proves nothing about them), and each of its events is listed.
logged_events_allowed if {
	log := input.claims.event_log
	every pcr, allowed in reference.event_digests {
		# Canonical indexes only ("04" would name no logged events and hold vacuously).
		format_int(to_number(pcr), 10) == pcr
		to_number(pcr) in log.replayed_pcrs
		every event in object.get(log.pcr_events, pcr, []) {
			event.digest in allowed
		}
	}
}

# Every PCR the reference values list holds one of its allowed values, and at least one is listed.
pcrs_listed if {
	listed := [value | some bank, values in reference.pcrs; some pcr, value in values]
	count(listed) > 0
	every bank, values in reference.pcrs {
		every pcr, allowed in values {
			input.claims.pcrs[bank][pcr] in allowed
		}
	}
}

listed_or_unrestricted_in(_, list, _) if not reference[list]

listed_or_unrestricted_in(claims, list, claim) if claims[claim] in reference[list]

listed_or_unrestricted(list, _) if not reference[list]

listed_or_unrestricted(list, claim) if input.claims[claim] in reference[list]

trust_vector := {
	"instance-identity": instance_identity,
	"hardware": hardware,
	"configuration": configuration,
	"executables": executables,
}
