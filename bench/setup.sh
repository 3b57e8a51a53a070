#!/usr/bin/env bash
# Installs what `make bench` needs and prints the settings for the harness:
# stunnel4 (Debian), awslambdaric, boto3 and aiohttp (for the backfill peer) in a venv (PyPI),
# and a CA of the bench's own in the system trust store with a certificate for 127.0.0.1 that
# stunnel serves.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(scripts/target-dir.sh)
out=$target/bench-tls

if ! command -v stunnel4 >/dev/null 2>&1 && ! command -v stunnel >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4) >&2 \
      || echo "setup: stunnel4 could not be installed; the HTTPS leg will be skipped" >&2
  else
    echo "setup: not root, stunnel4 not installed; the HTTPS leg will be skipped" >&2
  fi
fi

# The peers' Python packages, pinned, in a virtualenv shared by every checkout on the machine
# (scripts/tools.sh keeps its tools in the same place), so a fresh clone installs nothing again.
peer_packages="awslambdaric==4.2.2 boto3==1.44.18 aiohttp==3.14.5"
venv=$(scripts/tools.sh --home)/bench-peer-$(echo "$peer_packages" | sha256sum | cut -c1-12)
(
  exec 9>"$venv.lock"
  flock 9
  if [ ! -e "$venv/.complete" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $peer_packages >&2
    touch "$venv/.complete"
  fi
)

ca_name=image-ingest-bench-ca
if [ ! -f "$out/server.pem" ]; then
  mkdir -p "$out"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$ca_name" \
    -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$out/ext.cnf"
  openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days 30 -extfile "$out/ext.cnf" -out "$out/server.crt" 2>/dev/null
  cat "$out/server.crt" "$out/server.key" >"$out/server.pem"
fi
if [ "$(id -u)" = 0 ]; then
  if ! cmp -s "$out/ca.pem" "/usr/local/share/ca-certificates/$ca_name.crt"; then
    cp "$out/ca.pem" "/usr/local/share/ca-certificates/$ca_name.crt"
    update-ca-certificates >/dev/null 2>&1
  fi
  echo "BENCH_TLS_DIR=$out"
else
  echo "setup: not root, the bench CA is not trusted; the HTTPS leg will be skipped" >&2
fi
echo "BENCH_PYTHON=$venv/bin/python"
