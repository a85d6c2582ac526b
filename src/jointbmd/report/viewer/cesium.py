"""CesiumJS for the offline viewer: the npm registry's ``cesium`` package at a pinned version.

In: nothing (the pinned version and its integrity hash below). Out: ``cesium_build()``, a local
folder holding the minified ``Build/Cesium`` of that release (with the Natural Earth II imagery
it ships, levels 0-2) and the package's licence files, fetched once into the user's cache.

Why fetched, not vendored: the build is 23 MB in about 400 files; committing it would make the
repository mostly Cesium. Why at first use, not at ``pip install``: an editable install runs no
code of ours, and a wheel must not depend on the network while building. So the first
``jointbmd view`` (or the test fixture) runs ``npm pack cesium@VERSION`` -- the registry's
ordinary client -- into a temporary folder, checks the tarball's SHA-512 against
``CESIUM_INTEGRITY`` (the registry's ``dist.integrity`` of that version, so a changed or
corrupted tarball is refused), and unpacks ``Build/Cesium``, ``LICENSE.md`` and
``ThirdParty.json`` into ``CACHE/cesium-VERSION/``. Nothing is fetched after that, and the page
itself fetches nothing but its own folder.

Cache: ``$JOINTBMD_CACHE`` if set, else ``$XDG_CACHE_HOME/jointbmd``, else ``~/.cache/jointbmd``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ...errors import UserError

CESIUM_VERSION = "1.145.0"
#: ``npm view cesium@1.145.0 dist.integrity``
CESIUM_INTEGRITY = (
    "sha512-6Azix8b5LPpoVSx8XQ6zPztpluJVmq+CEO3W2rOWxtc6bri6Nc9MvCYhKmTW1LAEwfisV7yzNgfulCXw98"
    "42+g=="
)
#: What the page needs of the package, relative to its ``package/`` folder.
BUILD = "Build/Cesium"
LICENCE_FILES = ("LICENSE.md", "ThirdParty.json")
#: Files of the build the page does not load (module entry points for bundlers).
UNUSED = ("index.js", "index.cjs")


def cache_dir() -> Path:
    if os.environ.get("JOINTBMD_CACHE"):
        return Path(os.environ["JOINTBMD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jointbmd"


def cesium_build() -> Path:
    """The folder with ``Cesium/`` (the build) and the licence files; fetched if missing.

    A lock file serialises processes that ask at once (test workers, two ``view`` commands), so
    one fetches and the others then find the finished folder."""
    target = cache_dir() / f"cesium-{CESIUM_VERSION}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".cesium-{CESIUM_VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _complete(target):
            _fetch(target)
    return target


def _complete(target: Path) -> bool:
    return (target / "Cesium" / "Cesium.js").is_file() and (target / "LICENSE.md").is_file()


def _fetch(target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".cesium-") as work:
        tarball = _npm_pack(Path(work))
        _check_integrity(tarball)
        staging = Path(work) / "out"
        _unpack(tarball, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)


def _npm_pack(folder: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise UserError(
            f"the viewer needs CesiumJS {CESIUM_VERSION} from the npm registry and npm is not "
            "installed (Debian: apt-get install -y npm)",
            field="view",
        )
    done = subprocess.run(
        [npm, "pack", f"cesium@{CESIUM_VERSION}", "--pack-destination", str(folder), "--silent"],
        capture_output=True,
        text=True,
        check=False,
    )
    tarballs = list(folder.glob("cesium-*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        reason = (done.stderr.strip().splitlines() or ["no tarball"])[-1]
        raise UserError(f"npm pack cesium@{CESIUM_VERSION} failed: {reason}", field="view")
    return tarballs[0]


def _check_integrity(tarball: Path) -> None:
    algorithm, _, expected = CESIUM_INTEGRITY.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        raise UserError(
            f"{tarball.name}: its {algorithm} does not match the pinned integrity of cesium "
            f"{CESIUM_VERSION}; refusing it",
            field="view",
        )


def _unpack(tarball: Path, out: Path) -> None:
    prefix = f"package/{BUILD}/"
    wanted = {f"package/{name}" for name in LICENCE_FILES}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            if member.name.startswith(prefix):
                relative = "Cesium/" + member.name[len(prefix) :]
                if relative.removeprefix("Cesium/") in UNUSED:
                    continue
            elif member.name in wanted:
                relative = member.name.removeprefix("package/")
            else:
                continue
            destination = out / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            with destination.open("wb") as handle:
                shutil.copyfileobj(source, handle)
