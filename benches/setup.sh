# Sourced by the benchmark scripts: ROOT (the checkout), BIN (a release build, made here unless
# BIN is given, e.g. another build to compare) and WORK (a fresh temporary folder; the caller's
# trap removes it).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  BIN="$ROOT/target/release/krayin-etl"
fi
WORK=$(mktemp -d)
