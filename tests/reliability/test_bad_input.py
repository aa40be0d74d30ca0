"""Bad input, property-based: request fields, uploads, panoramas for the geometry
functions, and malformed server answers. Each case ends in a clear error of the right
type (``skybox_nb.errors.*``, or a ``ValueError`` subclass naming the field, the value
and what is allowed), never a deep crash.

Example counts are bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time
import warnings
import zlib
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from reliability_support import fast_retry, make_client
from skybox_nb import errors
from skybox_nb.client import UPLOAD_MAX_BYTES, SkyboxClient
from skybox_nb.cubemap import perspective, to_faces
from skybox_nb.emulator import Emulator
from skybox_nb.panorama import Panorama, PanoramaError
from skybox_nb.request import SkyboxRequest
from skybox_nb.seams import seam_report

AREA = "bad input"
# Exceptions that mean "crashed deep inside" rather than "refused clearly".
DEEP = (KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError,
        UnboundLocalError, RecursionError)
FEW = settings(max_examples=60, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow])


def _not_deep(e: BaseException) -> None:
    assert not isinstance(e, DEEP), f"deep crash: {type(e).__name__}: {e}"


# -- request fields ---------------------------------------------------------------------

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.binary(max_size=8), st.sampled_from([np.float32("nan"), np.int64(3), np.float64(0.5)]),
)
FIELDS = list(SkyboxRequest.API_NAMES)


@FEW
@given(values=st.fixed_dictionaries({}, optional={f: anything for f in FIELDS}))
def test_request_fields(values, tally):
    values.setdefault("prompt", "a sky")
    try:
        r = SkyboxRequest(**values)
    except errors.ValidationError as e:
        assert isinstance(e, ValueError) and e.problems
        api = set(SkyboxRequest.API_NAMES.values())
        for p in e.problems:
            assert p.field in api and "allowed" in str(p)
            assert p.field in str(e)
    except Exception as e:  # anything else is a failure to refuse clearly
        _not_deep(e)
        raise
    else:
        body = r.to_body()
        json.dumps(body, allow_nan=False)  # what is sent is plain, finite JSON
        assert isinstance(r.fingerprint, str) and body["prompt"] == values["prompt"]
    tally.add(AREA, "request fields (any Python value in any field)", 1,
              "built, or ValidationError naming each field with what is allowed")


@FEW
@given(body=st.dictionaries(st.sampled_from(list(SkyboxRequest.API_NAMES.values())
                                            + ["Prompt", "num_outputs", "style ", ""]),
                            anything, max_size=6))
def test_request_from_any_api_body(body, tally):
    try:
        SkyboxRequest.from_body(body)
    except errors.ValidationError as e:
        assert all(p.field in str(e) for p in e.problems)
    tally.add(AREA, "request bodies (any keys and values)", 1,
              "built, or ValidationError naming each field")


# -- uploads ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def uploader(tmp_path_factory) -> Iterator[tuple[SkyboxClient, Emulator]]:
    with Emulator(job_duration=0.0, render_size=(64, 32)) as emu:
        c = make_client(emu, tmp_path_factory.mktemp("uploads"))
        yield c, emu
        c.close()


def _png(w: int, h: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb(w: int, h: int) -> bytes:
    """A valid PNG of w x h black grey pixels: tiny on disk, w*h bytes once decoded."""
    raw = zlib.compress(b"".join(b"\0" + bytes(w) for _ in range(h)), 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", raw) + _chunk(b"IEND", b""))


def _upload_refused(c: SkyboxClient, image: Any, emu: Emulator) -> errors.SkyboxError:
    before = emu.stats()["requests"].get("upload", 0)
    try:
        c.upload(image)
    except errors.SkyboxError as e:
        assert emu.stats()["requests"].get("upload", 0) == before  # refused before sending
        assert "image" in str(e)
        return e
    except Exception as e:
        _not_deep(e)
        raise
    raise AssertionError(f"upload of a bad image was accepted: {type(image).__name__}")


@FEW
@given(data=st.binary(max_size=300))
def test_upload_not_an_image(uploader, data, tally):
    c, emu = uploader
    assume(not data.startswith((b"\x89PNG", b"\xff\xd8", b"RIFF")))
    assert isinstance(_upload_refused(c, data, emu), errors.InvalidError)
    tally.add(AREA, "upload: random bytes", 1, "InvalidError before sending")


@settings(max_examples=25, deadline=None)
@given(cut=st.floats(0.05, 0.95))
def test_upload_truncated(uploader, cut, tally):
    c, emu = uploader
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 128, 3), np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    assert isinstance(_upload_refused(c, data[: int(len(data) * cut)], emu), errors.InvalidError)
    tally.add(AREA, "upload: truncated PNG", 1, "InvalidError before sending")


def test_upload_huge_and_bombs(uploader, tmp_path, monkeypatch, tally):
    c, emu = uploader
    loads: list[tuple[int, int]] = []
    real_load = Image.Image.load

    def spy(self: Image.Image) -> Any:
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    cases = {
        "too wide": _png(9000, 16, "L"),
        "too small": _png(8, 8),
        "bomb within Pillow's limit": _bomb(8300, 8300),
        "bomb beyond Pillow's limit": _bomb(20000, 20000)[:64] + _chunk(b"IEND", b""),
    }
    for name, data in cases.items():
        loads.clear()
        e = _upload_refused(c, data, emu)
        assert isinstance(e, errors.InvalidError), name
        # Refused from the header: the pixels of an oversized image are never decoded.
        assert not [s for s in loads if s[0] * s[1] > 8192 * 8192], (name, loads)
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(UPLOAD_MAX_BYTES + 1)
    assert "bytes" in str(_upload_refused(c, big, emu))
    assert "expected an existing image file" in str(_upload_refused(c, tmp_path / "nope.png", emu))
    tally.add(AREA, "upload: huge sides, tiny, decompression bombs, oversized file, missing",
              len(cases) + 2, "InvalidError before sending; bombs refused from the header")


MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "I;16",
         "LA", "PA", "La", "RGBa"]


@settings(max_examples=len(MODES) * 2, deadline=None)
@given(mode=st.sampled_from(MODES))
def test_upload_any_image_mode(uploader, mode, tally):
    c, emu = uploader
    try:
        asset_id = c.upload(Image.new(mode, (32, 16)))
    except errors.InvalidError as e:
        assert mode in str(e)
    else:
        assert asset_id.startswith("asset_")
    tally.add(AREA, "upload: every Pillow image mode", 1,
              "uploaded as PNG, or InvalidError naming the mode")


@FEW
@given(shape=st.lists(st.integers(0, 40), min_size=0, max_size=4),
       dtype=st.sampled_from(["uint8", "int16", "uint16", "float32", "float64", "bool",
                              "complex64", "object"]),
       fill=st.sampled_from([0.0, 0.5, 2.0, -1.0, float("nan"), float("inf")]))
def test_upload_any_array(uploader, shape, dtype, fill, tally):
    c, emu = uploader
    try:
        with np.errstate(invalid="ignore"):
            arr = np.full(shape, fill).astype(dtype)
    except (ValueError, OverflowError):
        assume(False)
    try:
        c.upload(arr)
    except errors.InvalidError as e:
        assert "image" in str(e)
    except Exception as e:
        _not_deep(e)
        raise
    tally.add(AREA, "upload: arrays of any shape, dtype and values", 1,
              "uploaded, or InvalidError saying what is allowed")


# -- panoramas for the geometry functions --------------------------------------------------

GEOMETRY = {
    "Panorama.load": lambda a: Panorama.load(a),
    "to_faces": lambda a: to_faces(a, face_size=8),
    "perspective": lambda a: perspective(a, yaw=30, pitch=10, fov=90, size=(16, 12)),
    "seam_report": lambda a: seam_report(a),
}


def _geometry_ok_or_clear(fn: Any, arr: Any) -> bool:
    try:
        fn(arr)
        return True
    except ValueError as e:  # PanoramaError is one
        assert str(e) and len(str(e)) < 600
        return False
    except Exception as e:
        _not_deep(e)
        raise


@FEW
@given(h=st.integers(0, 40), w=st.integers(0, 80), c=st.sampled_from([None, 1, 2, 3, 4, 5]),
       dtype=st.sampled_from(["uint8", "uint16", "float32", "float64", "int32", "bool"]),
       nan=st.booleans(), fn=st.sampled_from(sorted(GEOMETRY)))
def test_geometry_on_any_array(h, w, c, dtype, nan, fn, tally):
    shape = (h, w) if c is None else (h, w, c)
    arr = np.zeros(shape, dtype)
    if nan and arr.size and arr.dtype.kind == "f":
        arr.flat[arr.size // 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "close to 2:1" is a warning only
        ok = _geometry_ok_or_clear(GEOMETRY[fn], arr)
    if ok:  # only (nearly) 2:1 images of a supported kind, size and content pass
        assert h >= 8 and abs(w / h - 2) <= 0.04 and c in (None, 1, 3, 4)
        assert not (nan and arr.dtype.kind == "f")
    tally.add(AREA, "geometry functions on arrays (any shape, dtype, ratio, NaN)", 1,
              "result, or PanoramaError/ValueError saying what is allowed")


def test_geometry_clear_messages(tally):
    huge = np.broadcast_to(np.zeros(1, np.uint8), (20000, 40000, 3))  # lazy: no memory
    nan = np.zeros((32, 64, 3), np.float32)
    nan[3, 4, 1] = np.nan
    cases = {
        "huge": (huge, "too large"),
        "huge float": (np.broadcast_to(np.float32(np.nan), (20000, 40000, 3)), "too large"),
        "NaN": (nan, "NaN"),
        "photo ratio": (np.zeros((48, 64, 3), np.uint8), "2:1"),
        "too wide": (np.zeros((16, 80, 3), np.uint8), "2:1"),
        "tiny": (np.zeros((4, 8, 3), np.uint8), "too small"),
        "bomb bytes": (_bomb(20000, 10000)[:64], "too large"),
        "not an image": (b"<html>502</html>", "cannot decode"),
    }
    for fn in GEOMETRY.values():
        for name, (arr, words) in cases.items():
            with pytest.raises(PanoramaError) as info:
                fn(arr)
            assert words in str(info.value), (name, str(info.value))
    good = np.zeros((16, 32, 3), np.uint8)
    for bad in ({"fov": 0}, {"fov": 180}, {"fov": float("nan")}, {"yaw": float("inf")},
                {"size": (0, 5)}, {"size": (10,)}, {"size": (10.5, 5)}):
        with pytest.raises(ValueError) as info:
            perspective(good, **bad)
        assert next(iter(bad)) in str(info.value)
    for size in (0, -1, 2.5, True, 10**6):
        with pytest.raises(ValueError, match="face_size"):
            to_faces(good, face_size=size)
    tally.add(AREA, "geometry: huge (lazy), NaN, wrong ratio, tiny, bomb, bad view params",
              len(cases) * len(GEOMETRY) + 12, "PanoramaError/ValueError naming the problem")


# -- malformed server answers ---------------------------------------------------------------

KEYS = ["job", "asset", "jobs", "jobId", "id", "status", "progress", "metadata", "assetIds",
        "url", "mimeType", "billing", "cuCost", "creativeUnitsCost", "createdAt", "message",
        "details", "hint", "actionName", "actionLimit", "nextPaginationToken", "modelId"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False),
              st.text(max_size=12), st.sampled_from(["job_abc", "asset_abc", "success",
                                                     "failure", "in-progress", "../x"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=12)


def _valid_job(status: str = "success") -> dict[str, Any]:
    return {"jobId": "job_abc", "status": status, "progress": 1.0, "jobType": "custom",
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:01.000Z",
            "metadata": {"assetIds": ["asset_abc"], "input": {}}, "billing": {"cuCost": 5}}


def _mutations() -> st.SearchStrategy[Any]:
    """Valid answers with one field removed or replaced by any JSON value."""
    base = st.sampled_from([{"job": _valid_job()}, {"job": _valid_job("queued")},
                            {"asset": {"id": "asset_abc", "url": "https://cdn.test/a.png",
                                       "mimeType": "image/png", "metadata": {"seed": 1}}},
                            {"jobs": [_valid_job()]}, {"creativeUnitsCost": 4}])

    def mutate(doc: dict[str, Any], path: list[int], value: Any, drop: bool) -> Any:
        node = doc
        for i in path:
            if not isinstance(node, dict) or not node:
                break
            key = sorted(node)[i % len(node)]
            if drop and not isinstance(node[key], dict):
                del node[key]
                return doc
            if isinstance(node[key], dict):
                node = node[key]
            else:
                node[key] = value
                return doc
        return doc

    return st.builds(lambda d, p, v, drop: mutate(json.loads(json.dumps(d)), p, v, drop),
                     base, st.lists(st.integers(0, 20), min_size=1, max_size=3),
                     json_values, st.booleans())


answers = st.one_of(
    st.builds(lambda s, v: (s, json.dumps(v).encode(), "application/json"),
              st.sampled_from([200, 269, 400, 404, 429, 500, 503]),
              st.one_of(json_values, _mutations())),
    st.builds(lambda s, b: (s, b, "application/json"), st.sampled_from([200, 500]),
              st.binary(max_size=40)),
    st.builds(lambda d: (429, json.dumps({"message": "too many", "details": d}).encode(),
                         "application/json"),
              st.fixed_dictionaries({"actionName": st.sampled_from(["parallel-custom-jobs",
                                                                     "rate-limit", 5])},
                                    optional={"actionLimit": json_values})),
    st.builds(lambda s: (s, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
              st.sampled_from([200, 403, 502, 504])),
)
headers = st.dictionaries(st.sampled_from(["Retry-After", "retry-after-ms", "Content-Type"]),
                          st.sampled_from(["1", "0", "-3", "nan", "inf", "1e308", "soon",
                                           "Wed, 21 Oct 2015 07:28:00 GMT", ""]), max_size=2)
CALLS = {
    "generate": lambda c: c.generate(SkyboxRequest("a harbour at dawn", num_outputs=1)),
    "estimate": lambda c: c.estimate(SkyboxRequest("a harbour at dawn")),
    "job": lambda c: c.job("job_abc"),
    "wait": lambda c: c.wait("job_abc", timeout=0.2),
    "cancel": lambda c: c.cancel("job_abc"),
    "asset": lambda c: c.asset("asset_abc"),
    "upload": lambda c: c.upload(np.zeros((16, 32, 3), np.uint8)),
    "download": lambda c: c.download("asset_abc", c.ledger.library),
}


@FEW
@given(answer=answers, extra=headers, call=st.sampled_from(sorted(CALLS)))
def test_malformed_server_answers(tmp_path_factory, answer, extra, call, tally):
    status, body, ctype = answer
    # A 429 naming an action limit (any actionName/actionLimit) is the parallel-jobs
    # limit: generate waits for a slot by design (see the next test).
    assume(not (call == "generate" and status == 429
                and (b"actionName" in body or b"actionLimit" in body)))
    # The dry run's 269 and the real answers' 2xx reach every parser; errors reach
    # error_from_response; a 429 with odd Retry-After values reaches the retry rules.

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Content-Type": ctype, **extra})

    lib = tmp_path_factory.mktemp("mock")
    c = SkyboxClient("mock-key", "mock-secret", "https://api.test/v1", library=lib,
                     transport=httpx.MockTransport(handler), retry=fast_retry(attempts=2),
                     timeout=2.0)
    try:
        CALLS[call](c)
    except errors.SkyboxError as e:
        text = str(e)
        assert text.startswith("[") and "Traceback" not in text
        assert "<html>" not in text  # an HTML page is described, not dumped
    except Exception as e:
        _not_deep(e)
        raise
    finally:
        c.close()
    tally.add(AREA, "malformed server answers (missing fields, wrong types, non-JSON, HTML)",
              1, "a SkyboxError (protocol/server/...) or a valid result; never a deep crash")


def test_concurrency_429_asking_for_an_hour_is_not_waited_for(tmp_path, tally):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3600"}, json={
            "message": "Too many parallel jobs", "details": {"actionName": "parallel-custom-jobs"}})

    with SkyboxClient("mock-key", "mock-secret", "https://api.test/v1", library=tmp_path,
                      transport=httpx.MockTransport(handler), retry=fast_retry()) as c:
        t0 = time.monotonic()
        with pytest.raises(errors.RateLimitError) as info:
            c.generate(SkyboxRequest("a harbour at dawn"))
        assert time.monotonic() - t0 < 5
        assert info.value.is_concurrency_limit and info.value.retry_after == 3600
        assert [g.status for g in c.ledger.generations()] == ["refused"]
    tally.add(AREA, "parallel-jobs 429 asking to wait an hour", 1,
              "RateLimitError at once (was: a silent hour-long sleep); intent 'refused'")


@FEW
@given(status=st.integers(100, 599),
       body=st.one_of(json_values.map(json.dumps), st.text(max_size=40), st.binary(max_size=40)),
       extra=headers, paid=st.booleans())
def test_error_from_any_response(status, body, extra, paid, tally):
    e = errors.error_from_response(status, body, extra, paid=paid)
    assert isinstance(e, errors.SkyboxError) and e.status == status
    assert str(e)
    if isinstance(e, errors.RateLimitError) and e.retry_after is not None:
        assert e.retry_after >= 0 and not math.isnan(e.retry_after)
    tally.add(AREA, "error answers (any status, body, Retry-After)", 1,
              "one SkyboxError of the right kind, with status and message")
