"""Downloading and unpacking data set files: md5-verified, never leaving a partial file under a final name."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from ...io import atomic_open
from .registry import RemoteFile


def md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(remote: RemoteFile, final: Path, timeout: float) -> None:
    """Download ``remote`` to ``final``: streamed to a temporary file beside it, md5-checked, then renamed (a
    mismatch discards the download and raises ``ValueError``); each URL is tried in turn."""
    errors = []
    for url in remote.urls:
        try:
            with atomic_open(final, "wb", suffix=".part") as out:
                digest = hashlib.md5(usedforsecurity=False)
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    for chunk in iter(lambda resp=resp: resp.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                actual = digest.hexdigest()
                if actual != remote.md5.lower():
                    raise ValueError(f"checksum mismatch for {url}: expected md5 {remote.md5}, got {actual}; the "
                                     f"download was discarded and {final} was not written")
            return
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise ConnectionError(f"could not download {remote.filename} ({'; '.join(errors)}); fetch it by hand and place "
                          f"it at {final}")


def extract(archive: Path, target: Path, folder: str) -> Path:
    """Unpack the regular files under ``folder/`` of a tarball into ``target/folder``, each file atomically."""
    tmpdir = Path(tempfile.mkdtemp(dir=target, prefix=f".{folder}.", suffix=".extract"))
    try:
        moved = []
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    if member.name.startswith("/") or ".." in parts:
                        raise ValueError(f"{archive}: unsafe member path {member.name!r}")
                    if len(parts) < 2 or parts[0] != folder or not member.isfile():
                        continue
                    rel = Path(*parts[1:])
                    (tmpdir / rel).parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(tmpdir / rel, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    moved.append(rel)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError(f"{archive}: cannot extract (truncated or corrupted archive?): {exc}") from exc
        if not moved:
            raise ValueError(f"{archive}: holds no files under {folder}/")
        dest = target / folder
        for rel in moved:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmpdir / rel, dest / rel)
        return dest
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


__all__ = ["extract", "fetch", "md5"]
