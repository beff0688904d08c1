#!/usr/bin/env bash
# Builds the offline release tarball: dist/skiff-<version>-linux-amd64.tar.gz
#
#   skiff-<version>/
#     bin/skiff          launcher: runs Skiff with the bundled deno, --cached-only, no network
#     libexec/deno       the pinned deno binary (the version scripts/setup pins)
#     app/               Skiff's source (git HEAD, without tests/ and bench/), deno.json,
#                        deno.lock, the vendored node_modules and the built dashboard
#     app/bundle/        what the launcher runs: the daemon bundled and minified from exactly
#                        those sources (scripts/bundle.ts; smaller in memory than the sources)
#     deno_dir/          DENO_DIR used by the launcher (caches only; starts empty)
#     install, uninstall the installer (scripts/install, scripts/uninstall)
#     skiff.service      the systemd unit template (packaging/skiff.service)
#     VERSION
#
# Usage: scripts/release.sh [--output DIR] [--worktree]
#   --output DIR   where the tarball goes (default dist/)
#   --worktree     package the working tree's tracked files instead of git HEAD
# Needs: git, tar, gzip, and the pinned deno (on PATH, or $DENO).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/dist"
FROM=head
while [ $# -gt 0 ]; do
  case "$1" in
    --output) OUT=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --worktree) FROM=worktree; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "release.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

VERSION=$(sed -n 's/^export const SKIFF_VERSION = "\(.*\)";$/\1/p' "$ROOT/core/version.ts")
PINNED=$(sed -n 's/^DENO_VERSION=\(.*\)$/\1/p' "$ROOT/scripts/setup")
DENO=${DENO:-$(command -v deno || true)}
[ -n "$VERSION" ] || { echo "release.sh: cannot read SKIFF_VERSION from core/version.ts" >&2; exit 1; }
[ -n "$DENO" ] && [ -x "$DENO" ] || { echo "release.sh: deno not found; run scripts/setup deps" >&2; exit 1; }
HAVE=$("$DENO" --version | head -1 | cut -d' ' -f2)
if [ "$HAVE" != "$PINNED" ]; then
  echo "release.sh: $DENO is deno $HAVE, but scripts/setup pins $PINNED; run scripts/setup deps" >&2
  exit 1
fi
# The daemon's deno and V8 flags (core/v8_flags.ts), as the compiled binary has them baked in.
RUN_FLAGS=$("$DENO" run --no-config "$ROOT/core/v8_flags.ts")
[ -n "$RUN_FLAGS" ] || { echo "release.sh: cannot read the daemon's flags from core/v8_flags.ts" >&2; exit 1; }
RUN_ENV=$("$DENO" run --no-config "$ROOT/core/v8_flags.ts" --env)
[ -n "$RUN_ENV" ] || { echo "release.sh: cannot read the daemon's environment from core/v8_flags.ts" >&2; exit 1; }
[ -d "$ROOT/node_modules" ] || { echo "release.sh: no node_modules; run: deno install --frozen" >&2; exit 1; }

NAME="skiff-$VERSION"
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/skiff-release.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
DIR="$STAGE/$NAME"
mkdir -p "$DIR/bin" "$DIR/libexec" "$DIR/app" "$DIR/deno_dir"

if [ "$FROM" = head ]; then
  git -C "$ROOT" archive --format=tar HEAD | tar -x -C "$DIR/app"
else
  (cd "$ROOT" && git ls-files -z | xargs -0 tar -c --no-recursion -f -) | tar -x -C "$DIR/app"
fi
rm -rf "$DIR/app/tests" "$DIR/app/bench" "$DIR/app/.ci"
# The npm packages exactly as deno.lock resolved them (nodeModulesDir is "auto").
cp -a "$ROOT/node_modules" "$DIR/app/node_modules"
# The dashboard's browser build (not in git), made from exactly the sources packaged.
(cd "$DIR/app" && "$DENO" run --allow-read --allow-write --allow-run admin/dashboard/build.ts >/dev/null)
# The daemon as it runs: bundled from the packaged sources.
(cd "$DIR/app" && "$DENO" run --allow-all scripts/bundle.ts --outdir "$DIR/app/bundle" >/dev/null)
cp "$DENO" "$DIR/libexec/deno"
cp "$ROOT/scripts/install" "$DIR/install"
cp "$ROOT/scripts/uninstall" "$DIR/uninstall"
cp "$ROOT/packaging/skiff.service" "$DIR/skiff.service"
echo "$VERSION" > "$DIR/VERSION"

cat > "$DIR/bin/skiff" <<'LAUNCHER'
#!/bin/sh
# Skiff launcher (offline release): the bundled deno runs Skiff's bundle (app/bundle, made
# from app/'s sources by scripts/bundle.ts) with the vendored npm packages it leaves out;
# --cached-only means nothing is ever fetched from the network.
# Its deno and V8 flags and its environment are the daemon's own (core/v8_flags.ts, as
# release.sh found them).
set -e
HERE=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
export DENO_DIR="$HERE/deno_dir"
export DENO_NO_UPDATE_CHECK=1
export DENO_NO_PROMPT=1
export @RUN_ENV@
exec "$HERE/libexec/deno" run --cached-only --allow-all @RUN_FLAGS@ \
  --config "$HERE/app/deno.json" \
  "$HERE/app/bundle/main.js" "$@"
LAUNCHER
sed -i -e "s|@RUN_FLAGS@|$RUN_FLAGS|" -e "s|@RUN_ENV@|$RUN_ENV|" "$DIR/bin/skiff"
chmod 0755 "$DIR/bin/skiff" "$DIR/libexec/deno" "$DIR/install" "$DIR/uninstall"

# Prove it before shipping it: the launcher must run with no network at all.
if ! out=$(env -i PATH=/usr/bin:/bin "$DIR/bin/skiff" version 2>&1); then
  echo "release.sh: the staged launcher does not run:" >&2
  echo "$out" >&2
  exit 1
fi
rm -rf "$DIR/deno_dir" && mkdir "$DIR/deno_dir"

mkdir -p "$OUT"
TARBALL="$OUT/$NAME-linux-amd64.tar.gz"
tar -C "$STAGE" --owner=0 --group=0 -czf "$TARBALL.tmp" "$NAME"
mv "$TARBALL.tmp" "$TARBALL"
echo "$TARBALL"
