#!/usr/bin/env bash
# Fuzzes the parsers of untrusted bytes (fuzz/fuzz_targets/*) with cargo-fuzz / libFuzzer.
#
#   bash scripts/fuzz.sh [seconds-per-target [target ...]]     (default 60, every target)
#
# Runs on stable Rust: cargo-fuzz needs nightly-only flags (-Zsanitizer=address, ...), which
# RUSTC_BOOTSTRAP=1 unlocks. Each target starts from its committed seeds (fuzz/seeds/<target>)
# merged into its working corpus (fuzz/corpus/<target>, git-ignored, kept between runs so coverage
# accumulates). Crashing inputs land in fuzz/artifacts/<target>/; logs in fuzz/target/fuzz-logs/.
# Exits non-zero when any target crashed or failed to build.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash scripts/fuzz.sh [seconds-per-target [target ...]]" >&2
  exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))

if [ -f scripts/lib.sh ]; then
  source scripts/lib.sh
  # libfuzzer-sys compiles libFuzzer (C++), openssl-sys links the system OpenSSL.
  ensure_build_dependencies
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
logs=fuzz/target/fuzz-logs
mkdir -p "$logs"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "error: cargo fuzz list found no targets" >&2
  exit 1
fi

# Build every target once up front, so the time budget below is spent fuzzing, not compiling.
# `cargo fuzz run` rebuilds with identical flags, which is then a no-op.
cargo fuzz build

summary=()
failed=0
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  if [ -d "fuzz/seeds/$target" ]; then
    cp -f fuzz/seeds/"$target"/* "$corpus"/
  fi
  # Real SNP evidence seeds the SNP targets; from the evidence sets in tests/vectors.
  snp_vectors=${WARDEN_VECTORS:-tests/vectors}/snp
  if [ -d "$snp_vectors" ]; then
    case $target in
      snp_report) pattern='.*\.\(bin\|hex\|der\|pem\)' ;;
      snp_evidence) pattern='.*\.json' ;;
      *) pattern='' ;;
    esac
    if [ -n "$pattern" ]; then
      while IFS= read -r file; do
        cp -f "$file" "$corpus/vector-$(basename "$(dirname "$file")")-$(basename "$file")"
      done < <(find "$snp_vectors" -type f -regex "$pattern")
    fi
  fi
  # The real TDX CCEL (a GCE COS guest's event log) seeds the event-log target the same way.
  tdx_vectors=${WARDEN_VECTORS:-tests/vectors}/tdx
  ccel_vector=$tdx_vectors/go-tdx-guest-gce-ccel/ccel_data.dat
  if [ "$target" = event_log ] && [ -f "$ccel_vector" ]; then
    cp -f "$ccel_vector" "$corpus/vector-$(basename "$(dirname "$ccel_vector")")-$(basename "$ccel_vector")"
  fi
  # Real TDX quotes (the *.dat/*.bin files that start with a v4/v5 ECDSA quote header, not the
  # CCEL or nonce files beside them) and Intel collateral (JSON, PEM, DER) seed the quote target.
  if [ "$target" = tdx_quote ] && [ -d "$tdx_vectors" ]; then
    while IFS= read -r file; do
      case $file in
        *.dat | *.bin)
          case $(head -c 4 "$file" | od -An -tx1 | tr -d ' \n') in
            04000200 | 05000200) ;;
            *) continue ;;
          esac
          ;;
      esac
      name=$(basename "$(dirname "$file")")-$(basename "$file")
      cp -f "$file" "$corpus/vector-$name"
    done < <(find "$tdx_vectors" -type f -regex '.*\.\(dat\|bin\|json\|pem\|der\|cer\)')
  fi
  # Real TPM and Azure vTPM evidence: quotes (TPMS_ATTEST), evidence JSON and HCL reports, and
  # the GCE and Windows PCR event logs.
  shared=${WARDEN_VECTORS:-tests/vectors}
  case $target in
    tpm_attest) pattern='.*\(tpm_quote\.msg\|tpm-quote\.msg\|ak_pub\.tpmt_public\.bin\)' ;;
    tpm_evidence) pattern='.*\(evidence.*\.json\|tpm_evidence\.json\|hcl-report\.bin\)' ;;
    event_log) pattern='.*\(event_log\.bin\|derived_event_log\.bin\)' ;;
    *) pattern='' ;;
  esac
  if [ -n "$pattern" ]; then
    for dir in "$shared/tpm" "$shared/az-snp-vtpm" "$shared/az-tdx-vtpm"; do
      [ -d "$dir" ] || continue
      while IFS= read -r file; do
        cp -f "$file" "$corpus/vector-$(basename "$(dirname "$file")")-$(basename "$file")"
      done < <(find "$dir" -type f -regex "$pattern")
    done
  fi
  # The shipped policies seed the policy loader's target.
  if [ "$target" = policy_source ]; then
    for file in policies/*.rego; do
      cp -f "$file" "$corpus/shipped-$(basename "$file")"
    done
  fi
  log=$logs/$target.log
  echo "=== fuzzing $target for ${seconds}s (log: $log)" >&2
  status=0
  cargo fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | tee "$log" || status=$?

  # libFuzzer's final stats; "Done N runs" is only printed when the time budget ran out cleanly.
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ -z "$runs" ]; then
    runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  fi
  corpus_size=$(find "$corpus" -type f | wc -l)

  if [ "$status" -eq 0 ]; then
    result="ok"
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ]; then
      result="CRASH (exit $status): input $artifact; reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $target $artifact"
    else
      result="FAILED (exit $status): see $log"
    fi
  fi
  summary+=("$(printf '%-16s executions=%-10s corpus=%-6s %s' "$target" "${runs:-unknown}" "$corpus_size" "$result")")
done

echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
