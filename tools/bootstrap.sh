#!/usr/bin/env bash
# Installs the Debian packages chainjit needs, and only those that are missing.
# Idempotent: runs `apt-get update` only when something has to be installed.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config ccache
  llvm-19-dev zlib1g-dev libzstd-dev libedit-dev libxml2-dev libffi-dev
  libboost-graph-dev libfmt-dev doctest-dev libopenblas-dev
  libcli11-dev nlohmann-json3-dev libzip-dev graphviz
  # The ASan+UBSan and libFuzzer build of tools/test-sanitized.sh: clang and
  # its sanitizer runtimes (the version of the LLVM the JIT links).
  clang-19 libclang-rt-19-dev
  # Data-parallel training over MPI (docs/distributed.md) and its tests.
  libopenmpi-dev openmpi-bin
  # The Python package (python/, docs/python.md) for Debian's /usr/bin/python3
  # and its tests.
  pybind11-dev python3-dev python3-numpy python3-pytest
  # ONNX import (docs/onnx.md): the C++ ONNX library and the protobuf headers
  # its CMake package needs; python3-onnx only for the fixture script
  # tests/fixtures/make_onnx_models.py.
  libonnx-dev libprotobuf-dev python3-onnx
  # The word list of the character-level language model (docs/models.md,
  # examples/make_char_words.py): /usr/share/dict/words.
  wamerican
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "bootstrap: run as root (or install sudo) to install: ${missing[*]}" >&2
    exit 1
  }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
