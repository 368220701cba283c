#!/usr/bin/env bash
# Builds and tests the JetBrains plugin's core without Gradle (Gradle and
# Maven Central are not reachable on the project's machines; see
# extensions/jetbrains/README.md):
#   1. tools/deps.sh installs the default JDK (17 or newer; everything is
#      compiled for 17), junit5, gson (apt) and Kotlin (npm);
#   2. kotlinc compiles core/src/main, then core's tests and the e2e tests
#      (e2e/jetbrains) in one call (kotlinc's start-up is most of its time);
#      both are skipped when their sources did not change;
#   3. JUnit 5 runs the unit tests, then (E2E=1) the tests against the real
#      daemon and cluster inside the laptop network namespace;
#   4. the last line is `N passed, N failed` over all runs.
#   E2E=0 bash build.sh     # unit tests only (no cluster, no bin/mirrord)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # extensions/jetbrains
REPO=$(cd "$HERE/../.." && pwd)
JB_DIR=${JB_DIR:-/var/tmp/mirrord-jetbrains}
E2E=${E2E:-1}
export JB_DIR
bash "$HERE/tools/deps.sh"

KH="$JB_DIR/kotlin/node_modules/kotlin-compiler"
KOTLINC="$KH/bin/kotlinc-jvm" # by path: Debian's `kotlin` package may put an old 1.3 kotlinc on PATH
jar_of() { # package file-name: a jar of a Debian package, without hard-coded system paths
  local f; f=$(dpkg -L "$1" | grep -E "/$2\$" | head -n1)
  [ -n "$f" ] || { echo "jar $2 not found in package $1" >&2; exit 1; }
  echo "$f"
}
GSON=$(jar_of libgoogle-gson-java gson.jar)
JUNIT="$(jar_of junit5 junit-jupiter-api.jar):$(jar_of junit5 junit-jupiter-params.jar):$(jar_of libapiguardian-java apiguardian-api.jar):$(jar_of libopentest4j-java opentest4j.jar)"
LAUNCHER=$(jar_of junit5 junit-platform-console-standalone.jar)
STDLIB="$KH/lib/kotlin-stdlib.jar"
KTEST="$KH/lib/kotlin-test.jar:$KH/lib/kotlin-test-junit5.jar"

OUT=${JB_OUT:-$REPO/bin/jetbrains}
mkdir -p "$OUT"
MAIN_SRC="$HERE/core/src/main/kotlin"
TEST_SRC="$HERE/core/src/test/kotlin $REPO/e2e/jetbrains/src/test/kotlin"
digest() { find "$@" -type f -name '*.kt' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16; }

# kotlinc has no incremental mode outside Gradle; a digest of the sources
# (and the compiler version) stands in for it.
compile() { # name digest out args...
  local name=$1 dig=$2 out=$3; shift 3
  if [ "$(cat "$out.digest" 2>/dev/null)" = "$dig" ] && [ -d "$out" ]; then echo "jetbrains: $name is up to date"; return; fi
  rm -rf "$out" "$out.digest"
  local t=$SECONDS
  local log r=0
  log=$("$KOTLINC" -jvm-target 17 -Xjdk-release=17 -Werror "$@" -d "$out" 2>&1) || r=$?
  [ -z "$log" ] || echo "$log"
  [ "$r" = 0 ] || { rm -rf "$out"; echo "jetbrains: compiling $name failed" >&2; exit 1; }
  echo "$dig" > "$out.digest"
  echo "jetbrains: compiled $name in $((SECONDS - t))s"
}
KV=$(cat "$KH/build.txt")
MAIN_DIG=$(echo "$KV $(digest "$MAIN_SRC")")
compile core "$MAIN_DIG" "$OUT/core" -cp "$GSON" "$MAIN_SRC"
# shellcheck disable=SC2086
compile tests "$KV $MAIN_DIG $(digest $TEST_SRC)" "$OUT/tests" -cp "$OUT/core:$GSON:$JUNIT:$KTEST" $TEST_SRC

# The config schema ships inside the plugin (the JSON schema provider
# reads it from the plugin's class loader): copy the generated one next to
# core's classes.
mkdir -p "$OUT/core/schemas" && cp "$REPO/schema/mirrord-schema.json" "$OUT/core/schemas/"

# The IDE adapters (plugin/) are type-checked against compile-only stubs of
# the IntelliJ Platform 2025.3 classes they use (stubs/, javac). The stubs are
# only on the compile classpath, never in the zip; PluginXmlTest checks that.
STUB_SRC="$HERE/stubs/src"
ANNOT="$KH/lib/annotations-13.0.jar" # org.jetbrains.annotations (@NotNull/@Nullable), shipped with Kotlin
STUB_DIG="$(java -version 2>&1 | head -1) $(find "$STUB_SRC" -type f -name '*.java' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
if [ "$(cat "$OUT/stubs.digest" 2>/dev/null)" = "$STUB_DIG" ] && [ -d "$OUT/stubs" ]; then echo "jetbrains: stubs are up to date"; else
  rm -rf "$OUT/stubs" "$OUT/stubs.digest"; t=$SECONDS
  javac -nowarn -encoding UTF-8 --release 17 -d "$OUT/stubs" -cp "$ANNOT" $(find "$STUB_SRC" -name '*.java' | sort)
  (cd "$OUT/stubs" && find . -name '*.class' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort) > "$OUT/stub-classes.txt"
  echo "$STUB_DIG" > "$OUT/stubs.digest"; echo "jetbrains: compiled $(wc -l < "$OUT/stub-classes.txt") stub classes in $((SECONDS - t))s"
fi
PLUGIN_SRC="$HERE/plugin/src/main/kotlin"
compile plugin "$KV $MAIN_DIG $STUB_DIG $(digest "$PLUGIN_SRC")" "$OUT/plugin" -cp "$OUT/core:$OUT/stubs:$GSON" "$PLUGIN_SRC"

# The zip for Settings | Plugins | (gear) | Install Plugin from Disk:
# mirrord-go/lib/{plugin,core,gson}.jar. The packaged plugin.xml gets the
# repo's VERSION and since-build 253 (the Gradle build patches them the
# same way). The Kotlin stdlib is the IDE's and is left out.
VERSION=$(tr -d ' \n' < "$REPO/VERSION")
ZIP="$REPO/bin/mirrord-go-jetbrains-$VERSION.zip"
STAGE="$OUT/zip"
rm -rf "$STAGE" "$ZIP" && mkdir -p "$STAGE/res" "$STAGE/mirrord-go/lib"
cp -r "$HERE/plugin/src/main/resources/." "$STAGE/res/"
sed -i "s|^\(\s*\)<id>\(.*\)</id>|\1<id>\2</id>\n\1<version>$VERSION</version>\n\1<idea-version since-build=\"253\"/>|" "$STAGE/res/META-INF/plugin.xml"
jar --create --date=2026-01-01T00:00:00Z --file "$STAGE/mirrord-go/lib/mirrord-go-jetbrains-$VERSION.jar" -C "$OUT/plugin" . -C "$STAGE/res" .
jar --create --date=2026-01-01T00:00:00Z --file "$STAGE/mirrord-go/lib/mirrord-go-core-$VERSION.jar" -C "$OUT/core" .
cp "$GSON" "$STAGE/mirrord-go/lib/gson.jar"
jar --create --no-manifest --date=2026-01-01T00:00:00Z --file "$ZIP" -C "$STAGE" mirrord-go
echo "jetbrains: assembled $ZIP"

CP="$OUT/core:$OUT/tests:$REPO/e2e/jetbrains/src/test/resources:$GSON:$STDLIB:$KTEST"
passed=0 failed=0 rc=0
# run LOG JAVA-PREFIX... -- SELECTORS...: one console-launcher run, its counts added up.
run() {
  local log=$OUT/$1.log pre=() sel=(); shift
  while [ "$1" != -- ]; do pre+=("$1"); shift; done; shift
  sel=("$@")
  set +e
  "${pre[@]}" java -jar "$LAUNCHER" --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
    -cp "$CP" "${sel[@]}" 2>&1 | tee "$log"
  local r=${PIPESTATUS[0]}
  set -e
  [ "$r" = 0 ] || rc=$r
  local p f
  p=$(sed -nE 's/^\[ *([0-9]+) tests successful *\]$/\1/p' "$log" | head -1)
  f=$(sed -nE 's/^\[ *([0-9]+) tests failed *\]$/\1/p' "$log" | head -1)
  passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0}))
  [ -n "$p$f" ] || failed=$((failed + 1)) # the launcher itself failed
}
t=$SECONDS
run unit env MIRRORD_JB_ZIP="$ZIP" MIRRORD_JB_STUB_CLASSES="$OUT/stub-classes.txt" MIRRORD_JB_VERSION="$VERSION" -- --select-package dev.mirrordgo.core
echo "jetbrains: unit tests took $((SECONDS - t))s"

if [ "$E2E" = 1 ]; then
  # The IDE runs on the developer's laptop: the tests (the "IDE"), the
  # daemon they autostart and the programs they launch run in the laptop
  # network namespace, which reaches only the API server. HOME and the XDG
  # dirs are fresh, so the daemon is the one these tests start.
  CLUSTER_DIR=${CLUSTER_DIR:-/var/tmp/mirrord-e2e-cluster}
  NETNS=${NETNS:-mirrord-laptop}
  BIN=$(realpath "${MIRRORD_BIN:-$REPO/bin/mirrord}")
  [ -x "$BIN" ] || { echo "jetbrains: $BIN is missing: run 'make build'" >&2; exit 1; }
  [ -f "$CLUSTER_DIR/laptop.kubeconfig" ] || { echo "jetbrains: $CLUSTER_DIR/laptop.kubeconfig is missing: run 'make cluster'" >&2; exit 1; }
  RUNDIR=$(mktemp -d /tmp/mrdj.XXXX) # short: unix socket paths are limited to 107 bytes
  chmod 700 "$RUNDIR"
  # The env of everything the "IDE" runs: the tests, the daemon they autostart, `daemon stop` below.
  LAPTOP=(ip netns exec "$NETNS" env -i PATH="$PATH" HOME="$RUNDIR/home" XDG_RUNTIME_DIR="$RUNDIR/run" TMPDIR="$RUNDIR/tmp")
  # On any exit: stop the daemon the tests autostarted (same XDG_RUNTIME_DIR, same netns), or, when the test JVM
  # died before its @AfterAll, the daemon and its runners outlive the run (the agent Jobs keep running); then keep
  # the daemon's log (in the fresh HOME) for a bug report and remove the run dir.
  cleanup_e2e() {
    set +e
    "${LAPTOP[@]}" KUBECONFIG="$CLUSTER_DIR/laptop.kubeconfig" "$BIN" daemon stop > "$RUNDIR/daemon-stop.log" 2>&1
    echo "jetbrains: daemon stop: $(tr '\n' ' ' < "$RUNDIR/daemon-stop.log")"
    rm -rf "$OUT/e2e-logs"; cp -r "$RUNDIR/home/.local/state/mirrord" "$OUT/e2e-logs" 2>/dev/null
    rm -rf "$RUNDIR"
  }
  trap cleanup_e2e EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$RUNDIR/home" "$RUNDIR/run" "$RUNDIR/tmp"
  t=$SECONDS
  run e2e "${LAPTOP[@]}" \
    KUBECONFIG="$CLUSTER_DIR/laptop.kubeconfig" MIRRORD_BIN="$BIN" KUBECTL="$CLUSTER_DIR/bin/kubectl" \
    MIRRORD_DAEMON_WARM_TTL=${MIRRORD_DAEMON_WARM_TTL:-3s} JAVA_HOME="${JAVA_HOME:-}" \
    -- --select-package dev.mirrordgo.e2e
  echo "jetbrains: e2e tests took $((SECONDS - t))s"
fi
echo "$passed passed, $failed failed"
exit "$rc"
