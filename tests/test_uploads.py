"""Uploads against the emulator: a file too big for a data URL goes through POST /uploads
in presigned parts (both clients), a small one stays a data URL, a JPEG goes as its own
bytes, a part PUT never carries credentials, a failed part is sent again alone, and the
emulator refuses JSON bodies over its gateway-like limit."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from emulator_support import emu, http, png_data_url  # noqa: F401
from fast import emulator, fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.client.multipart import PART_SIZE, part_count
from skybox_nb.client.transfer import (
    DATA_URL_MAX_BODY,
    data_url_body,
    data_url_body_size,
    encode_upload,
)
from skybox_nb.emulator.server import DEFAULT_UPLOAD_LIMIT

pytestmark = pytest.mark.timeout(120)
AUTH = ("test-key", "test-secret")


@pytest.fixture(scope="module")
def big_png(tmp_path_factory) -> bytes:
    """A 12 MB-class PNG (2048x2048 noise, stored uncompressed): three 5 MiB parts."""
    arr = np.random.default_rng(7).integers(0, 255, (2048, 2048, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=0)
    data = buf.getvalue()
    assert 12_000_000 < len(data) < 13_000_000 and part_count(len(data)) == 3
    return data


def _client(emu, tmp_path, asynchronous=False):
    cls = AsyncSkyboxClient if asynchronous else SkyboxClient
    return cls(emulator=emu, library=tmp_path / "lib", retry=fast_retry(), poll=fast_poll)


def _upload(emu, tmp_path, image, asynchronous=False) -> str:
    """Upload ``image`` with the blocking or the async client; returns the asset id."""
    if not asynchronous:
        with _client(emu, tmp_path) as c:
            return c.upload(image)

    async def go() -> str:
        async with _client(emu, tmp_path, asynchronous=True) as c:
            return await c.upload(image)
    return asyncio.run(go())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["blocking", "async"])
def test_a_large_file_goes_through_uploads_in_parts(big_png, tmp_path, asynchronous):
    path = tmp_path / "big sky.png"
    path.write_bytes(big_png)
    with emulator() as emu:
        asset_id = _upload(emu, tmp_path, path, asynchronous)
        stats = emu.stats()
        rec = emu.store.get_asset(asset_id)
        assert rec.path.read_bytes() == big_png  # the file's own bytes, whole and in order
        assert rec.mime_type == "image/png" and (rec.width, rec.height) == (2048, 2048)
    assert "upload" not in stats["requests"]  # no data URL was tried first
    assert stats["uploads"] == 1 and stats["assets"] == 1
    assert stats["parts_received"] == 3 == stats["requests"]["upload_part"]
    assert stats["parts_with_credentials"] == 0  # no PUT carried an Authorization header
    assert stats["requests"]["upload_complete"] == 1
    up = next(iter(emu.store.uploads.values()))
    assert (up.file_name, up.file_size, up.parts_count) == ("big-sky.png", len(big_png), 3)


def test_a_small_upload_stays_a_data_url(tmp_path):
    with emulator() as emu:
        asset_id = _upload(emu, tmp_path, np.zeros((32, 64, 3), np.uint8))
        stats = emu.stats()
        assert emu.store.get_asset(asset_id).mime_type == "image/png"
    assert stats["requests"].get("upload") == 1 and stats["uploads"] == 0
    assert "upload_part" not in stats["requests"]


def test_a_jpeg_is_sent_as_its_own_bytes(tmp_path):
    arr = np.random.default_rng(1).integers(0, 255, (512, 1024, 3), np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(arr).save(path, quality=90)
    jpeg = path.read_bytes()
    data, name, mime = encode_upload(path)
    assert (data, name, mime) == (jpeg, "photo.jpg", "image/jpeg")
    # Re-encoded as PNG it would be several times larger: what the old upload sent.
    as_png, _, png_mime = encode_upload(arr)
    assert png_mime == "image/png" and len(as_png) > 2 * len(jpeg)
    with emulator() as emu:
        for image in (path, jpeg):
            rec = emu.store.get_asset(_upload(emu, tmp_path, image))
            assert rec.path.read_bytes() == jpeg and rec.mime_type == "image/jpeg"


def test_images_that_must_be_encoded_are_png():
    palette = io.BytesIO()
    Image.new("P", (64, 32)).save(palette, format="PNG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (64, 32)).save(cmyk, format="JPEG")
    for raw in (palette.getvalue(), cmyk.getvalue()):
        data, name, mime = encode_upload(raw)
        assert mime == "image/png" and name == "image.png" and data != raw
        assert Image.open(io.BytesIO(data)).mode in ("RGB", "RGBA")


def test_the_data_url_limit_is_counted_exactly():
    for n in (0, 1, 2, 3, 1000, 1001):
        body = data_url_body(b"x" * n, "name \u00e9.png", "image/webp")
        assert data_url_body_size(b"x" * n, "name \u00e9.png", "image/webp") >= \
            len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        assert data_url_body_size(b"x" * n, "n.png", "image/png") == len(json.dumps(
            data_url_body(b"x" * n, "n.png", "image/png")).encode())
    # 8 MiB of JSON keeps a data URL well under the ~10 MB the gateway is thought to allow.
    assert DATA_URL_MAX_BODY == 8 * 1024 * 1024 < DEFAULT_UPLOAD_LIMIT <= 10 * 1024 * 1024
    assert part_count(0) == 1 and part_count(PART_SIZE) == 1 and part_count(PART_SIZE + 1) == 2


def test_a_failed_part_is_sent_again_alone(big_png, tmp_path):
    with emulator() as emu:
        emu.inject("server_error", route="upload_part", status=503)
        asset_id = _upload(emu, tmp_path, big_png)
        stats = emu.stats()
        assert emu.store.get_asset(asset_id).path.read_bytes() == big_png
    # One upload created, one asset made, nothing generated; four PUTs for three parts.
    assert stats["uploads"] == 1 and stats["assets"] == 1 and stats["generate_posts"] == 0
    assert stats["requests"]["upload_create"] == 1
    assert stats["requests"]["upload_part"] == 4 and stats["parts_received"] == 3


def test_a_part_put_with_credentials_is_refused_as_s3_does(emu, http):
    r = http.post("/uploads", json={"fileName": "a.png", "contentType": "image/png",
                                    "fileSize": 10, "kind": "image", "parts": 1})
    assert r.status_code == 200, r.text
    url = r.json()["upload"]["parts"][0]["url"]
    assert url.startswith(emu.origin + "/_storage/uploads/")  # loopback, not the API path
    with_auth = httpx.put(url, content=b"0123456789", auth=AUTH)
    assert with_auth.status_code == 400 and b"Only one auth mechanism" in with_auth.content
    assert emu.stats()["parts_with_credentials"] == 1
    assert httpx.put(url + "x", content=b"0123456789").status_code == 403  # bad signature
    assert httpx.put(url, content=b"0123456789").status_code == 200
    assert emu.stats()["parts_received"] == 1


def test_completing_checks_the_parts_and_the_file(emu, http):
    def create(size, parts, mime="image/png"):
        r = http.post("/uploads", json={"fileName": "a.png", "contentType": mime,
                                        "fileSize": size, "kind": "image", "parts": parts})
        return r.json()["upload"]

    up = create(20, 2)
    httpx.put(up["parts"][0]["url"], content=b"x" * 10)
    r = http.post(f"/uploads/{up['id']}/action", json={"action": "complete"})
    assert r.status_code == 400 and "part(s) 2 of 2" in r.json()["reason"]
    httpx.put(up["parts"][1]["url"], content=b"x" * 10)
    r = http.post(f"/uploads/{up['id']}/action", json={"action": "complete"})
    assert r.status_code == 400 and "EntityTooSmall" in r.json()["reason"]
    png = base64.b64decode(png_data_url().split(",", 1)[1])
    up = create(len(png), 1, mime="image/jpeg")
    httpx.put(up["parts"][0]["url"], content=png)
    assert http.post(f"/uploads/{up['id']}/action", json={"action": "complete"}).json()[
        "upload"]["status"] == "validating"
    failed = http.get(f"/uploads/{up['id']}").json()["upload"]
    assert failed["status"] == "failed" and "image/png" in failed["errorMessage"]
    r = http.post("/uploads", json={"fileName": "", "contentType": "image/gif", "fileSize": 0,
                                    "kind": "model", "parts": 0})
    fields = [p["field"] for p in r.json()["details"]["problems"]]
    assert r.status_code == 400 and fields == ["fileName", "contentType", "fileSize", "kind",
                                               "parts"]
    assert emu.stats()["assets"] == 0


def test_a_file_scenario_refuses_is_an_invalid_error(tmp_path, monkeypatch):
    from skybox_nb.client import transfer

    # Announce the PNG as a JPEG: the emulator's validation fails it after the parts.
    real = transfer.encode_upload
    monkeypatch.setattr(transfer, "encode_upload",
                        lambda image: (real(image)[0], "x.jpg", "image/jpeg"))
    monkeypatch.setattr(transfer, "DATA_URL_MAX_BODY", 1024)
    with emulator() as emu:
        with pytest.raises(errors.InvalidError, match="refused the uploaded file"):
            _upload(emu, tmp_path, np.random.default_rng(2).integers(0, 255, (64, 128, 3),
                                                                     np.uint8))
        assert emu.stats()["assets"] == 0 and emu.stats()["uploads"] == 1


def test_the_emulator_refuses_json_bodies_over_10_mib(emu, http):
    body = json.dumps({"name": "a.png", "image": "data:image/png;base64," +
                       "A" * (DEFAULT_UPLOAD_LIMIT - 30)})
    assert len(body) > DEFAULT_UPLOAD_LIMIT
    r = http.post("/assets", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["details"]["limit"] == DEFAULT_UPLOAD_LIMIT


def test_lean_uploads_need_no_more_than_a_client_reads(big_png, tmp_path):
    with emulator(lean=True) as emu:
        with httpx.Client(base_url=emu.base_url, auth=AUTH) as http:
            up = http.post("/uploads", json={"fileName": "a.png", "contentType": "image/png",
                                             "fileSize": 5, "kind": "image", "parts": 1})
            assert set(up.json()["upload"]) == {"id", "status", "parts", "xEmulatorUnknownField"}
        asset_id = _upload(emu, tmp_path, big_png)
        assert emu.store.get_asset(asset_id).path.read_bytes() == big_png


def test_a_storage_hosts_xml_error_is_named_by_its_code_and_message() -> None:
    """A presigned part PUT or CDN fetch refused by the storage host answers S3's XML
    (the facts file: a bad or expired signature answers 403 'Access Denied' in XML); the
    error must say what the host said, not that an HTML page came back."""
    from skybox_nb.emulator.multipart import CREDENTIALS_REFUSED_XML

    expired = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
               b'<Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires>'
               b'<Expires>2026-12-01T07:00:00Z</Expires><RequestId>R1</RequestId></Error>')
    err = errors.error_from_response(403, expired, {"content-type": "application/xml"})
    assert "AccessDenied: Request has expired" in str(err) and "HTML" not in str(err)
    err = errors.error_from_response(400, CREDENTIALS_REFUSED_XML)
    assert "InvalidArgument: Only one auth mechanism allowed" in str(err)
    # a signature mismatch's body echoes the signature and the string signed: never shown
    mismatch = (b'<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature '
                b'we calculated does not match</Message><SignatureProvided>abcdef0123'
                b'</SignatureProvided><StringToSign>PUT secret</StringToSign></Error>')
    text = str(errors.error_from_response(403, mismatch))
    assert "SignatureDoesNotMatch" in text and "abcdef0123" not in text \
        and "StringToSign" not in text
    # a real HTML page is still summarised, not dumped
    page = errors.error_from_response(502, b"<html><body>Bad gateway</body></html>")
    assert "HTML page" in str(page)


def test_a_refused_multipart_upload_names_the_file_and_its_type(tmp_path, monkeypatch):
    from skybox_nb.client import transfer

    real = transfer.encode_upload
    monkeypatch.setattr(transfer, "encode_upload",
                        lambda image: (real(image)[0], "sky.jpg", "image/jpeg"))
    monkeypatch.setattr(transfer, "DATA_URL_MAX_BODY", 1024)
    with emulator() as emu:
        with pytest.raises(errors.InvalidError) as info:
            _upload(emu, tmp_path, np.random.default_rng(2).integers(0, 255, (64, 128, 3),
                                                                     np.uint8))
    text = str(info.value)
    assert "'sky.jpg'" in text and "image/jpeg" in text and "PNG, JPEG or WebP" in text
