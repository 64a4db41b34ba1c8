# INSECURE example release policy for development with the `sample` TEE (no hardware).
# It releases to any affirming result, including software-only sample evidence. Never use it
# for real secrets; the shipped default (release.rego) refuses sample results.
package warden.release

default allow := false

allow if input.token.submods.cpu0["ear.status"] == "affirming"
