"""A canary key and secret go through every path; the canary never comes out.

Paths: generate/run/download, every error (a wrong secret, a refused connection, half a
pair of credentials, failed jobs), logs at DEBUG from every logger, stdout and stderr,
the reprs of client, settings, credentials, jobs, assets and results, the ledger's
database files, the sidecars and every other file in the library, the request's
exported snippets and the form's snippet, the CLI, and the quickstart notebook executed
with the canary in its environment against an emulator that accepts only the canary.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import traceback
from pathlib import Path
from typing import Any, Iterable

import pytest

from reliability_support import fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.cli import main as cli_main
from skybox_nb.client import SkyboxClient
from skybox_nb.config import Credentials, resolve_settings
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest

AREA = "secrets"
KEY = "canaryKey7Q2wX9mZ4vB8nL3k"
SECRET = "canarySecret5Hf1Rt6Yp0Ud2Js"
NOTEBOOK = Path(__file__).resolve().parents[2] / "skybox_nb" / "notebooks" / "01_quickstart.ipynb"


def forms(key: str = KEY, secret: str = SECRET) -> list[str]:
    """Every shape the canary could leak in: each half, and the Basic auth token."""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return [key, secret, token, key[:12], secret[:12]]


def assert_clean(where: str, text: str | bytes, extra: Iterable[str] = ()) -> None:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    for f in [*forms(), *extra]:
        assert f.encode() not in data, f"the canary ({f[:6]}...) leaked into {where}"


def library_bytes(library: Path) -> dict[str, bytes]:
    """Every file of a library (ledger database, WAL, images, sidecars, exports)."""
    return {str(p): p.read_bytes() for p in library.rglob("*") if p.is_file()}


@pytest.fixture
def canary_emu() -> Any:
    with Emulator(job_duration=0.0, render_size=(64, 32), api_key=KEY, api_secret=SECRET,
                  quiet=False) as e:
        yield e


def test_canary_through_every_client_path(canary_emu, tmp_path, caplog, capfd, monkeypatch,
                                          tally):
    caplog.set_level(logging.DEBUG)  # the root logger: every library's DEBUG lines
    for name in ("httpx", "httpcore", "skybox_nb", "skybox_nb.client"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    lib = tmp_path / "lib"
    seen: list[str] = []
    c = SkyboxClient(KEY, SECRET, canary_emu.base_url, library=lib, retry=fast_retry(),
                     poll=fast_poll)
    # Positive control: the canary forms are exactly what goes into the one header.
    assert c._http.headers["Authorization"] == "Basic " + forms()[2]
    r = c.run(SkyboxRequest("canary sky", num_outputs=2, seed=1),
              on_progress=lambda j: seen.append(repr(j)))
    job = c.generate(SkyboxRequest("canary sky", num_outputs=1, seed=2))
    c.wait(job)
    c.estimate(SkyboxRequest("canary sky"))
    asset = c.asset(r.assets[0].id)
    c.download(asset, tmp_path / "dl")
    c.upload(r.files[0])
    canary_emu.inject("job_failure", moderation=True)
    failures: list[BaseException] = []
    for fault in (None, "drop_after_accept", "server_error"):
        if fault == "server_error":
            canary_emu.inject(fault, route="generate")
        elif fault:
            canary_emu.inject(fault)
        try:
            c.run(SkyboxRequest("canary sky", num_outputs=1, seed=10 + len(failures)))
        except errors.SkyboxError as e:
            failures.append(e)
    assert len(failures) == 3
    # Errors raised by wrong or partial credentials, or an unreachable host.
    wrong = SkyboxClient(KEY, "wrong-" + SECRET[::-1], canary_emu.base_url, library=lib)
    with pytest.raises(errors.AuthError) as info:
        wrong.estimate(SkyboxRequest("x"))
    failures.append(info.value)
    wrong.close()
    dead = SkyboxClient(KEY, SECRET, "http://127.0.0.1:9/v1", library=tmp_path / "dead",
                        retry=fast_retry(attempts=1))
    with pytest.raises(errors.SkyboxError) as info:
        dead.job("job_abc")
    failures.append(info.value)
    dead.close()
    with pytest.raises(ValueError) as info:
        resolve_settings(api_key=KEY, environ={})
    failures.append(info.value)
    with pytest.raises(ValueError) as info:
        Credentials(KEY, "")
    failures.append(info.value)

    texts = {
        "reprs": [repr(c), str(c), repr(c.ledger), repr(r), repr(job), repr(asset),
                  repr(resolve_settings(KEY, SECRET, canary_emu.base_url, environ={})),
                  repr(Credentials(KEY, SECRET)), str(Credentials(KEY, SECRET)),
                  repr(canary_emu), json.dumps(canary_emu.stats()), *seen,
                  repr(c.ledger.generations())],
        "errors": [t for e in failures for t in (str(e), repr(e), "".join(
            traceback.format_exception(type(e), e, e.__traceback__)),
            repr(getattr(e, "details", None)))],
        "snippets": [r.request.to_curl(), r.request.to_python(),
                     r.request.to_curl(canary_emu.base_url)],
    }
    c.close()
    for where, items in texts.items():
        assert_clean(where, "\n".join(items))
    logs = "\n".join(f"{rec.name} {rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    assert "HTTP Request" in logs or "skybox_nb" in logs  # DEBUG logging really ran
    assert_clean("logs", logs)
    out, err = capfd.readouterr()
    assert "OFFLINE EMULATOR" in err  # the emulator's own log lines were on
    assert_clean("stdout/stderr", out + err)
    files = library_bytes(lib) | library_bytes(tmp_path / "dl")
    assert any(k.endswith("ledger.sqlite") for k in files)
    assert any(k.endswith(".json") for k in files)
    for path, data in files.items():
        assert_clean(path, data)
    tally.add(AREA, "canary key/secret through every client path", 1,
              f"absent from {sum(map(len, texts.values()))} reprs/errors/snippets, "
              f"{len(caplog.records)} DEBUG log records, {len(files)} library files")


def test_canary_in_the_environment_cli_and_form(canary_emu, tmp_path, monkeypatch, capsys,
                                                caplog, tally):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
    monkeypatch.setenv("SCENARIO_BASE_URL", canary_emu.base_url)
    out_dir = tmp_path / "cli"
    assert cli_main(["generate", "a canary meadow", "--num-outputs", "1", "--seed", "3",
                     "--out", str(out_dir)]) in (0, None)
    printed = capsys.readouterr()
    assert ".png" in printed.out
    from skybox_nb.widgets import GeneratorForm

    with SkyboxClient(library=tmp_path / "form") as c:
        assert not c.is_emulator and c.base_url == canary_emu.base_url
        form = GeneratorForm(c, prompt="a canary meadow")
        snippets = []
        for kind in ("cURL", "Python"):
            form.snippet_kind.value = kind
            snippets.append(form.snippet.value)
        assert "SCENARIO_SDK_API_SECRET" in "".join(snippets)
        from ipywidgets.widgets.widget import _instances

        states = [w.get_state() for w in list(_instances.values())]
        assert any("canary meadow" in json.dumps(st, default=str) for st in states)
        state = json.dumps(states, default=str)
    assert_clean("CLI output", printed.out + printed.err)
    assert_clean("form snippets and state", "\n".join(snippets) + state)
    assert_clean("logs", "\n".join(r.getMessage() for r in caplog.records))
    for path, data in (library_bytes(out_dir) | library_bytes(tmp_path / "form")).items():
        assert_clean(path, data)
    tally.add(AREA, "canary in the environment: CLI generate, form snippets", 1,
              "absent from CLI output, snippets (env references), logs and files")


def test_canary_through_the_executed_quickstart(tmp_path, monkeypatch, tally):
    import nbformat
    from nbclient import NotebookClient

    with Emulator(job_duration=0.0, render_size=(256, 128), api_key=KEY,
                  api_secret=SECRET) as emu:
        monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
        monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
        monkeypatch.setenv("SCENARIO_BASE_URL", emu.base_url)
        work = tmp_path / "run"
        work.mkdir()
        shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
        nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
        posts = emu.stats()["generate_posts"]
    assert posts >= 2  # it really ran against the canary-only emulator
    text = nbformat.writes(nb)
    assert "Scenario API" in text  # the notebook saw real credentials, not the emulator
    assert_clean("the executed notebook", text)
    files = library_bytes(work)
    for path, data in files.items():
        assert_clean(path, data)
    tally.add(AREA, "quickstart notebook executed with the canary in its environment", 1,
              f"absent from every output and from {len(files)} files it wrote "
              f"({posts} paid POSTs to a canary-only emulator)")
