#!/usr/bin/env bash
# Installs the command-line tools the Makefile needs, only where they are missing.
# Usage: scripts/tools.sh cargo-lambda moto cfn-lint sam
set -euo pipefail

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
}

for tool in "$@"; do
  case "$tool" in
    cargo-lambda) command -v cargo-lambda >/dev/null 2>&1 || pip_install cargo-lambda ;;
    moto) command -v moto_server >/dev/null 2>&1 || pip_install "moto[server]" ;;
    cfn-lint) command -v cfn-lint >/dev/null 2>&1 || pip_install cfn-lint ;;
    sam) command -v sam >/dev/null 2>&1 || pip_install aws-sam-cli ;;
    arm64)
      rustup target list --installed | grep -q aarch64-unknown-linux-gnu \
        || rustup target add aarch64-unknown-linux-gnu ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done
