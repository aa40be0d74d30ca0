"""`SkyboxClient.offline()`: a client that owns the emulator it starts, and the one call
a notebook's first cell makes (the emulator, unless Scenario credentials are set)."""

from __future__ import annotations

import asyncio

import pytest

from fast import fast_poll, fast_retry
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest

ENV = ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL")


@pytest.fixture
def no_credentials(monkeypatch):
    for v in ENV:
        monkeypatch.delenv(v, raising=False)


def stopped(emu: Emulator) -> bool:
    return emu._thread is None or not emu._thread.is_alive()


def test_offline_starts_its_own_emulator_and_stops_it_on_close(lib):
    with SkyboxClient.offline(lib, render_size=(64, 32), retry=fast_retry(),
                              poll=fast_poll) as c:
        emu = c.emulator
        assert c.is_emulator and emu.job_duration == 0.0 and not stopped(emu)
        r = c.run(SkyboxRequest("a dune sea at dawn", num_outputs=1, seed=1))
        assert r.files[0].exists() and emu.stats()["generate_posts"] == 1
    assert stopped(emu)


def test_offline_async_client_stops_its_emulator_on_aclose(lib):
    async def main() -> Emulator:
        async with AsyncSkyboxClient.offline(lib, render_size=(64, 32), retry=fast_retry(),
                                             poll=fast_poll) as c:
            r = await c.run(SkyboxRequest("a dune sea at dusk", num_outputs=1))
            assert len(r.files) == 1
            return c.emulator

    assert stopped(asyncio.run(main()))


def test_offline_even_with_credentials_unless_asked(lib, monkeypatch):
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", "real-key-12345678")
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", "real-secret")
    with SkyboxClient.offline(lib) as c:  # never the real API by surprise
        assert c.is_emulator
        assert "real-secret" not in repr(c._http.headers)  # the real secret stays home
    with SkyboxClient.offline(lib / "2", unless_credentials=True) as c:
        assert not c.is_emulator and c.emulator is None
        assert c.backend.startswith("Scenario API")


def test_offline_unless_credentials_without_any_is_the_emulator(lib, no_credentials):
    with SkyboxClient.offline(lib, unless_credentials=True) as c:
        assert c.is_emulator and c.emulator.job_duration == 0.0
        emu = c.emulator
    assert stopped(emu)


def test_offline_stops_the_emulator_when_the_client_cannot_start(tmp_path, monkeypatch):
    started: list[Emulator] = []
    real_start = Emulator.start

    def start(self: Emulator) -> Emulator:
        started.append(self)
        return real_start(self)

    monkeypatch.setattr(Emulator, "start", start)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(Exception):
        SkyboxClient.offline(not_a_folder)
    assert len(started) == 1 and stopped(started[0])
