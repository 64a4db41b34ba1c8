# Shared helpers for the scripts in this directory. Source it; do not run it.

# Installs the Debian packages given as arguments when any is missing (as root, or via sudo).
ensure_debian_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root (or sudo) to install ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# What every build needs beyond the Rust toolchain: a C compiler, OpenSSL headers, and tpm2-tss
# (the agent's default `tpm` feature links it through tss-esapi).
ensure_build_dependencies() {
  ensure_debian_packages build-essential pkg-config libssl-dev ca-certificates libtss2-dev
}

# Waits up to $2 seconds for file $1 to exist and be non-empty.
wait_for_file() {
  local file=$1 seconds=${2:-30}
  for _ in $(seq $((seconds * 10))); do
    [ -s "$file" ] && return 0
    sleep 0.1
  done
  echo "error: $file did not appear within ${seconds}s" >&2
  return 1
}

# What the TPM tests and demo need beyond the build: the software TPM (swtpm, swtpm_setup and
# its local CA).
ensure_tpm_dependencies() {
  ensure_debian_packages libtss2-dev swtpm swtpm-tools
}

# The DSSE interoperability test checks Warden's envelopes with securesystemslib (the in-toto
# project's signing library) from PyPI, and Warden checks securesystemslib's. The Sigstore bundle
# test (tests/interop/sigstore_bundle.py) judges Warden's bundles with the Sigstore project's own
# models: sigstore-models (strict pydantic) and sigstore-protobuf-specs (the generated protobuf
# classes). Their versions are pinned and checked: the judge relies on their exact behaviour.
SECURESYSTEMSLIB='securesystemslib[crypto]==1.6.0'
SIGSTORE_MODELS='sigstore-models==0.0.6'
SIGSTORE_PROTOBUF_SPECS='sigstore-protobuf-specs==0.5.2'
# The stock Sigstore client: its SCT check judges the SCTs Warden's CA embeds.
SIGSTORE='sigstore==4.5.1'
# AMD's launch-digest calculator: the judge of `warden-verifier measure snp` (pinned: 0.0.13
# changed ec2's VMSA, later versions change zero-page handling).
SEV_SNP_MEASURE='sev-snp-measure==0.0.13'
ensure_python_dependencies() {
  if python3 -c "
import securesystemslib.dsse, cryptography
import sigstore_models.bundle.v1, sigstore_protobuf_specs.dev.sigstore.bundle.v1
from importlib.metadata import version
assert version('sigstore-models') == '${SIGSTORE_MODELS#*==}'
assert version('sigstore-protobuf-specs') == '${SIGSTORE_PROTOBUF_SPECS#*==}'
assert version('sigstore') == '${SIGSTORE#*==}'
assert version('sev-snp-measure') == '${SEV_SNP_MEASURE#*==}'
" 2>/dev/null; then
    return
  fi
  if ! python3 -m pip --version >/dev/null 2>&1; then
    ensure_debian_packages python3 python3-pip
  fi
  local packages=("$SECURESYSTEMSLIB" "$SIGSTORE_MODELS" "$SIGSTORE_PROTOBUF_SPECS" "$SIGSTORE"
    "$SEV_SNP_MEASURE")
  # Debian's own Python refuses system-wide pip installs unless told (PEP 668).
  python3 -m pip install --quiet "${packages[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "${packages[@]}"
}
