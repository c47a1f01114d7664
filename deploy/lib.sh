# Shared by the scripts in deploy/ (sourced, not run): where cargo puts its build
# output. Honours CARGO_TARGET_DIR and build.target-dir in a cargo config, which a
# hard-coded `target/` does not (CI checkouts and shared build caches set them).

# The target directory of the package in the current directory, absolute.
target_dir() {
    cargo metadata --no-deps --format-version 1 --locked |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
