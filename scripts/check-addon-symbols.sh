#!/usr/bin/env bash
# Usage: check-addon-symbols.sh ADDON.node NODE_EXECUTABLE
# Fails when the addon has an undefined (non-weak) symbol that neither the node binary nor one of
# the addon's own shared-library dependencies exports. Node dlopen()s addons lazily, so without
# this check such a symbol would only show up as a crash when first called.
set -euo pipefail
addon=$1 node=$2

# Everything that may satisfy the addon: node's exports and those of the libraries it needs.
providers=("$node")
while read -r lib; do
  [[ -n "$lib" && -f "$lib" ]] && providers+=("$lib")
done < <(ldd "$addon" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

exports=$(for p in "${providers[@]}"; do nm -D --defined-only "$p"; done |
  awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)
needed=$(nm -D --undefined-only "$addon" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }' | sort -u)

missing=$(comm -23 <(printf '%s\n' "$needed") <(printf '%s\n' "$exports") | sed '/^$/d' || true)
if [[ -n "$missing" ]]; then
  echo "check-addon-symbols: $addon needs symbols that $node does not export:" >&2
  printf '  %s\n' $missing >&2
  exit 1
fi
exports_n=$(nm -D --defined-only "$addon" | awk 'NF >= 3 && $2 ~ /[TWDBRV]/' | wc -l)
echo "check-addon-symbols: ok ($(printf '%s\n' "$needed" | wc -l) imports resolved, ${exports_n} exports)"
