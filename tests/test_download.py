"""``download=True`` against a real HTTP server on 127.0.0.1 that the tests control.

The catalogue's mirrors and checksums are pointed at the local server; no test contacts
another host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pooch
import pytest
from PIL import Image

from fcnlib import data
from fcnlib.data import download as dl
from fcnlib.data.catalogue import DATASETS, Archive

VOC_TAR = "VOCtrainval_11-May-2012.tar"


# ----------------------------------------------------------------------------- the server
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        server.hits.append(self.path)
        answers = server.routes.get(self.path, [("status", 404)])
        kind, value = answers.pop(0) if len(answers) > 1 else answers[0]
        if kind == "status":
            self.send_error(value)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(value)))
        self.end_headers()
        if kind == "cut":  # the connection drops halfway through the body
            self.wfile.write(value[: len(value) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(value)

    def log_message(self, *args):
        pass


class Server:
    """A local HTTP server; ``serve(path, *answers)`` sets what a GET of ``path`` gets, one
    answer per request (the last repeats): ``("ok", bytes)``, ``("cut", bytes)`` (half the
    body, then the connection closes) or ``("status", code)``. ``hits`` lists the paths asked."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes, self.httpd.hits = {}, []
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def serve(self, path: str, *answers) -> str:
        self.httpd.routes[path] = list(answers)
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("FCNLIB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("FCNLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dl, "RETRIES", 1)  # one retry: pooch waits 1 s before it
    s = Server()
    yield s
    s.close()


def dead_url(name: str) -> str:
    """A URL on a local port where nothing listens (the connection is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


# ----------------------------------------------------------------------------- archives
def md5(content: bytes) -> str:
    return "md5:" + hashlib.md5(content).hexdigest()


@pytest.fixture(scope="module")
def voc_tar(tmp_path_factory) -> bytes:
    """A tiny VOC 2012 archive, laid out as the real one (``VOCdevkit/VOC2012/...``)."""
    src = tmp_path_factory.mktemp("voc_src")
    for split in ("train", "val"):
        data.export_voc(data.ShapesScenes(split, size=4, image_size=32), src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src / "VOCdevkit", arcname="VOCdevkit")
    return buf.getvalue()


def use_voc_mirrors(monkeypatch, urls, known_hash) -> Archive:
    archive = Archive(
        VOC_TAR, known_hash, tuple(urls), (("VOCdevkit/VOC2012", "VOCdevkit/VOC2012"),)
    )
    monkeypatch.setitem(DATASETS, "voc", dataclasses.replace(DATASETS["voc"], archives=(archive,)))
    return archive


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# ----------------------------------------------------------------------------- tests
def test_good_archive_is_downloaded_verified_extracted_and_loads(
    server, monkeypatch, tmp_path, voc_tar
):
    url = server.serve(f"/voc/{VOC_TAR}", ("ok", voc_tar))
    use_voc_mirrors(monkeypatch, [url], md5(voc_tar))
    root = tmp_path / "data"
    ds = data.get_dataset("voc", root, "train", download=True)
    assert len(ds) == 4 and ds[0][1].shape == (32, 32)
    assert leftovers(root) == ["VOCdevkit"]  # no temporary folder left behind
    assert (tmp_path / "cache" / VOC_TAR).read_bytes() == voc_tar  # kept in $FCNLIB_CACHE
    assert server.hits == [f"/voc/{VOC_TAR}"]
    # there already: nothing is downloaded again, for either split
    assert len(data.get_dataset("voc", root, "val", download=True)) == 4
    # another root: extracted from the cache, not downloaded
    assert len(data.get_dataset("voc", tmp_path / "other", "val", download=True)) == 4
    assert server.hits == [f"/voc/{VOC_TAR}"]


def test_corrupt_archive_names_file_and_both_checksums_and_extracts_nothing(
    server, monkeypatch, tmp_path, voc_tar
):
    corrupt = voc_tar[:5000] + b"x" * 100 + voc_tar[5100:]  # damaged inside a member
    url = server.serve(f"/voc/{VOC_TAR}", ("ok", corrupt))
    use_voc_mirrors(monkeypatch, [url], md5(voc_tar))
    root = tmp_path / "data"
    with pytest.raises(data.DatasetDownloadError) as e:
        data.fetch("voc", root)
    msg = str(e.value)
    assert VOC_TAR in msg and url in msg
    assert md5(voc_tar).split(":")[1] in msg  # expected
    assert hashlib.md5(corrupt).hexdigest() in msg  # actual
    assert server.hits == [f"/voc/{VOC_TAR}"] * 2  # retried once, corrupt again
    assert leftovers(root) == []  # nothing extracted
    assert leftovers(tmp_path / "cache") == []  # and the corrupt file not kept


def test_corrupt_file_in_the_cache_is_replaced_by_a_verified_download(
    server, monkeypatch, tmp_path, voc_tar
):
    url = server.serve(f"/voc/{VOC_TAR}", ("ok", voc_tar))
    use_voc_mirrors(monkeypatch, [url], md5(voc_tar))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / VOC_TAR).write_bytes(b"not the archive")
    assert data.fetch("voc", tmp_path / "data") == tmp_path / "data"
    assert (tmp_path / "cache" / VOC_TAR).read_bytes() == voc_tar
    assert server.hits == [f"/voc/{VOC_TAR}"]


def test_dead_first_mirror_then_the_second_is_used(server, monkeypatch, tmp_path, voc_tar):
    missing = server.serve(f"/gone/{VOC_TAR}", ("status", 404))
    good = server.serve(f"/voc/{VOC_TAR}", ("ok", voc_tar))
    use_voc_mirrors(monkeypatch, [dead_url(VOC_TAR), missing, good], md5(voc_tar))
    data.fetch("voc", tmp_path / "data")
    assert (tmp_path / "data" / "VOCdevkit" / "VOC2012" / "JPEGImages").is_dir()
    assert server.hits[-1] == f"/voc/{VOC_TAR}" and f"/gone/{VOC_TAR}" in server.hits


def test_interrupted_transfer_is_restarted_and_then_correct(server, monkeypatch, tmp_path, voc_tar):
    url = server.serve(f"/voc/{VOC_TAR}", ("cut", voc_tar), ("ok", voc_tar))
    use_voc_mirrors(monkeypatch, [url], md5(voc_tar))
    data.fetch("voc", tmp_path / "data")
    assert server.hits == [f"/voc/{VOC_TAR}"] * 2
    assert (tmp_path / "cache" / VOC_TAR).read_bytes() == voc_tar
    assert leftovers(tmp_path / "cache") == [VOC_TAR]  # the partial file is gone


def test_interrupted_every_time_is_a_clear_error(server, monkeypatch, tmp_path, voc_tar):
    url = server.serve(f"/voc/{VOC_TAR}", ("cut", voc_tar))
    use_voc_mirrors(monkeypatch, [url], md5(voc_tar))
    with pytest.raises(data.DatasetDownloadError, match="(?s)cannot download.*" + url):
        data.fetch("voc", tmp_path / "data")
    assert leftovers(tmp_path / "data") == [] and leftovers(tmp_path / "cache") == []


def test_own_mirror_is_tried_first(server, monkeypatch, tmp_path, voc_tar):
    official = server.serve(f"/official/{VOC_TAR}", ("ok", voc_tar))
    server.serve(f"/mine/{VOC_TAR}", ("ok", voc_tar))
    archive = use_voc_mirrors(monkeypatch, [official], md5(voc_tar))
    monkeypatch.setenv("FCNLIB_DATA_MIRROR", server.base + "/mine/")
    assert dl.mirrors(archive) == [f"{server.base}/mine/{VOC_TAR}", official]
    data.fetch("voc", tmp_path / "data")
    assert server.hits == [f"/mine/{VOC_TAR}"]


def test_everything_down_is_a_clear_error_within_seconds(server, monkeypatch, tmp_path, voc_tar):
    urls = [dead_url(VOC_TAR), server.serve(f"/gone/{VOC_TAR}", ("status", 404))]
    use_voc_mirrors(monkeypatch, urls, md5(voc_tar))
    own = dead_url("mirror")
    monkeypatch.setenv("FCNLIB_DATA_MIRROR", own)
    start = time.monotonic()
    with pytest.raises(data.DatasetDownloadError) as e:
        data.get_dataset("voc", tmp_path / "data", download=True)
    assert time.monotonic() - start < 10
    msg = str(e.value)
    for url in [f"{own}/{VOC_TAR}", *urls]:
        assert url in msg
    assert "404" in msg and "cannot be reached" in msg
    # the manual steps: where the archive goes, or where its contents go
    assert str(tmp_path / "cache") in msg and "VOCdevkit/VOC2012" in msg and "by hand" in msg
    assert leftovers(tmp_path / "data") == []


def test_failed_extraction_leaves_nothing_half_written(server, monkeypatch, tmp_path, voc_tar):
    url = server.serve(f"/voc/{VOC_TAR}", ("ok", voc_tar))
    use_voc_mirrors(monkeypatch, [url], md5(voc_tar))
    real = pooch.Untar._extract_file

    def extract_then_fail(self, fname, extract_dir):
        real(self, fname, extract_dir)
        raise OSError("disk full (test)")

    monkeypatch.setattr(pooch.Untar, "_extract_file", extract_then_fail)
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(OSError, match="disk full"):
        data.fetch("voc", root)
    assert leftovers(root) == []


def test_archive_without_the_expected_folder_is_an_error(server, monkeypatch, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("something/else.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    url = server.serve(f"/voc/{VOC_TAR}", ("ok", buf.getvalue()))
    use_voc_mirrors(monkeypatch, [url], md5(buf.getvalue()))
    with pytest.raises(data.DatasetDownloadError, match="holds no 'VOCdevkit/VOC2012'"):
        data.fetch("voc", tmp_path / "data")
    assert leftovers(tmp_path / "data") == []


def test_pets_two_archives_through_course_datasets(server, monkeypatch, tmp_path):
    src = tmp_path / "src"
    stems = ["Abyssinian_1", "Abyssinian_2", "beagle_1"]
    rng = np.random.default_rng(0)
    (src / "images").mkdir(parents=True)
    (src / "annotations" / "trimaps").mkdir(parents=True)
    for stem in stems:
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
            src / "images" / f"{stem}.jpg"
        )
        trimap = rng.integers(1, 4, (24, 24)).astype(np.uint8)
        Image.fromarray(trimap).save(src / "annotations" / "trimaps" / f"{stem}.png")
    (src / "annotations" / "trainval.txt").write_text(f"{stems[0]} 1 1 1\n{stems[1]} 1 1 1\n")
    (src / "annotations" / "test.txt").write_text(f"{stems[2]} 2 2 1\n")
    archives = []
    for filename, folder in (("images.tar.gz", "images"), ("annotations.tar.gz", "annotations")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(src / folder, arcname=folder)
        content = buf.getvalue()
        url = server.serve(f"/pets/{filename}", ("ok", content))
        archives.append(
            Archive(filename, md5(content), (url,), ((folder, f"oxford-iiit-pet/{folder}"),))
        )
    monkeypatch.setitem(
        DATASETS, "pets", dataclasses.replace(DATASETS["pets"], archives=tuple(archives))
    )
    train, val = data.course_datasets("pets", 16, root=tmp_path / "data", download=True)
    assert (len(train), len(val)) == (2, 1)
    image, mask = train[0]
    assert image.shape == (3, 16, 16) and set(mask.unique().tolist()) <= {0, 1, 255}
    assert sorted(server.hits) == ["/pets/annotations.tar.gz", "/pets/images.tar.gz"]


def test_shapes_ignore_download_in_course_datasets():
    train, val = data.course_datasets("shapes", 32, train_size=2, val_size=2, download=True)
    assert (len(train), len(val)) == (2, 2)


def test_manual_data_sets_cannot_be_fetched(tmp_path):
    with pytest.raises(data.DatasetDownloadError, match="cannot be downloaded automatically"):
        data.fetch("camvid", tmp_path)


def test_catalogue_mirrors_and_checksums():
    for name in ("voc", "pets"):
        info = DATASETS[name]
        assert info.downloadable and info.download_url == info.archives[0].urls[0]
        for archive in info.archives:
            algorithm, digest = archive.known_hash.split(":")
            assert algorithm in ("md5", "sha256") and int(digest, 16) >= 0
            assert all(url.endswith("/" + archive.filename) for url in archive.urls)
    voc = DATASETS["voc"].archives[0].urls
    assert voc[0] == "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"
    assert len(voc) >= 2 and len(DATASETS["pets"].archives) == 2
    assert not any(DATASETS[n].downloadable for n in ("cityscapes", "camvid", "shapes"))
