"""Time from Generate to all previews shown, for 4 outputs on the emulator with zero job
duration (target: under 1 s), next to the bare ``client.run`` time measured in the same run.

Run: .venv/bin/python benchmarks/bench_gallery.py [--repeat N] [--size 2048x1024]
                                                 [--poll-first SECONDS]
Most of the time is the job itself: the emulator rendering four panoramas and the
client's first poll (0.5 s by default, then backing off); ``--poll-first`` shows how much
of it is polling.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time

from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest
from skybox_nb.retry import PollSchedule
from skybox_nb.widgets import Gallery, GeneratorForm

PROMPT = "a mountain lake at dawn, pine forest"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", default="2048x1024", help="emulator render size WxH")
    ap.add_argument("--poll-first", type=float, default=None,
                    help="the client's first poll interval (default: the client's own)")
    args = ap.parse_args()
    poll = None
    if args.poll_first is not None:
        poll = functools.partial(PollSchedule, first=args.poll_first)
    w, h = (int(v) for v in args.size.split("x"))

    with Emulator(job_duration=0.0, render_size=(w, h)) as emu, \
            tempfile.TemporaryDirectory() as lib:
        client = SkyboxClient(emulator=emu, library=lib, poll=poll)
        client.run(SkyboxRequest(PROMPT, num_outputs=1, seed=1))  # warm up connections
        bare, ui, previews = [], [], []
        for i in range(args.repeat):
            req = SkyboxRequest(PROMPT, num_outputs=4, seed=1000 + i)
            t0 = time.perf_counter()
            client.run(req)
            bare.append(time.perf_counter() - t0)

            gallery = Gallery(client)
            form = GeneratorForm(client, gallery=gallery, prompt=PROMPT)
            add = gallery.add

            def timed_add(result, add=add):  # the gallery's own share: decode, downscale, show
                t = time.perf_counter()
                out = add(result)
                previews.append(time.perf_counter() - t)
                return out

            gallery.add = timed_add
            form.set_values(num_outputs=4, seed=2000 + i)
            t0 = time.perf_counter()
            form.generate_button.click()
            form.runs[-1].result(60)  # the gallery shows the previews before this returns
            ui.append(time.perf_counter() - t0)
            assert len(gallery) == 4
            form.close()
        client.close()

    polling = "client default" if poll is None else f"first poll {args.poll_first} s"
    print(f"4 outputs at {w}x{h}, emulator job_duration=0, {polling}, {args.repeat} runs each")
    print(f"{'path':<44} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, xs in [("client.run (bare: POST, poll, 4 downloads)", bare),
                     ("Generate click -> 4 previews in the gallery", ui),
                     ("  of which gallery.add (4 previews)", previews)]:
        print(f"{name:<44} {statistics.median(xs):9.3f} {min(xs):7.3f} {max(xs):7.3f}")
    print(f"gallery overhead (median): {statistics.median(ui) - statistics.median(bare):+.3f} s")
    print(f"target under 1 s: {'met' if statistics.median(ui) < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
