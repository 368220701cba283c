#!/usr/bin/env bash
# Installs what `make jetbrains` needs, only when it is missing, so a warm
# run costs well under a second and a cold CI clone gets everything from
# the project's own files:
#   - Debian: the default JDK (javac, java; 17 or newer, the package
#     e2e/e2e.mk installs too; build.sh compiles for 17: javac --release
#     17, kotlinc -jvm-target 17 -Xjdk-release=17), junit5 (console
#     launcher + Jupiter) and gson. Maven Central is not reachable here,
#     so these come from apt.
#   - npm: the Kotlin compiler. The kotlin-compiler package is a full
#     Kotlin distribution (kotlinc-jvm, stdlib, kotlin-test-junit5).
# apt needs root; JB_DIR (default /var/tmp/mirrord-jetbrains) holds Kotlin.
set -euo pipefail
JB_DIR=${JB_DIR:-/var/tmp/mirrord-jetbrains}
KOTLIN_VERSION=${KOTLIN_VERSION:-2.4.20}
DEBS="default-jdk-headless junit5 libgoogle-gson-java npm"

installed=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' $DEBS 2>/dev/null || true) "
missing=""
for p in $DEBS; do
  case "$installed" in *" $p:installed "*) ;; *) missing="$missing $p" ;; esac
done
# npm may come with Node.js itself (NodeSource builds) rather than as a package.
if command -v npm >/dev/null; then missing=${missing/ npm/}; fi
if [ -n "${missing// /}" ]; then
  [ "$(id -u)" = 0 ] || { echo "jetbrains deps: installing$missing needs root (apt-get)" >&2; exit 1; }
  echo "jetbrains deps: installing$missing"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

# build.txt inside the distribution names its version: a changed
# KOTLIN_VERSION reinstalls, an unchanged one is a no-op.
KH="$JB_DIR/kotlin/node_modules/kotlin-compiler"
if [ ! -x "$KH/bin/kotlinc-jvm" ] || [ "$(cat "$KH/build.txt" 2>/dev/null)" != "$KOTLIN_VERSION" ]; then
  echo "jetbrains deps: npm install kotlin-compiler@$KOTLIN_VERSION into $JB_DIR/kotlin"
  mkdir -p "$JB_DIR/kotlin"
  npm install --no-save --no-audit --no-fund --prefix "$JB_DIR/kotlin" "kotlin-compiler@$KOTLIN_VERSION"
fi
