#!/usr/bin/env bash
# Builds the Debian package ozgsync_*.deb and checks what is in it. The man pages and
# the shell completions are generated here from the binary being packaged (not
# committed), so they always describe exactly that binary.
#
# With cargo-deb installed (`cargo install cargo-deb --locked`): `cargo deb`, then
# the .deb's file list must hold every asset of [package.metadata.deb] in Cargo.toml,
# its conffiles the config, its maintainer scripts the user creation; the extracted
# binary must run and accept the extracted config; as root, with the Debian root
# deploy/check-image.py caches, it is installed and removed with apt in a chroot.
# Without cargo-deb: the release build, the generated files, and every asset's
# source path are checked instead.
# Usage: deploy/build-deb.sh            (the .deb lands in <target dir>/debian/)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

target=$(target_dir)
cargo build --release --locked --bin ozgsync
bin="$target/release/ozgsync"

rm -rf "$target/release/man"
mkdir -p "$target/release/completions" "$target/release/man"
"$bin" man --dir "$target/release/man"
gzip -9n "$target/release/man"/*.1
"$bin" completions bash >"$target/release/completions/ozgsync"
"$bin" completions zsh >"$target/release/completions/_ozgsync"
"$bin" completions fish >"$target/release/completions/ozgsync.fish"

# Every asset as "source<TAB>installed path", target/release/ mapped to the real
# target dir as cargo-deb maps it.
assets() {
    python3 - "$target" <<'PY'
import glob, os, sys, tomllib
target = sys.argv[1]
with open("Cargo.toml", "rb") as f:
    deb = tomllib.load(f)["package"]["metadata"]["deb"]
for pattern, dest, _mode in deb["assets"]:
    if pattern.startswith("target/release/"):
        pattern = os.path.join(target, pattern[len("target/"):])
    # A glob (the man pages) names every file it matches, or itself when none does.
    for source in sorted(glob.glob(pattern)) or [pattern]:
        path = dest + os.path.basename(source) if dest.endswith("/") else dest
        print(f"{source}\t/{path.lstrip('/')}")
PY
}

fail=0
if ! cargo deb --version >/dev/null 2>&1; then
    while IFS=$'\t' read -r source dest; do
        if [ ! -f "$source" ]; then
            echo "missing asset for $dest: $source"
            fail=1
        fi
    done < <(assets)
    [ "$fail" -eq 0 ] || exit 1
    echo "deb metadata ok (cargo-deb not installed: assets checked, no .deb built)"
    exit 0
fi

cargo deb --no-build --locked --strip --output "$target/debian/" >"$target/debian-build.log"
deb=$(ls -t "$target"/debian/ozgsync_*.deb | head -n1)
contents=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#')
while IFS=$'\t' read -r _source dest; do
    if ! grep -qxF "$dest" <<<"$contents"; then
        echo "$deb lacks $dest"
        fail=1
    fi
done < <(assets)
if ! dpkg-deb --info "$deb" conffiles | grep -qxF /etc/ozgsync/ozgsync.toml; then
    echo "$deb: /etc/ozgsync/ozgsync.toml is not a conffile"
    fail=1
fi
if ! dpkg-deb --info "$deb" postinst | grep -q 'systemd-sysusers ozgsync.conf'; then
    echo "$deb: postinst does not create the ozgsync user"
    fail=1
fi
# The packaged binary runs and accepts the packaged config.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb --extract "$deb" "$root"
"$root/usr/bin/ozgsync" --version >/dev/null
"$root/usr/bin/ozgsync" --quiet config check --config "$root/etc/ozgsync/ozgsync.toml" || fail=1
[ "$fail" -eq 0 ] || exit 1

# `apt install ./ozgsync_*.deb` for real, in a chroot of the minimal Debian that
# deploy/check-image.py caches (.ci/run runs that first): the user is created,
# the binary runs the config; removing keeps config, user and data.
debian="$target/image-check/debian-bookworm-minbase.tar"
if [ "$(id -u)" -ne 0 ] || [ ! -f "$debian" ]; then
    echo "deb ok: $deb (not installed: needs root and $debian from deploy/check-image.py)"
    exit 0
fi
chroot_dir=$(mktemp -d)
trap 'rm -rf "$root" "$chroot_dir"' EXIT
tar -C "$chroot_dir" -xf "$debian"
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
cp "$deb" "$chroot_dir/tmp/"
chroot "$chroot_dir" /bin/sh -ec "
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq /tmp/$(basename "$deb") >/dev/null
    getent passwd ozgsync >/dev/null
    ozgsync --version >/dev/null
    test -f /usr/share/man/man1/ozgsync-sync.1.gz
    ozgsync --quiet config check --config /etc/ozgsync/ozgsync.toml
    apt-get remove -y -qq ozgsync >/dev/null
    test -f /etc/ozgsync/ozgsync.toml && getent passwd ozgsync >/dev/null
" || { echo "$deb: apt install/remove in a Debian chroot failed"; exit 1; }
echo "deb ok: $deb (installed and removed with apt in a Debian chroot)"
