"""Fetching a data set for the learner: mirrors, checksums, retries, a cache, safe extraction.

:func:`fetch` downloads the :class:`~fcnlib.data.catalogue.Archive` files of a data set with
pooch (checksum verified after every download, a broken transfer restarted, a tqdm progress
bar) into a cache folder, and extracts them into ``root``. Mirrors are tried in order, a user's
own (``$FCNLIB_DATA_MIRROR``) first; servers that do not answer within seconds are skipped,
so offline the error comes at once and says what to do by hand.

* ``$FCNLIB_CACHE``: where archives are kept (default ``pooch.os_cache("fcnlib")``, e.g.
  ``~/.cache/fcnlib`` on Linux); a verified archive there is not downloaded again.
* ``$FCNLIB_DATA_MIRROR``: a base URL tried before the catalogue's mirrors, with the
  archive's file name appended (``https://example.org/data/`` ->
  ``https://example.org/data/VOCtrainval_11-May-2012.tar``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

import pooch

from .._net import reachable
from .base import DatasetDownloadError, catalogue_entry, not_downloadable, resolve_root
from .catalogue import README, Archive, DatasetInfo

CACHE_ENV = "FCNLIB_CACHE"
MIRROR_ENV = "FCNLIB_DATA_MIRROR"
CONNECT_TIMEOUT = 5.0  # seconds for a server to accept a connection before it is skipped
READ_TIMEOUT = 60.0  # seconds without data before a transfer counts as broken
RETRIES = 2  # further tries from one mirror after a broken transfer or a wrong checksum


def cache_dir() -> Path:
    """Where downloaded archives are kept: ``$FCNLIB_CACHE``, else ``pooch.os_cache("fcnlib")``."""
    return Path(os.environ.get(CACHE_ENV) or pooch.os_cache("fcnlib"))


def mirrors(archive: Archive) -> list[str]:
    """The URLs to try for ``archive``, in order: ``$FCNLIB_DATA_MIRROR`` + file name first
    (when set), then the catalogue's mirrors."""
    own = os.environ.get(MIRROR_ENV, "").strip()
    return ([f"{own.rstrip('/')}/{archive.filename}"] if own else []) + list(archive.urls)


def fetch(name: str, root=None, split: str | None = None) -> Path:
    """Download data set ``name`` (unless it is there) and extract it into ``root``.

    Every archive that ``split`` needs (``DATASETS[name].archives``; ``split=None``: those
    every split needs) whose folders are not yet under ``root`` is fetched into
    :func:`cache_dir` from the first mirror that delivers it with the right checksum, then
    extracted into a temporary folder inside ``root`` and moved into place, so an
    interrupted run leaves no half-written data set folder.

    Args:
        name (str): a data set of :data:`~fcnlib.data.DATASETS` with ``downloadable`` True
            (``"voc"``, ``"pets"``).
        root (str or Path, optional): the folder the data set class reads (``None``:
            :func:`~fcnlib.data.base.resolve_root`, i.e. ``$FCNLIB_DATA`` or ``data/``).
        split (str, optional): also fetch what only this split needs (``"trainaug"`` of
            ``"voc"`` adds SBD).

    Returns:
        Path: ``root``.

    Raises:
        DatasetDownloadError: the data set is not downloadable, or no mirror delivered an
            archive (the message names each URL tried, why it failed, and the manual steps).
    """
    info = catalogue_entry(name)
    root = resolve_root(root)
    if not info.downloadable:
        raise not_downloadable(info, root)
    for archive in info.archives:
        if archive.splits and split not in archive.splits:
            continue
        if all((root / dest).exists() for _, dest in archive.members):
            continue
        _extract(_download(info, archive, root), archive, root)
    return root


def _download(info: DatasetInfo, archive: Archive, root: Path) -> Path:
    """The verified archive in the cache: kept from an earlier run, or downloaded now."""
    cache = cache_dir()
    path = cache / archive.filename
    failures = []
    if path.exists():
        algorithm, expected = archive.known_hash.split(":")
        actual = pooch.file_hash(str(path), alg=algorithm)
        if actual == expected.lower():
            return path
        path.unlink()  # never used as if it were good
        failures.append(
            f"{path} (in the cache) was corrupt: checksum expected {archive.known_hash}, "
            f"got {actual}; it was deleted"
        )
    urls = mirrors(archive)
    dead = _unreachable(urls)
    for url in urls:
        if url in dead:
            failures.append(f"{url}: cannot be reached within {CONNECT_TIMEOUT:g} s (offline?)")
            continue
        store = pooch.Pooch(
            path=cache,
            base_url="",
            registry={archive.filename: archive.known_hash},
            urls={archive.filename: url},
            retry_if_failed=RETRIES,
        )
        downloader = pooch.HTTPDownloader(
            progressbar=True, chunk_size=1 << 20, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
        )
        try:
            return Path(store.fetch(archive.filename, downloader=downloader))
        except (ValueError, OSError) as e:  # pooch's checksum error; requests', disk errors
            failures.append(f"{url}: {type(e).__name__}: {e}")
    tried = "".join(f"\n  - {f}" for f in failures)
    raise DatasetDownloadError(
        f"cannot download {info.title}: no mirror delivered {archive.filename} with the "
        f"checksum {archive.known_hash}. Tried:{tried}\n"
        f"Get it by hand instead: download {archive.filename} from one of those URLs and "
        f"put it in {cache} (set ${CACHE_ENV} to use another folder; it is checked and "
        f"extracted on the next download=True), or set ${MIRROR_ENV} to a server that holds "
        f"it, or extract the data yourself, with ROOT = {str(root)!r}: {info.obtain} "
        f"See {README}."
    ) from None


def _unreachable(urls: list[str]) -> set[str]:
    """The URLs whose server accepts no connection within :data:`CONNECT_TIMEOUT` seconds,
    probed all at once (a URL reached through a proxy counts as reachable: requests' own
    timeouts decide there)."""
    proxies = getproxies()

    def probe(url: str) -> bool:
        u = urlparse(url)
        host = u.hostname or ""
        if u.scheme in proxies and not proxy_bypass(host):
            return True
        port = u.port or (443 if u.scheme == "https" else 80)
        return reachable(host, port, timeout=CONNECT_TIMEOUT)

    with ThreadPoolExecutor(len(urls)) as pool:
        return {url for url, ok in zip(urls, pool.map(probe, urls)) if not ok}


def _extract(path: Path, archive: Archive, root: Path) -> None:
    """Extract ``archive``'s members that are not yet under ``root`` into a temporary folder
    in ``root``, then move each into place (a rename, on the same file system)."""
    todo = [(inner, root / dest) for inner, dest in archive.members if not (root / dest).exists()]
    root.mkdir(parents=True, exist_ok=True)
    prefix = f".{archive.filename}.extracting-"
    for stale in root.glob(f"{prefix}*"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        unpack = pooch.Unzip if archive.filename.endswith(".zip") else pooch.Untar
        into = tmp / "contents"
        unpack(members=[inner for inner, _ in todo], extract_dir=str(into))(
            str(path), "download", None
        )
        absent = [inner for inner, _ in todo if not (into / inner).exists()]
        if absent:
            raise DatasetDownloadError(
                f"{path} holds no {absent[0]!r}, so it is not the archive {README} describes; "
                f"delete it and download again"
            )
        for inner, dest in todo:
            dest.parent.mkdir(parents=True, exist_ok=True)
            (into / inner).rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
