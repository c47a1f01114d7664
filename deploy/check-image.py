#!/usr/bin/env python3
"""Replays deploy/Dockerfile without a container engine and fails when the image
would not build or not run.

CI machines have no container engine and no image registry, so `docker build`
cannot run there. This script does what the build would do, step by step, from
the Dockerfile itself (not from a copy of its steps):

- every FROM must be pinned to an exact version (no `latest`, no `1-bookworm`);
  the Rust image's version must be the toolchain running this check, because the
  build stage runs with it;
- the build context is this checkout filtered by `.dockerignore` (Docker's rules:
  `*` stays within one path segment, `**` crosses them, a pattern also excludes
  what lies below a matching directory, `!` re-includes, the last match wins);
  a COPY of a path that is not in the context fails as it would in Docker;
- the Rust stage runs its RUN lines with this machine's cargo in a scratch copy
  of its WORKDIR, its `target/` there as in the image, from nothing like a
  `docker build --no-cache` (only cargo's download cache is shared). Not this
  checkout's build dir: cargo names the package's artefacts by its path relative
  to the workspace, so a scratch copy and the checkout collide there, and a build
  of the stub was seen taken as fresh;
- the Debian stage runs in a chroot of a minimal Debian made by debootstrap for
  the pinned release (cached beside it): its RUN lines (apt-get, useradd, the
  config check) run there as root, COPY --from copies the built files in;
- the image's config must read sources from URLs or VOLUMEs and put the
  database and the exports in VOLUMEs;
- then the image is started as it would be: the HEALTHCHECK must fail on an
  empty /data without creating a database; with the bundled fixtures mounted as
  its sources, the CMD (the daemon) must start as the USER with the ENV, create
  its database in the VOLUME, turn the HEALTHCHECK healthy, sync, write every
  export into its VOLUME, and exit 0 on the STOPSIGNAL.

Needs root (chroot, chown) and debootstrap (`apt-get install debootstrap`).
Usage: deploy/check-image.py [--keep] [--dockerfile FILE]
  --keep        leave the scratch root (build and image filesystems) for a look
  --dockerfile  replay another Dockerfile against this checkout's context
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"  # --dockerfile replaces it

# Debian major release → the suite debootstrap knows it by.
DEBIAN_SUITES = {"11": "bullseye", "12": "bookworm", "13": "trixie"}


class ImageError(Exception):
    """The image would not build or not run; the message says where and why."""


def fail(line, message):
    raise ImageError(f"{DOCKERFILE}:{line}: {message}")


# --- the Dockerfile -----------------------------------------------------------


def instructions(text):
    """(line number, KEYWORD, argument text) per instruction, continuations joined."""
    out, buf, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, rest = buf.partition(" ")
        out.append((start, keyword.upper(), rest.strip()))
        buf = ""
    if buf:
        fail(start, "the file ends inside a continued instruction")
    return out


def exec_form(args):
    """A JSON array argument (`["a", "b"]`) as a list, else None."""
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return None


def command_of(args):
    """RUN/CMD/ENTRYPOINT argument as argv: exec form as is, shell form via sh -c."""
    return exec_form(args) or ["/bin/sh", "-c", args]


def parse_env(args):
    """ENV a=b c="d e" (and the old `ENV a b`) as a dict."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words)


def split_flags(args):
    """`--from=build a b` → ({"from": "build"}, ["a", "b"])."""
    flags, words = {}, shlex.split(args)
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words


def check_pinned(line, image):
    name, _, digest = image.partition("@")
    tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
    if digest.startswith("sha256:"):
        return
    if not re.search(r"\d+\.\d+", tag):
        fail(line, f"base image {image!r} floats: pin an exact version (e.g. 1.95.0-bookworm, 12.11-slim)")


# --- the build context ----------------------------------------------------------


def pattern_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"  # any number of directories, none included
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore():
    """(negated, regex, text) per .dockerignore pattern, in order."""
    path = ROOT / ".dockerignore"
    rules = []
    if not path.exists():
        return rules
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        text = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, pattern_regex(text), text))
    return rules


def ignored(rel, rules):
    """Docker's rule: the last pattern matching the path or a parent of it wins."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex, _ in rules:
        if any(regex.match(p) for p in prefixes):
            excluded = not negated
    return excluded


def context_files():
    """Every file Docker would send, as paths relative to the checkout."""
    rules = dockerignore()
    keep_dirs = [text for negated, _, text in rules if negated]
    files = set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir
        # Skip an excluded directory unless an exception could re-include below it
        # (what Docker does too; it keeps target/ from being walked).
        for d in list(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d == ".git" or (
                ignored(rel, rules) and not any(k.startswith(rel + "/") or k == rel for k in keep_dirs)
            ):
                dirnames.remove(d)
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if not ignored(rel, rules):
                files.add(rel)
    return files


# --- replaying the stages ---------------------------------------------------------


class Stage:
    def __init__(self, line, image, name, root, chroot):
        self.line, self.image, self.name = line, image, name
        self.root = root  # the stage's filesystem
        self.chroot = chroot  # RUN inside it (Debian) or on this machine (Rust)
        self.workdir = "/"
        self.env = {}
        self.user = "root"
        self.meta = {}

    def path(self, inside):
        return self.root / inside.lstrip("/")


def copy_into(stage, sources, dest, line, origin):
    """COPY semantics: a directory's contents into dest, files into a dir or as dest."""
    dest_abs = dest if dest.startswith("/") else os.path.join(stage.workdir, dest)
    target = stage.path(dest_abs)
    into_dir = dest.endswith("/") or len(sources) > 1 or target.is_dir()
    for source in sources:
        src = origin(source, line)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True)
        else:
            to = target / src.name if into_dir else target
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, to)


def context_origin(scratch, files):
    """COPY from the build context: only what .dockerignore lets through."""
    ctx = scratch / "context"
    for rel in files:
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, ctx / rel)

    def origin(source, line):
        rel = os.path.normpath(source).lstrip("/")
        path = ctx / rel
        if rel in (".", "") or not path.exists():
            fail(line, f"COPY {source}: not in the build context (missing, or excluded by .dockerignore)")
        return path

    return origin


def stage_origin(stages):
    def origin(spec):
        name, source = spec

        def resolve(src, line):
            stage = stages.get(name)
            if stage is None:
                fail(line, f"COPY --from={name}: no such stage")
            path = stage.path(source if source.startswith("/") else os.path.join(stage.workdir, source))
            if not path.exists():
                fail(line, f"COPY --from={name} {source}: the stage did not produce it")
            return path.resolve()

        return resolve

    return origin


def run_env(stage):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    env.update(stage.env)
    return env


def chroot_argv(stage, argv, user="root"):
    spec = [] if user == "root" else [f"--userspec={user_ids(stage, user)}"]
    cd = f"cd {shlex.quote(stage.workdir)} && exec \"$@\""
    return ["chroot", *spec, str(stage.root), "/bin/sh", "-c", cd, "sh", *argv]


def user_ids(stage, user):
    for entry in stage.path("/etc/passwd").read_text().splitlines():
        fields = entry.split(":")
        if fields[0] == user or fields[2] == user:
            return f"{fields[2]}:{fields[3]}"
    raise ImageError(f"USER {user}: no such user in the image")


def run_step(stage, args, line):
    argv = command_of(args)
    if stage.chroot:
        done = subprocess.run(chroot_argv(stage, argv), env=run_env(stage))
    else:
        # The toolchain stage: this machine's cargo in the scratch WORKDIR, output in
        # its target/ as in the image; a target or build dir set for this checkout
        # would move it.
        moved = ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_BUILD_BUILD_DIR")
        env = {k: v for k, v in os.environ.items() if k not in moved}
        env.update(stage.env)
        done = subprocess.run(argv, cwd=stage.path(stage.workdir), env=env)
    if done.returncode != 0:
        fail(line, f"RUN exited with {done.returncode}: {args}")


def debian_root(image, line, cache):
    """A minimal Debian of the pinned release, made once and reused (tar in cache)."""
    tag = image.partition("@")[0].rpartition(":")[2]
    major = tag.split(".")[0]
    suite = DEBIAN_SUITES.get(major)
    if suite is None:
        fail(line, f"{image}: no Debian suite known for release {major}")
    tarball = cache / f"debian-{suite}-minbase.tar"
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            raise ImageError("debootstrap is not installed (apt-get install -y debootstrap)")
        work = Path(tempfile.mkdtemp(dir=cache))
        try:
            subprocess.run(
                ["debootstrap", "--variant=minbase", suite, str(work / "root")],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run(["tar", "-C", str(work / "root"), "-cf", str(tarball) + ".part", "."], check=True)
            os.rename(str(tarball) + ".part", tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tarball


def replay(scratch, cache):
    text = DOCKERFILE.read_text()
    steps = instructions(text)
    files = context_files()
    from_context = context_origin(scratch, files)
    stages, order = {}, []
    stage = None
    for line, keyword, args in steps:
        if keyword == "FROM":
            words = args.split()
            image = words[0]
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(order))
            check_pinned(line, image)
            root = scratch / f"stage-{len(order)}"
            root.mkdir()
            repo = image.partition("@")[0].rpartition(":")[0]
            if repo.endswith("rust"):
                want = image.partition("@")[0].rpartition(":")[2].split("-")[0]
                have = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True)
                if have.stdout.split()[1] != want:
                    fail(line, f"{image} but this check runs rustc {have.stdout.split()[1]}: pin the toolchain CI tests with")
                stage = Stage(line, image, name, root, chroot=False)
            elif repo.endswith("debian"):
                tarball = debian_root(image, line, cache)
                subprocess.run(["tar", "-C", str(root), "-xf", str(tarball)], check=True)
                shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
                stage = Stage(line, image, name, root, chroot=True)
            else:
                fail(line, f"{image}: this check can replay only rust and debian base images")
            stages[name] = stage
            order.append(stage)
        elif stage is None:
            fail(line, f"{keyword} before FROM")
        elif keyword == "WORKDIR":
            stage.workdir = os.path.join(stage.workdir, args)
            stage.path(stage.workdir).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            flags, words = split_flags(args)
            *sources, dest = exec_form(args) or words
            if "from" in flags:
                for source in sources:
                    copy_into(stage, [source], dest, line, stage_origin(stages)((flags["from"], source)))
            else:
                copy_into(stage, sources, dest, line, from_context)
        elif keyword == "RUN":
            run_step(stage, args, line)
        elif keyword == "ENV":
            stage.env.update(parse_env(args))
        elif keyword == "USER":
            stage.user = args
        elif keyword in ("VOLUME", "HEALTHCHECK", "ENTRYPOINT", "CMD", "STOPSIGNAL"):
            stage.meta[keyword] = args
        elif keyword in ("ARG", "LABEL", "EXPOSE"):
            pass
        else:
            fail(line, f"{keyword}: this check does not know how to replay it")
    return order[-1]


# --- running the image ------------------------------------------------------------


def healthcheck_argv(meta):
    args = meta.get("HEALTHCHECK", "")
    _, _, cmd = args.partition(" CMD ")
    if not cmd:
        raise ImageError("no HEALTHCHECK ... CMD in the final stage")
    return command_of(cmd.strip())


def check_config_paths(image, volumes):
    """The image's config reads sources from URLs or volumes and writes there: a
    path baked into the image (like ../fixtures) is not there at run time, or is
    lost with the container."""
    name = image.env.get("OZGSYNC_CONFIG")
    if not name:
        raise ImageError("the image sets no OZGSYNC_CONFIG")
    config_path = image.path(name)
    config = tomllib.loads(config_path.read_text())
    base = os.path.dirname(name)

    def in_volume(path, what):
        path = os.path.normpath(os.path.join(base, path))
        if not any(path == v or path.startswith(v.rstrip("/") + "/") for v in volumes):
            raise ImageError(f"{name}: {what} {path} is not in a VOLUME ({', '.join(volumes)})")

    for source in config.get("source", []):
        location = source.get("location", "")
        if not re.match(r"https?://", location):
            in_volume(location, f"source {source.get('name')!r} reads")
    if "database" in config:
        in_volume(config["database"], "database")
    for export in config.get("export", []):
        command = export.get("command", [])
        for flag, value in zip(command, command[1:]):
            if flag == "--out":
                in_volume(value, f"export {export.get('name')!r} writes")


def stage_sources(image, uid_gid):
    """Mounts the bundled fixtures as the sources, the way an operator mounts theirs:
    the example config names a fixture per source name, the image's config the file
    it reads for that name. Returns the paths the exports will write."""
    example = tomllib.loads((ROOT / "deploy" / "ozgsync.example.toml").read_text())
    fixtures = {s["name"]: ROOT / "deploy" / s["location"] for s in example.get("source", [])}
    config = tomllib.loads(image.path(image.env["OZGSYNC_CONFIG"]).read_text())
    uid, gid = (int(x) for x in uid_gid.split(":"))
    for source in config.get("source", []):
        location = source["location"]
        if re.match(r"https?://", location):
            continue
        fixture = fixtures.get(source["name"])
        if fixture is None:
            raise ImageError(f"no fixture for source {source['name']!r} in deploy/ozgsync.example.toml")
        shutil.copy2(fixture, image.path(location))
        os.chown(image.path(location), uid, gid)
    outputs = []
    for export in config.get("export", []):
        command = export.get("command", [])
        outputs += [value for flag, value in zip(command, command[1:]) if flag == "--out"]
    return outputs


def run_image(image):
    for key in ("VOLUME", "ENTRYPOINT", "CMD"):
        if key not in image.meta:
            raise ImageError(f"the final stage has no {key}")
    if image.user in ("root", "0"):
        raise ImageError("the image runs as root: set USER")
    uid_gid = user_ids(image, image.user)
    uid = int(uid_gid.split(":")[0])
    volumes = exec_form(image.meta["VOLUME"]) or image.meta["VOLUME"].split()
    for volume in volumes:
        path = image.path(volume)
        if not path.is_dir() or path.stat().st_uid != uid:
            raise ImageError(f"VOLUME {volume} is missing or not owned by {image.user}")
    check_config_paths(image, volumes)
    env = run_env(image)
    health = chroot_argv(image, healthcheck_argv(image.meta), image.user)
    data = image.path(image.workdir)
    before = sorted(p.name for p in data.iterdir())
    if subprocess.run(health, env=env, capture_output=True).returncode == 0:
        raise ImageError("HEALTHCHECK passes before the daemon ever ran")
    if sorted(p.name for p in data.iterdir()) != before:
        raise ImageError(f"HEALTHCHECK created files in {image.workdir}")
    outputs = stage_sources(image, uid_gid)
    # Exec-form ENTRYPOINT and CMD: the CMD's words follow the ENTRYPOINT's.
    entrypoint, cmd = exec_form(image.meta["ENTRYPOINT"]), exec_form(image.meta["CMD"])
    if entrypoint is None or cmd is None:
        raise ImageError("ENTRYPOINT and CMD must be exec form, so STOPSIGNAL reaches ozgsync")
    main = chroot_argv(image, entrypoint + cmd, image.user)
    log = open(image.root.parent / "daemon.log", "w")
    daemon = subprocess.Popen(main, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(health, env=env, capture_output=True).returncode != 0:
            if daemon.poll() is not None:
                raise ImageError(f"the daemon exited with {daemon.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise ImageError(f"HEALTHCHECK did not turn healthy within 60 s; see {log.name}")
            time.sleep(1)
        # The daemon's catch-up syncs the mounted sources and runs the exports.
        deadline = time.monotonic() + 300
        while missing := [o for o in outputs if not image.path(o).exists()]:
            if daemon.poll() is not None:
                raise ImageError(f"the daemon exited with {daemon.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise ImageError(f"no export written to {', '.join(missing)} within 300 s; see {log.name}")
            time.sleep(1)
        sig = getattr(signal, image.meta.get("STOPSIGNAL", "SIGTERM"))
        daemon.send_signal(sig)
        code = daemon.wait(timeout=60)
        if code != 0:
            raise ImageError(f"the daemon exited with {code} on {sig.name}; see {log.name}")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        log.close()


def target_dir():
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(out.stdout)["target_directory"])


def main():
    global DOCKERFILE
    if "--dockerfile" in sys.argv:
        DOCKERFILE = Path(sys.argv[sys.argv.index("--dockerfile") + 1]).resolve()
    if os.geteuid() != 0:
        print("check-image: needs root (chroot, chown)", file=sys.stderr)
        return 1
    cache = target_dir() / "image-check"
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=cache))
    started = time.monotonic()
    try:
        image = replay(scratch, cache)
        run_image(image)
    except ImageError as err:
        print(f"image check failed: {err}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as err:
        print(f"image check failed: {err}", file=sys.stderr)
        return 1
    finally:
        if "--keep" in sys.argv:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"image ok: deploy/Dockerfile replayed and run ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
