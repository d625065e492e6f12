#!/usr/bin/env bash
# Finds (downloading if needed), verifies and extracts the libwebsockets 4.3.5 source tree, then
# applies our own fixes in scripts/lws-patches/*.patch (in name order; each says why it exists).
# Prints the path of the extracted source dir on stdout and nothing else; all logs go to stderr.
#
# Environment:
#   LWSNODE_LWS_SOURCE_DIR  use this already-extracted, already-patched lws source tree as is
#   LWSNODE_LWS_TARBALL     path of the release tarball (default: the cache, see below)
#   LWSNODE_LWS_URL         download the tarball from this URL with curl instead of apt, e.g. the
#                           upstream release https://github.com/warmcat/libwebsockets/archive/refs/tags/v4.3.5.tar.gz
#                           (its hash is not known here, so LWSNODE_LWS_SHA256 is then required)
#   LWSNODE_LWS_SHA256      expected sha256 of a tarball from LWSNODE_LWS_URL
#   LWSNODE_LWS_APT_SUITE   Debian suite whose source package ships 4.3.5 (default: trixie)
#   XDG_CACHE_HOME          cache root (default: ~/.cache); everything lives in <root>/lwsnode
#
# Without LWSNODE_LWS_URL the tarball is Debian's libwebsockets_4.3.5.orig.tar.gz, fetched with
# apt-get from the machine's own Debian mirror through a private, throw-away apt state (the
# system's apt configuration and lists are never touched).
set -euo pipefail

# Everything this script and its children print goes to stderr; only the result goes to stdout.
exec 3>&1 1>&2

log() { printf 'fetch-lws: %s\n' "$*" >&2; }
die() { printf 'fetch-lws: error: %s\n' "$*" >&2; exit 1; }
result() { printf '%s\n' "$1" >&3; exit 0; }

readonly LWS_VERSION=4.3.5
readonly ORIG_NAME="libwebsockets_${LWS_VERSION}.orig.tar.gz"
readonly ORIG_SIZE=15620674
readonly ORIG_SHA256=87f99ad32803ed325fceac5327aae1f5c1b417d54ee61ad36cffc8df5f5ab276

# Our patches, applied in name order (see scripts/lws-patches/README.md).
patchdir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lws-patches"
shopt -s nullglob
patches=("$patchdir"/*.patch)
shopt -u nullglob

# (a) an explicit source tree wins; it is used as is, so it must carry our patches already.
if [[ -n "${LWSNODE_LWS_SOURCE_DIR:-}" ]]; then
  [[ -f "${LWSNODE_LWS_SOURCE_DIR}/CMakeLists.txt" ]] ||
    die "LWSNODE_LWS_SOURCE_DIR=${LWSNODE_LWS_SOURCE_DIR} has no CMakeLists.txt"
  for p in "${patches[@]}"; do
    patch -d "${LWSNODE_LWS_SOURCE_DIR}" -p1 -R --dry-run --force --silent <"$p" >/dev/null 2>&1 ||
      die "LWSNODE_LWS_SOURCE_DIR=${LWSNODE_LWS_SOURCE_DIR} lacks $(basename "$p"): apply scripts/lws-patches/*.patch (patch -p1) or use LWSNODE_LWS_TARBALL"
  done
  log "using LWSNODE_LWS_SOURCE_DIR=${LWSNODE_LWS_SOURCE_DIR}"
  result "${LWSNODE_LWS_SOURCE_DIR}"
fi

cache="${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/lwsnode"
mkdir -p "$cache"

# What we expect: Debian's orig tarball by default, or a user-supplied hash for a URL download.
if [[ -n "${LWSNODE_LWS_URL:-}" ]]; then
  [[ -n "${LWSNODE_LWS_SHA256:-}" ]] ||
    die "LWSNODE_LWS_URL is set but LWSNODE_LWS_SHA256 is not: a downloaded tarball must be verified"
  want_sha=$(printf '%s' "$LWSNODE_LWS_SHA256" | tr 'A-F' 'a-f')
  [[ "$want_sha" =~ ^[0-9a-f]{64}$ ]] || die "LWSNODE_LWS_SHA256 is not a sha256 hex digest"
  want_size=""
  default_tarball="${cache}/libwebsockets-${LWS_VERSION}-${want_sha:0:12}.tar.gz"
else
  want_sha=$ORIG_SHA256
  want_size=$ORIG_SIZE
  default_tarball="${cache}/${ORIG_NAME}"
fi
tarball="${LWSNODE_LWS_TARBALL:-$default_tarball}"

# The tree's name covers the tarball and our patches, so a changed patch set gets a fresh tree.
patch_sha=$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-8)
srcroot="${cache}/src-${want_sha:0:12}-p${patch_sha}"
srcdir="${srcroot}/libwebsockets-${LWS_VERSION}"

# Fast path: trees only appear by an atomic rename after a verified, complete extraction.
if [[ -f "${srcdir}/CMakeLists.txt" ]]; then
  result "$srcdir"
fi

tmp=$(mktemp -d "${cache}/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Succeeds when $1 has the expected size (if known) and sha256.
verify() {
  local f=$1 size sha
  size=$(stat -c %s "$f")
  if [[ -n "$want_size" && "$size" != "$want_size" ]]; then
    log "$f: size ${size}, expected ${want_size}"
    return 1
  fi
  sha=$(sha256sum "$f" | cut -d' ' -f1)
  if [[ "$sha" != "$want_sha" ]]; then
    log "$f: sha256 ${sha}, expected ${want_sha}"
    return 1
  fi
}

# Writes a deb822 deb-src list for suite $2 into $1, derived from the machine's own Debian mirror
# entries (security stanzas are left out: the security archive has no trixie orig tarballs).
derive_sources() {
  local out=$1 suite=$2
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    awk -v suite="$suite" '
      BEGIN { RS = ""; ORS = "\n\n" }
      /security/ { next }
      /Types:/ {
        n = split($0, lines, "\n"); out = ""
        for (i = 1; i <= n; i++) {
          l = lines[i]
          if (l ~ /^Types:/) l = "Types: deb-src"
          else if (l ~ /^Suites:/) l = "Suites: " suite
          out = out l "\n"
        }
        printf "%s\n", out
      }' /etc/apt/sources.list.d/debian.sources >"$out"
  elif [[ -f /etc/apt/sources.list ]]; then
    # One-line format fallback: "deb [opts] URI suite components...".
    awk -v suite="$suite" '
      $1 == "deb" && !/security/ {
        i = 2; opts = ""
        if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts $i " "; i++ } opts = opts $i " "; i++ }
        printf "deb-src %s%s %s main\n", opts, $i, suite
      }' /etc/apt/sources.list >"${out%.sources}.list"
  fi
  [[ -s "$out" || -s "${out%.sources}.list" ]]
}

fetch_with_apt() {
  local dest=$1 suite=${LWSNODE_LWS_APT_SUITE:-trixie}
  command -v apt-get >/dev/null ||
    die "no ${tarball}, and apt-get is not available to fetch it; set LWSNODE_LWS_TARBALL, LWSNODE_LWS_SOURCE_DIR or LWSNODE_LWS_URL"
  local apt="$tmp/apt"
  mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/work"
  derive_sources "$apt/parts/lwsnode.sources" "$suite" ||
    die "could not derive a Debian source list from /etc/apt"
  local -a opts=(
    -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
  )
  log "downloading ${ORIG_NAME} with apt-get (suite ${suite})"
  apt-get -q "${opts[@]}" update || die "apt-get update (private lists) failed"
  # The .dsc and .debian.tar.xz may be missing on the mirror (404) and apt then exits non-zero;
  # all we need is the orig tarball, which apt has verified against the Sources index.
  (cd "$apt/work" && apt-get -q "${opts[@]}" source --download-only libwebsockets) ||
    log "apt-get source exited non-zero (expected when .dsc/.debian.tar.xz are missing); checking for ${ORIG_NAME}"
  [[ -f "$apt/work/${ORIG_NAME}" ]] || die "apt-get did not deliver ${ORIG_NAME}"
  mv -f "$apt/work/${ORIG_NAME}" "$dest"
}

fetch_with_curl() {
  local dest=$1
  command -v curl >/dev/null || die "LWSNODE_LWS_URL is set but curl is not installed"
  log "downloading ${LWSNODE_LWS_URL}"
  curl -fsSL --retry 3 -o "$dest" "$LWSNODE_LWS_URL" || die "download of ${LWSNODE_LWS_URL} failed"
}

# (b) get the tarball.
if [[ -f "$tarball" ]]; then
  if ! verify "$tarball"; then
    if [[ -z "${LWSNODE_LWS_TARBALL:-}" ]]; then
      rm -f "$tarball"
      die "cached ${tarball} is corrupt and was deleted; run the build again to re-download it"
    fi
    die "LWSNODE_LWS_TARBALL=${tarball} does not match the expected size/sha256"
  fi
else
  mkdir -p "$(dirname "$tarball")"
  part=$(mktemp "$(dirname "$tarball")/.$(basename "$tarball").XXXXXX")
  trap 'rm -rf "$tmp" "$part"' EXIT
  if [[ -n "${LWSNODE_LWS_URL:-}" ]]; then
    fetch_with_curl "$part"
  else
    fetch_with_apt "$part"
  fi
  # (c) verify before the file may be used or cached.
  verify "$part" || die "downloaded tarball failed verification (not cached)"
  chmod 644 "$part"
  mv -f "$part" "$tarball"   # atomic: same directory
  log "cached ${tarball}"
fi

# (d) extract into a private dir, then rename into place.
mkdir -p "$srcroot"
ex=$(mktemp -d "${srcroot}/.extract.XXXXXX")
trap 'rm -rf "$tmp" "$ex"' EXIT
log "extracting ${tarball}"
tar -xzf "$tarball" -C "$ex" --no-same-owner
shopt -s nullglob dotglob
top=("$ex"/*)
shopt -u nullglob dotglob
[[ ${#top[@]} -eq 1 && -f "${top[0]}/CMakeLists.txt" ]] ||
  die "unexpected tarball layout: expected one top-level dir with a CMakeLists.txt"
for p in "${patches[@]}"; do
  log "applying $(basename "$p")"
  patch -d "${top[0]}" -p1 --quiet --forward --no-backup-if-mismatch <"$p" ||
    die "$(basename "$p") does not apply to libwebsockets ${LWS_VERSION}"
done
if ! mv -T "${top[0]}" "$srcdir" 2>/dev/null; then
  # Another build extracted it concurrently; use theirs.
  [[ -f "${srcdir}/CMakeLists.txt" ]] || die "could not move the extracted tree to ${srcdir}"
fi
log "lws source: ${srcdir}"
result "$srcdir"
