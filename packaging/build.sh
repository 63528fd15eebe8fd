#!/usr/bin/env bash
# Builds the Linux desktop install: the PyInstaller one-folder bundle (packaging/weavegraph-studio.spec) and a
# .deb around it (files under /opt/weavegraph-studio, launchers in /usr/bin, .desktop entry, icons, metainfo).
# Usage: packaging/build.sh [--xz] [--out DIR] [--no-deb] [--check]
#   --xz      xz-compress the .deb (release size; slow). Default: zstd (fast).
#   --out     output folder (default packaging/out): DIR/dist/weavegraph-studio/ and DIR/*.deb
#   --no-deb  build the bundle only
#   --check   run the bundle's --self-test offscreen afterwards
# Environment: PYTHON (default .venv/bin/python, set up by scripts/setup.sh package when PyInstaller is missing);
# WEAVEGRAPH_STRIP=0 keeps debug symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
compress=zstd out=packaging/out deb=1 check=0
while [ $# -gt 0 ]; do
    case "$1" in
    --xz) compress=xz ;;
    --out)
        out="$2"
        shift
        ;;
    --no-deb) deb=0 ;;
    --check) check=1 ;;
    *)
        sed -n '4,9p' "$0" >&2
        exit 2
        ;;
    esac
    shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { echo "build: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
mib() { du -sb "$1" | awk '{ printf "%.1f MB", $1 / 1000000 }'; }

py="${PYTHON:-.venv/bin/python}"
if ! "$py" -c 'import PyInstaller' >/dev/null 2>&1; then
    say "PyInstaller is missing in $py: running scripts/setup.sh package"
    bash scripts/setup.sh package
    py=.venv/bin/python
fi
for tool in objcopy ldd; do
    command -v "$tool" >/dev/null || {
        say "'$tool' is missing (Debian: apt-get install binutils)"
        exit 1
    }
done
[ "$deb" = 0 ] || command -v dpkg-deb >/dev/null || {
    say "dpkg-deb is missing (it comes with dpkg on Debian and Ubuntu); use --no-deb for the bundle alone"
    exit 1
}

# ---------------------------------------------------------------- the bundle

started=$(now)
bundle="$out/dist/weavegraph-studio"
say "PyInstaller: $bundle"
"$py" -m PyInstaller --noconfirm --log-level WARN --distpath "$out/dist" --workpath "$out/build" \
    packaging/weavegraph-studio.spec
say "bundle built in $(elapsed "$started"): $(mib "$bundle")"

# Every library a bundled binary links to must resolve inside the bundle or on the system. Wayland's client
# libraries are optional (the wayland platform plugin is only loaded in a Wayland session, where they exist).
missing=$(cd "$bundle/_internal" && find . -name '*.so*' -type f -print0 |
    LD_LIBRARY_PATH="$bundle/_internal:$bundle/_internal/PySide6/Qt/lib" xargs -0 -n 50 ldd 2>/dev/null |
    awk '/not found/ { print $1 }' | sort -u | grep -v '^libwayland-' || true)
if [ -n "$missing" ]; then
    say "libraries that bundled binaries need but neither the bundle nor this system has:" $missing
    say "install them on the build machine (as root: bash scripts/setup.sh package) and build again"
    exit 1
fi

if [ "$check" = 1 ]; then
    scratch=$(mktemp -d)
    HOME="$scratch" XDG_CONFIG_HOME="$scratch/config" XDG_DATA_HOME="$scratch/data" \
        XDG_CACHE_HOME="$scratch/cache" QT_QPA_PLATFORM=offscreen "$bundle/weavegraph-studio" --self-test
    rm -rf "$scratch"
fi
[ "$deb" = 1 ] || exit 0

# ---------------------------------------------------------------- the .deb

started=$(now)
# (no `| head` in these pipelines: under pipefail the writer's SIGPIPE would fail the script)
version=$(sed -n '/^\[project\]/,/^\[/s/^version = "\(.*\)"$/\1/p' pyproject.toml)
arch=$(dpkg --print-architecture)
glibc=$(getconf GNU_LIBC_VERSION | cut -d' ' -f2) # the floor of what this machine's libraries were built for
stage="$out/deb-root"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
    "$stage/usr/share/metainfo" "$stage/usr/share/doc/weavegraph-studio" "$stage/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$stage/opt/weavegraph-studio"
# relative links, so the package also works unpacked into a folder (dpkg -x) and not only installed in /
ln -s ../../opt/weavegraph-studio/weavegraph-studio "$stage/usr/bin/weavegraph-studio"
ln -s ../../opt/weavegraph-studio/weavegraph "$stage/usr/bin/weavegraph"
install -m 0644 resources/weavegraph-studio.desktop "$stage/usr/share/applications/"
install -m 0644 resources/org.weavegraph.Studio.metainfo.xml "$stage/usr/share/metainfo/"
install -m 0644 resources/icons/weavegraph.svg "$stage/usr/share/icons/hicolor/scalable/apps/weavegraph-studio.svg"
for png in resources/icons/weavegraph-*.png; do
    size=$(basename "$png" .png)
    size=${size#weavegraph-}
    mkdir -p "$stage/usr/share/icons/hicolor/${size}x${size}/apps"
    install -m 0644 "$png" "$stage/usr/share/icons/hicolor/${size}x${size}/apps/weavegraph-studio.png"
done
cat >"$stage/usr/share/doc/weavegraph-studio/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: weavegraph-studio
Comment: The folder /opt/weavegraph-studio is a PyInstaller bundle: it carries CPython (PSF License), Qt 6 and
 PySide6 (LGPL-3.0), numpy (BSD-3-Clause) and the other Python packages listed in the project's
 pyproject.toml, each under its own license.

Files: *
License: MIT
EOF
chmod -R u+rwX,go+rX,go-w "$stage"
cat >"$stage/DEBIAN/control" <<EOF
Package: weavegraph-studio
Version: $version
Architecture: $arch
Maintainer: Weavegraph maintainers <maintainers@weavegraph.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: libc6 (>= $glibc), libgl1, libegl1, libxcb1, libx11-6, libxkbcommon-x11-0, libdbus-1-3, fontconfig,
 fonts-dejavu-core
Section: devel
Priority: optional
Description: desktop studio for asyncio graph workflows
 Weavegraph Studio draws graph workflows, runs and steps them, and browses, compares and prunes the
 checkpoints they leave in SQLite or PostgreSQL. The package also installs the headless command-line
 tool weavegraph. Self-contained: Python, Qt and the other libraries live in /opt/weavegraph-studio.
EOF
package="$out/weavegraph-studio_${version}_${arch}.deb"
rm -f "$package"
dpkg-deb --root-owner-group -Z"$compress" --build "$stage" "$package" >/dev/null
rm -rf "$stage"
say ".deb ($compress) built in $(elapsed "$started"): $package, $(mib "$package")"
echo "$package"
