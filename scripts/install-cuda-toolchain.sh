#!/usr/bin/env bash
# Installs the CUDA toolchain the kernel build needs on Debian 12 (bookworm): Debian's
# nvidia-cuda-toolkit (CUDA 11.8, from the non-free component) and g++-11 (nvcc 11.8 rejects g++ 12).
#
# Idempotent: if nvcc and g++-11 are already there it does nothing. Otherwise it adds the non-free
# component for the Debian mirror this machine already uses, in a separate file
# (/etc/apt/sources.list.d/fingen-non-free.sources), never editing the existing sources, then installs
# the two packages non-interactively. contrib is needed as well: nvidia-cuda-toolkit pulls in libcuda1,
# whose dependency nvidia-support lives in contrib. --no-install-recommends keeps the kernel driver
# (nvidia-kernel-dkms) out; only the user-space libcuda.so.1 comes in, which without a GPU makes cuInit
# report "no device", as on any machine without one. Needs root (or sudo). Exits non-zero on any failure.
#
# On a machine with a newer CUDA (e.g. CUDA 13 under /usr/local/cuda) there is nothing to do: nvcc is
# found and its default host compiler works; g++-11 is only required alongside Debian's nvcc 11.8.
set -euo pipefail

log() { echo "install-cuda-toolchain: $*"; }
die() { echo "install-cuda-toolchain: error: $*" >&2; exit 1; }

# The first nvcc that actually runs: on PATH, then Debian's and NVIDIA's usual places.
find_nvcc() {
  local candidate
  for candidate in "$(command -v nvcc 2>/dev/null || true)" /usr/bin/nvcc /usr/local/cuda/bin/nvcc; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# nvcc's major version, or empty when unknown.
nvcc_major() { { "$1" --version 2>/dev/null || true; } | sed -n 's/.*release \([0-9]*\)\..*/\1/p' | head -n1; }

NVCC="$(find_nvcc || true)"
if [ -n "$NVCC" ]; then
  major="$(nvcc_major "$NVCC")"
  log "found nvcc at $NVCC (CUDA ${major:-unknown})"
  if command -v g++-11 >/dev/null 2>&1; then
    log "found g++-11 at $(command -v g++-11); nothing to do"
    exit 0
  fi
  if [ -n "$major" ] && [ "$major" -ge 12 ]; then
    log "CUDA $major accepts the default host compiler; g++-11 not needed; nothing to do"
    exit 0
  fi
  log "g++-11 missing (CUDA ${major:-unknown} needs it as host compiler); installing it"
fi

# shellcheck source=/dev/null
[ -r /etc/os-release ] && . /etc/os-release
[ "${ID:-}" = "debian" ] || die "this script knows Debian only (ID=${ID:-unknown}); install the CUDA toolkit by hand"
CODENAME="${VERSION_CODENAME:-bookworm}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (no sudo available)"
  SUDO="sudo"
fi

# The Debian mirror this machine uses: first URI of a deb822 file, else first deb line of sources.list.
MIRROR=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # deb822 stanzas: take a URIs line whose stanza lists the main archive suite (not -security).
  m="$(awk -v cn="$CODENAME" '
        /^[[:space:]]*$/ { if (uri != "" && suites ~ ("(^| )" cn "( |$)")) { print uri; exit } uri=""; suites=""; next }
        /^URIs:/   { uri=$2 }
        /^Suites:/ { $1=""; suites=$0; sub(/^ +/, "", suites) }
        END        { if (uri != "" && suites ~ ("(^| )" cn "( |$)")) print uri }' "$f" | head -n1)"
  if [ -n "$m" ]; then MIRROR="$m"; break; fi
done
if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
  MIRROR="$(awk -v cn="$CODENAME" '$1 == "deb" && $0 !~ /security/ {
              for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { if ($(i+1) == cn) { print $i; exit } } }' \
            /etc/apt/sources.list | head -n1)"
fi
if [ -z "$MIRROR" ]; then
  MIRROR="http://deb.debian.org/debian"
  log "no Debian mirror found in the apt sources; using $MIRROR"
else
  log "Debian mirror in use: $MIRROR ($CODENAME)"
fi

LIST=/etc/apt/sources.list.d/fingen-non-free.sources
has_component() {
  grep -rqsE "^(Components:.*[[:space:]]$1([[:space:]]|\$)|deb .*[[:space:]]$1([[:space:]]|\$))" \
    /etc/apt/sources.list /etc/apt/sources.list.d/
}
if [ -f "$LIST" ] || { has_component non-free && has_component contrib; }; then
  log "contrib and non-free are already configured; not adding them"
else
  log "writing $LIST (contrib non-free for $CODENAME and $CODENAME-updates)"
  KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
  {
    echo "# Added by FinGen.Native scripts/install-cuda-toolchain.sh: Debian's nvidia-cuda-toolkit lives in non-free (and needs contrib)."
    echo "Types: deb"
    echo "URIs: $MIRROR"
    echo "Suites: $CODENAME $CODENAME-updates"
    echo "Components: contrib non-free"
    if [ -f "$KEYRING" ]; then echo "Signed-By: $KEYRING"; fi
  } | $SUDO tee "$LIST" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
$SUDO apt-get update || die "apt-get update failed"

PACKAGES=(g++-11)
[ -z "$NVCC" ] && PACKAGES=(nvidia-cuda-toolkit g++-11)
log "apt-get install --no-install-recommends ${PACKAGES[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" \
  || die "apt-get install ${PACKAGES[*]} failed"

NVCC="$(find_nvcc || true)"
[ -n "$NVCC" ] || die "nvcc still not found after installing"
command -v g++-11 >/dev/null 2>&1 || die "g++-11 still not found after installing"
log "done: $("$NVCC" --version | tail -n1); host compiler $(g++-11 --version | head -n1)"
log "build the kernels with: CUDAHOSTCXX=g++-11 scripts/build-kernels.sh"
