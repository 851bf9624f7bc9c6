"""Build the code package Function Compute runs: `make package` (python ops/package.py).

Output (git-ignored): `build/function/` (the unpacked package) and `dist/alimt-result-collector.zip`.
The package is `function/` (index.py and the collector package) plus the whole pinned closure of
`function/requirements.lock` for FC's runtime, CPython 3.12 on manylinux x86_64, built from wheels
only, whatever machine runs this (Linux, macOS or Windows):

1. download every locked file with its hash checked (`pip download --require-hashes --no-deps`, for
   the target platform): manylinux/abi3/pure wheels where PyPI has them, else the sdist;
2. build the sdist-only ones (pure Python: oss2, some alibabacloud-tea* helpers) into wheels with
   `pip wheel --no-deps`, and refuse any that come out platform-specific;
3. install all wheels into the build folder (`--only-binary=:all: --no-index`, target platform);
4. drop tests, caches, console scripts and type stubs; precompile with
   `--invalidation-mode unchecked-hash`, so the zip's DOS timestamps cannot make .pyc files stale;
5. check the C CRC-64 extension (`crcmod._crcfunext`) is there for the target platform (oss2 checks
   CRC-64 of every byte written; the pure-Python fallback is ~20x slower);
6. zip it reproducibly (sorted entries, fixed timestamps and modes) and print its size and file count.

Only the standard library is used, so this runs on a fresh clone; the interpreter must be CPython
3.12 because the bytecode it writes is version-specific.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "function"
LOCK = SOURCE / "requirements.lock"
NAME = "alimt-result-collector"
TARGET_PYTHON = (3, 12)
PLATFORM_ARGS = [
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
]
# FC unpacks the code to /code; tracebacks then name the deployed paths.
DEPLOYED_ROOT = "/code"
# 1980-01-02, the earliest safe DOS timestamp: same bytes on every build.
ZIP_TIME = (1980, 1, 2, 0, 0, 0)
# Not needed at run time: test suites, caches, console scripts, stubs, pip's bookkeeping.
DROP_DIRS = {"__pycache__", "tests", "test", "SelfTest", "bin"}
DROP_SUFFIXES = {".pyi", ".pyc", ".pyo"}
DROP_NAMES = {"py.typed", "RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
TARGET_SO = r"\.(abi3|cpython-312-x86_64-linux-gnu)\.so$"
# The two CRC-64 extensions: crcmod's (oss2's own checks of small documents) and fastcrc's (the
# one pass over streamed copies). Neither may be missing or built for another platform.
CRC_EXTENSIONS = {
    "crcmod": re.compile(r"^_crcfunext" + TARGET_SO),
    "fastcrc": re.compile(r"^fastcrc" + TARGET_SO),
}


class PackagingError(Exception):
    pass


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+ pip " + " ".join(args), flush=True)
    subprocess.run(command, check=True)


def locked_requirements(lock: Path) -> list[str]:
    """`name==version` of every locked package (the hashes stay in the lock for step 1)."""
    pins = re.findall(r"^([A-Za-z0-9][\w.-]*==[\w.+!-]+)", lock.read_text(encoding="utf-8"), re.M)
    if not pins:
        raise PackagingError(f"{lock}: no pinned requirements")
    return pins


def fetch(lock: Path, downloads: Path) -> None:
    pip("download", "--quiet", "--no-deps", "--require-hashes", *PLATFORM_ARGS,
        "--dest", str(downloads), "-r", str(lock))  # fmt: skip


def build_sdists(downloads: Path, wheelhouse: Path) -> list[str]:
    """Wheels for the sdist-only packages; each must be pure Python (py3-none-any)."""
    built = []
    for archive in sorted(downloads.iterdir()):
        if archive.suffix == ".whl":
            shutil.copy2(archive, wheelhouse / archive.name)
            continue
        before = set(wheelhouse.iterdir())
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheelhouse), str(archive))
        for wheel in set(wheelhouse.iterdir()) - before:
            if not wheel.name.endswith("-none-any.whl"):
                raise PackagingError(
                    f"{archive.name} built a platform-specific wheel {wheel.name}: it would only "
                    "run on this machine; pin a release with manylinux wheels instead"
                )
            built.append(wheel.name)
    return built


def install(pins: list[str], wheelhouse: Path, target: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(pins) + "\n")
    try:
        pip("install", "--quiet", "--no-deps", "--no-compile", "--no-index",
            "--find-links", str(wheelhouse), "--only-binary=:all:", *PLATFORM_ARGS,
            "--target", str(target), "-r", handle.name)  # fmt: skip
    finally:
        os.unlink(handle.name)


def copy_source(target: Path) -> None:
    shutil.copy2(SOURCE / "index.py", target / "index.py")
    shutil.copytree(
        SOURCE / "collector",
        target / "collector",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def prune(target: Path) -> None:
    for path in sorted(target.rglob("*"), reverse=True):
        if not path.exists():
            continue
        if path.is_dir() and path.name in DROP_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in DROP_SUFFIXES or path.name in DROP_NAMES):
            path.unlink()


def precompile(target: Path) -> None:
    # One process, in order: marshal's output depends on the interpreter's state, so parallel
    # workers make some .pyc bytes differ from build to build (pycparser's, for one).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # third-party escape sequences, not ours
        ok = compileall.compile_dir(
            str(target),
            quiet=1,
            workers=1,
            stripdir=str(target),
            prependdir=DEPLOYED_ROOT,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    if not ok:
        raise PackagingError("some modules did not compile (see above)")


def check_crc_extensions(target: Path) -> list[Path]:
    extensions = []
    for package, pattern in CRC_EXTENSIONS.items():
        found = [p for p in (target / package).glob("*.so") if pattern.match(p.name)]
        if not found:
            raise PackagingError(
                f"{package}'s C extension for manylinux x86_64 CPython 3.12 is missing from the "
                "package (crcmod: oss2 would fall back to pure-Python CRC-64, ~20x slower; "
                "fastcrc: streamed copies could not be checked)"
            )
        header = found[0].read_bytes()[:20]
        # ELF, 64-bit, little-endian, e_machine 62 (x86-64): built for FC, not for this machine.
        if (
            header[:4] != b"\x7fELF"
            or header[4] != 2
            or header[18:20] != (62).to_bytes(2, "little")
        ):
            raise PackagingError(f"{found[0].name} is not an x86-64 ELF library")
        extensions.append(found[0])
    return extensions


def write_zip(target: Path, archive: Path) -> tuple[int, int]:
    archive.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in target.rglob("*") if p.is_file())
    partial = archive.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(target).as_posix(), date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if path.suffix == ".so" else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, path.read_bytes())
    partial.replace(archive)
    return archive.stat().st_size, len(files)


def build(out_dir: Path, dist_dir: Path) -> Path:
    if sys.version_info[:2] != TARGET_PYTHON:
        raise PackagingError(
            f"run with CPython {TARGET_PYTHON[0]}.{TARGET_PYTHON[1]} (FC's python3.12 runtime): "
            f"bytecode is version-specific; this is {sys.version.split()[0]}"
        )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    pins = locked_requirements(LOCK)
    with tempfile.TemporaryDirectory(prefix="fc-package-") as scratch:
        downloads, wheelhouse = Path(scratch, "downloads"), Path(scratch, "wheelhouse")
        downloads.mkdir()
        wheelhouse.mkdir()
        fetch(LOCK, downloads)
        built = build_sdists(downloads, wheelhouse)
        install(pins, wheelhouse, out_dir)
    copy_source(out_dir)
    prune(out_dir)
    precompile(out_dir)
    extensions = check_crc_extensions(out_dir)
    archive = dist_dir / f"{NAME}.zip"
    size, count = write_zip(out_dir, archive)
    unpacked = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    print(f"built from sdists (pure Python): {', '.join(built) or 'none'}")
    print(f"CRC-64 C extensions: {', '.join(str(e.relative_to(out_dir)) for e in extensions)}")
    print(
        f"{archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive}: "
        f"{size / 1e6:.1f} MB zipped, {unpacked / 1e6:.1f} MB unpacked, {count} files, "
        f"{len(pins)} locked packages, sha256 {digest}"
    )
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "function")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    try:
        build(args.out.resolve(), args.dist.resolve())
    except (PackagingError, subprocess.CalledProcessError) as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
