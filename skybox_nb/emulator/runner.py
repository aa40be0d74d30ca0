"""Runs emulated jobs: queued -> in-progress (rising progress) -> success | failure | canceled.

Invariant: a job reaches ``success`` only after every one of its images is rendered,
encoded and complete on disk as an asset, and never before ``job_duration`` seconds have
passed since it was created; any error on the way ends it in ``failure``, never leaves
it running; a canceled job stays canceled (the store refuses to move a
final job), and its renders are thrown away.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import secrets
import threading
import time
from typing import Any

import numpy as np
from PIL import Image

from . import catalog, hdri, siblings
from .faults import Fault
from .render import EMULATOR_NOTICE, effective_geometry, encode_png, render
from .store import JobRecord, Store
from .styles import look_for

__all__ = ["Runner", "cu_cost", "MODERATION_ERROR", "MODERATION_HINT"]

MODERATION_ERROR = "Content moderation: the prompt was flagged as NSFW by the content policy."
MODERATION_HINT = "Rephrase the prompt to stay within Scenario's content policy, then retry."
_FAILURE_ERROR = "Generation failed on the inference server (emulated failure)."
_FAILURE_HINT = "Retry the request; if it keeps failing, lower numOutputs or change the seed."


def cu_cost(inputs: dict[str, Any]) -> float:
    """The emulator's made-up price in Creative Units: (3 + steps / 10) per output.

    Real prices come from Scenario; this formula only lets cost estimates move with the
    inputs that plausibly drive them (numOutputs, numInferenceSteps).
    """
    n = int(inputs.get("numOutputs", 2))
    steps = int(inputs.get("numInferenceSteps", 30))
    return round(n * (3 + steps / 10), 2)


class Runner:
    """Starts one thread per job; images are rendered on a small shared pool."""

    def __init__(self, store: Store, job_duration: float,
                 render_size: tuple[int, int] | None = None, workers: int | None = None) -> None:
        self.store = store
        self.job_duration = float(job_duration)
        self.render_size = tuple(render_size) if render_size else catalog.OUTPUT_SIZE
        n = workers or max(1, min(4, os.cpu_count() or 1))
        self._pool = cf.ThreadPoolExecutor(max_workers=n, thread_name_prefix="emulator-render")
        self._closed = False

    def start(self, job: JobRecord, failure: Fault | None = None) -> None:
        """Run ``job`` in the background; ``failure`` makes it end in failure."""
        t = threading.Thread(target=self._run, args=(job, failure), daemon=True,
                             name=f"emulator-{job.id}")
        t.start()

    def close(self) -> None:
        """Stop taking renders (running ones finish); job threads then end quietly."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ lifecycle
    def _wait_until(self, job: JobRecord, deadline: float) -> bool:
        """Sleep until ``deadline``; False as soon as the job is final (canceled)."""
        while True:
            if job.done:
                return False
            left = deadline - time.time()
            if left <= 0:
                return True
            time.sleep(min(left, 0.05))

    def _run(self, job: JobRecord, failure: Fault | None) -> None:
        try:
            self._lifecycle(job, failure)
        except Exception as exc:
            if not self._closed:  # after close() the store's files are gone: nothing to do
                self._render_failed(job, exc)  # any error ends the job: never a hang

    def _lifecycle(self, job: JobRecord, failure: Fault | None) -> None:
        d = self.job_duration
        if not self._wait_until(job, job.created + 0.15 * d):
            return
        if not self.store.advance(job, "in-progress", progress=0.0):
            return
        if failure is not None:
            self._fail(job, failure)
            return
        try:  # decoded once for all the outputs
            init = self._init_image(job.input.get("image"))
            refs = [self._init_image(a) for a in job.input.get("referenceImages", ())]
            if refs:
                init = refs  # Skybox GPT has no init image: its references take the place
        except Exception as exc:
            self._render_failed(job, exc)
            return
        futures = [self._pool.submit(self._render_one, job, i, init)
                   for i in range(job.num_outputs)]
        n = len(futures)
        while True:
            done = sum(f.done() for f in futures)
            frac_time = 1.0 if d <= 0 else min(1.0, (time.time() - job.created) / d)
            if job.done:  # canceled meanwhile
                for f in futures:
                    f.cancel()
                return
            if done == n and frac_time >= 1.0:
                break
            self.store.advance(job, progress=min(0.99, frac_time, (done + 0.5) / n))
            # Wait on the unfinished renders only: FIRST_COMPLETED returns at once when any
            # future is already done, and that spin starved the render threads of the GIL
            # (4 outputs took 6 s instead of 0.3 s).
            pending = [f for f in futures if not f.done()]
            if pending:
                cf.wait(pending, timeout=0.05, return_when=cf.FIRST_COMPLETED)
            else:  # all rendered; only the configured duration is left
                time.sleep(min(0.05, max(0.0, job.created + d - time.time())))
        try:
            images = [f.result() for f in futures]
        except Exception as exc:
            self._render_failed(job, exc)
            return
        ids = []
        for i, (data, meta) in enumerate(images):
            original = meta.pop("_original", None)  # an HDRi's EXR, served at originalFileUrl
            mime = meta.pop("_mime", "image/png")
            rec = self.store.add_asset(data, mime_type=mime, width=meta["width"],
                                       height=meta["height"], origin="generated", metadata=meta,
                                       original=original)
            ids.append(rec.id)
        self.store.advance(job, "success", progress=1.0, asset_ids=ids)

    def _render_failed(self, job: JobRecord, exc: Exception) -> None:
        """A bug in the renderer (or a file that cannot be stored) must end the job, not
        hang it."""
        self.store.advance(job, "failure", error=f"Emulator render failed: {exc}",
                           hint="This is a bug in the offline emulator, not your request.")

    def _fail(self, job: JobRecord, failure: Fault) -> None:
        if not self._wait_until(job, job.created + 0.6 * self.job_duration):
            return
        p = failure.params
        moderated = p.get("moderation")
        error = p.get("error") or (MODERATION_ERROR if moderated else _FAILURE_ERROR)
        hint = p.get("hint") or (MODERATION_HINT if moderated else _FAILURE_HINT)
        self.store.advance(job, "failure", error=error, hint=hint)

    # ------------------------------------------------------------------ images
    def _init_image(self, asset_id: str | None) -> np.ndarray | None:
        if not asset_id:
            return None
        rec = self.store.get_asset(asset_id)
        if rec is None:
            return None
        with Image.open(rec.path) as im:
            return np.asarray(im.convert("RGB"))

    def _render_hdri(self, job: JobRecord, init: np.ndarray) -> tuple[bytes, dict[str, Any]]:
        """An HDRi asset (`hdri.py`): a JPEG preview, with its EXR as the original."""
        lin, (sun_yaw, sun_pitch) = hdri.hdri(init)
        jpeg, exr = hdri.preview_jpeg(lin), hdri.exr_bytes(lin)
        meta = {"type": hdri.HDRI_TYPE, "kind": hdri.HDRI_KIND, "width": lin.shape[1],
                "height": lin.shape[0], "size": len(jpeg), "seed": str(job.input["seed"]),
                "numOutputs": 1, "outputIndex": 0, "parentJobId": job.id,
                "modelId": job.model_id, "image": job.input["image"],
                "generatedBy": EMULATOR_NOTICE, "emulator": "offline",
                "emulatorSun": {"yaw": round(sun_yaw, 2), "pitch": round(sun_pitch, 2),
                                "radiance": hdri.SUN_RADIANCE},
                "_mime": hdri.PREVIEW_MIME, "_original": (exr, hdri.EXR_MIME)}
        return jpeg, meta

    def _render_sibling(self, job: JobRecord, init: Any) -> tuple[bytes, dict[str, Any]]:
        """One image of Skybox GPT, the upscaler or image-to-skybox (`siblings.py`)."""
        inp, seed = job.input, int(job.input["seed"])
        if job.model_id == catalog.SKYBOX_HDRI_ID:
            return self._render_hdri(job, init)
        if job.model_id == catalog.SKYBOX_GPT_ID:
            pixels = siblings.skybox_gpt(inp["prompt"], inp["width"], inp["height"], seed,
                                         inp.get("quality", "auto"), init or None)
            kind = "skybox-base-360"
        elif job.model_id == catalog.UPSCALER_ID:
            pixels = siblings.upscale(init, int(inp["upscaleFactor"]), float(inp["strength"]),
                                      seed, bool(inp.get("detailsEnable", True)))
            kind = "upscale-skybox"
        else:
            w, h = self.render_size
            pixels = siblings.image_to_skybox(init, w, h, seed, inp.get("prompt"))
            kind = "skybox-base-360"
        png = encode_png(pixels, {"Source": f"job {job.id} output 0"})
        meta = {"type": kind, "kind": "image", "width": pixels.shape[1],
                "height": pixels.shape[0], "size": len(png), "seed": str(seed),
                "numOutputs": 1, "outputIndex": 0, "parentJobId": job.id,
                "modelId": job.model_id, "generatedBy": EMULATOR_NOTICE, "emulator": "offline",
                **{k: v for k, v in inp.items() if k != "seed"}}
        return png, meta

    def _render_one(self, job: JobRecord, index: int,
                    init: np.ndarray | None) -> tuple[bytes, dict[str, Any]]:
        if job.model_id != catalog.SKYBOX_FLUX_MODEL_ID:
            return self._render_sibling(job, init)
        inp = job.input
        seed = (int(inp["seed"]) + index) % 2147483648
        style = inp.get("style", "cinematic")
        width, height = self.render_size
        pixels = render(
            inp["prompt"], style, seed=seed, size=(width, height),
            steps=int(inp.get("numInferenceSteps", 30)),
            geometry_enforcement=inp.get("geometryEnforcement", 0),
            negative_prompt=inp.get("negativePrompt"),
            negative_strength=inp.get("negativePromptStrength", 0),
            init_image=init,
            strength=inp.get("strength", 0.8),
        )
        png = encode_png(pixels, {"Source": f"job {job.id} output {index}"})
        meta: dict[str, Any] = {
            "type": "skybox-base-360",
            "kind": "image",
            "width": width,
            "height": height,
            "size": len(png),
            "seed": str(seed),
            "prompt": inp["prompt"],
            "style": style,
            "numInferenceSteps": int(inp.get("numInferenceSteps", 30)),
            "numOutputs": job.num_outputs,
            "outputIndex": index,
            "geometryEnforcement": inp.get("geometryEnforcement", 0),
            "effectiveGeometryEnforcement": effective_geometry(
                inp.get("geometryEnforcement", 0), look_for(style)),
            "parentJobId": job.id,
            "modelId": job.model_id,
            "generatedBy": EMULATOR_NOTICE,
            "emulator": "offline",
        }
        for k in ("negativePrompt", "negativePromptStrength", "strength", "image"):
            if k in inp:
                meta[k] = inp[k]
        return png, meta


def random_seed() -> int:
    """A seed for a request that sent none, as the model picks one."""
    return secrets.randbelow(2147483648)
