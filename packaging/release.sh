#!/usr/bin/env bash
# A release in one command (docs/RELEASING.md):
#
#   packaging/release.sh [--dry-run] [--no-tests] VERSION
#
# Refuses a dirty tree or a red check (fmt, clippy, the tests); bumps the version;
# moves CHANGELOG.md's [Unreleased] to [VERSION] - DATE after checking that it names
# every migration file and every setting added or changed since the previous tag;
# regenerates openapi/openapi.json; writes this version's upgrade fixture; builds the
# release binary; and writes dist/: the tarball, the .deb, SHA256SUMS and the release
# notes drafted from docs/release-notes-template.md and that CHANGELOG section. Then
# it commits and tags v$VERSION.
#
# --dry-run does all of it in a throw-away worktree — dist/ is written, nothing is
# committed or tagged, the checkout is left as it was. --no-tests skips `cargo test`
# (for CI, which runs them itself).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

dry=0
tests=1
version=
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry=1 ;;
        --no-tests) tests=0 ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "unknown option: $arg" >&2
            exit 2
            ;;
        *) version=$arg ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'release: %s\n' "$*" >&2
    exit 1
}

[ -n "$version" ] || die "usage: packaging/release.sh [--dry-run] [--no-tests] VERSION"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || die "VERSION must be semantic (1.4.0, 1.4.0-rc.1), not $version"
git rev-parse --verify -q "refs/tags/v$version" >/dev/null && die "tag v$version exists already"
[ -z "$(git status --porcelain)" ] || die "the working tree has changes; commit or stash them first"
command -v cargo-deb >/dev/null || die "cargo-deb is missing: cargo install cargo-deb --locked"

since=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null || true)
date=$(date -u +%Y-%m-%d)
arch=$(uname -m)
echo "release $version ($date), changes since ${since:-the beginning}"

step "checks: changelog, cargo fmt, clippy$([ "$tests" -eq 1 ] && echo ', tests')"
python3 packaging/changelog.py check --since "$since" || die "CHANGELOG.md [Unreleased] is incomplete (above)"
cargo fmt --all -- --check || die "cargo fmt --check failed"
cargo clippy --quiet --all-targets -- -D warnings || die "clippy failed"
if [ "$tests" -eq 1 ]; then
    cargo test --quiet || die "the tests failed"
fi

# The release is prepared in a worktree: the checkout itself (dry run) or nothing
# changes until the commit.
work=$(mktemp -d)/tree
git worktree add --quiet --detach "$work" HEAD
cleanup() { git -C "$ROOT" worktree remove --force "$work" 2>/dev/null || true; }
trap cleanup EXIT
export CARGO_TARGET_DIR=$ROOT/target

step "version $version, CHANGELOG section"
(
    cd "$work"
    sed -i "0,/^version = \".*\"/s//version = \"$version\"/" Cargo.toml
    python3 packaging/changelog.py release --since "$since" --version "$version" --date "$date"
)

step "release build"
(cd "$work" && cargo build --release --quiet)
bin=$CARGO_TARGET_DIR/release/telemetry-tracker
"$bin" version | grep -q " $version " || die "the built binary is not $version: $("$bin" version)"

step "OpenAPI document"
"$bin" openapi >"$work/openapi/openapi.json"
git -C "$work" --no-pager diff --stat -- openapi/

step "upgrade fixture tests/fixtures/upgrade/$version"
(cd "$work" && UPGRADE_FIXTURE=1 cargo test --quiet --test upgrade_fixtures -- --ignored write_fixture >/dev/null)
ls "$work/tests/fixtures/upgrade/$version"

step "dist/"
dist=$ROOT/dist
rm -rf "$dist"
mkdir -p "$dist"
name=telemetry-tracker-$version-$arch-linux
stage=$(mktemp -d)/$name
mkdir -p "$stage/packaging"
cp "$bin" "$work/install.sh" "$work/README.md" "$work/CHANGELOG.md" "$stage/"
cp "$work/packaging/telemetry-tracker.service" "$work/packaging/telemetry-tracker.env" "$stage/packaging/"
cp -r "$work/docs" "$stage/"
tar -C "$(dirname "$stage")" -czf "$dist/$name.tar.gz" "$name"
(cd "$work" && cargo deb --no-build --quiet --output "$dist/") || die "cargo deb failed"
python3 "$work/packaging/changelog.py" notes --version "$version" --date "$date" >"$dist/release-notes-$version.md" \
    || die "cannot draft the release notes"
(cd "$dist" && sha256sum ./*.tar.gz ./*.deb >SHA256SUMS)
ls -l "$dist"

if [ "$dry" -eq 1 ]; then
    step "dry run: nothing committed or tagged (dist/ is written)"
    exit 0
fi

step "commit and tag v$version"
cp "$work/Cargo.toml" "$work/Cargo.lock" "$work/CHANGELOG.md" "$ROOT/"
cp "$work/openapi/openapi.json" "$ROOT/openapi/"
mkdir -p "$ROOT/tests/fixtures/upgrade"
cp -r "$work/tests/fixtures/upgrade/$version" "$ROOT/tests/fixtures/upgrade/"
git add Cargo.toml Cargo.lock CHANGELOG.md openapi/openapi.json "tests/fixtures/upgrade/$version"
git commit --quiet -m "Release $version"
git tag -a "v$version" -m "Telemetry Tracker $version"
echo "tagged v$version; push with: git push origin HEAD v$version, then publish dist/"
