#!/usr/bin/env bash
# Usage: check-addon-symbols.sh ADDON.node NODE_EXECUTABLE [MORE_PROVIDERS...]
# Fails when the addon has an undefined (non-weak) symbol that neither the node binary (plus any
# further ELF files given, e.g. the libuv/libssl a distribution's node links dynamically) nor one
# of the addon's own shared-library dependencies exports. Node dlopen()s addons lazily, so without
# this check such a symbol would only show up as a crash when first called.
# Environment: NM (default nm; a cross build passes its toolchain's), LWSNODE_TARGET_LIB_DIRS
# (colon-separated dirs where the addon's NEEDED libraries are looked up instead of running ldd,
# which cannot inspect another architecture's binaries).
set -euo pipefail
addon=$1
shift
nm=${NM:-nm}

# Everything that may satisfy the addon: node's exports and those of the libraries it needs.
providers=("$@")
if [[ -n "${LWSNODE_TARGET_LIB_DIRS:-}" ]]; then
  IFS=: read -r -a libdirs <<<"$LWSNODE_TARGET_LIB_DIRS"
  while read -r soname; do
    for d in "${libdirs[@]}"; do
      if [[ -f "$d/$soname" ]]; then providers+=("$d/$soname"); break; fi
    done
  done < <(readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
else
  while read -r lib; do
    [[ -n "$lib" && -f "$lib" ]] && providers+=("$lib")
  done < <(ldd "$addon" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
fi

exports=$(for p in "${providers[@]}"; do "$nm" -D --defined-only "$p"; done |
  awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)
needed=$("$nm" -D --undefined-only "$addon" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }' | sort -u)

missing=$(comm -23 <(printf '%s\n' "$needed") <(printf '%s\n' "$exports") | sed '/^$/d' || true)
if [[ -n "$missing" ]]; then
  echo "check-addon-symbols: $addon needs symbols that none of ${providers[*]} exports:" >&2
  printf '  %s\n' $missing >&2
  exit 1
fi
exports_n=$("$nm" -D --defined-only "$addon" | awk 'NF >= 3 && $2 ~ /[TWDBRV]/' | wc -l)
echo "check-addon-symbols: ok ($(printf '%s\n' "$needed" | wc -l) imports resolved, ${exports_n} exports)"
