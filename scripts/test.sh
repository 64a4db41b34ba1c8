#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs every test in the workspace
# (unit tests, policy tests, and end-to-end tests that start the real binaries on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
# The end-to-end tests run the real binaries: build them first, in the same (debug) profile.
cargo build --workspace --bins --locked
cargo test --workspace --locked
