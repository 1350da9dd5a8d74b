#!/usr/bin/env bash
# Installs everything smelt needs on a fresh Debian machine: C compilers (as root, with apt),
# then the package with its test and torch extras.
set -euo pipefail
cd "$(dirname "$0")/.."

# host C compilers; Cortex-M and RISC-V cross toolchains and QEMU (the emulated targets)
APT_PACKAGES="gcc libc6-dev make clang lld \
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm \
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"
command -v node >/dev/null || APT_PACKAGES="$APT_PACKAGES nodejs"   # runs the wasm target
missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages:$missing (run as root or: sudo apt-get install$missing)" >&2
    exit 1
  fi
  echo "setup: apt-get install$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test,torch,train]" 2>&1 | grep -v -E "^WARNING: (Running pip as|Location)" || true
python3 -c "import smelt, onnxruntime, torch" || { echo "setup: python packages did not install" >&2; exit 1; }
