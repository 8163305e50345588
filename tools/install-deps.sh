#!/usr/bin/env bash
# Installs every Debian package and npm package leip needs to build, test and benchmark.
# Idempotent: packages already present are skipped, so a second run costs a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build
  cmake g++ make ninja-build pkg-config
  llvm-16-dev clang-16 lld-16 liblld-16-dev
  # libFuzzer and the sanitizer runtimes for clang-16 (tools/fuzz.sh, build-fuzz)
  libclang-rt-16-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libstb-dev libzstd-dev zlib1g-dev
  # tests and tools
  python3 python3-onnx python3-numpy python3-torch python3-torchvision
  dataset-fashion-mnist
  qemu-user g++-aarch64-linux-gnu libc6-dev-arm64-cross
)

# Headless Chromium renders report.html in e2e_optimize (skipped without it). Not by default:
# it is about 300 MB with its GTK and X libraries, for one check. Ask for it with
# LEIP_INSTALL_CHROMIUM=1 (e.g. LEIP_INSTALL_CHROMIUM=1 ./tools/test.sh -R e2e_optimize).
if [ "${LEIP_INSTALL_CHROMIUM:-0}" = 1 ]; then APT_PACKAGES+=(chromium); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

# Node.js and npm run the ONNX Runtime oracle. Some images ship a newer Node.js whose package
# conflicts with Debian's npm, so only ask apt for them when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  echo "install-deps: installing ${#missing[@]} Debian package(s): ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# ONNX Runtime (peer baseline and test oracle) from npm; --ignore-scripts because its
# post-install step would download a GPU build, which this network does not allow.
ORT_DIR=third_party/onnxruntime-node
if [ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]; then
  echo "install-deps: installing onnxruntime-node into $ORT_DIR"
  mkdir -p "$ORT_DIR"
  npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0 >/dev/null
else
  echo "install-deps: onnxruntime-node present"
fi
