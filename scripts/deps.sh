#!/usr/bin/env bash
# Installs what hubgate needs on Debian 12, only what is missing, without prompting.
#   scripts/deps.sh build   toolchain and libraries to build and run hubgate
#   scripts/deps.sh test    + test tools (cmocka, clang/libFuzzer, node + npm packages)
#   scripts/deps.sh bench   + benchmark anchors
set -euo pipefail
cd "$(dirname "$0")/.."

want=(gcc make cmake pkg-config librust-blake3-dev liblz4-dev libssl-dev libjansson-dev
      libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev)
case "${1:-build}" in
  build) ;;
  test)  want+=(libcmocka-dev clang libclang-rt-14-dev python3 curl) ;;
  bench) want+=(python3 curl nginx-light wrk bc) ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
# node and npm may come from elsewhere (for example nodesource); only ask Debian when absent.
if [ "${1:-build}" != build ]; then
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${1:-build}" != build ] && [ ! -d tests/node/node_modules/@huggingface/xetchunk-wasm ]; then
  echo "deps: installing npm test packages"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
