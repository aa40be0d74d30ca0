"""Batches: many panoramas through one operation, in a local process pool and on a Dask
cluster, with results equal to one-by-one runs and bad files reported, not fatal."""

from __future__ import annotations

import io
import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skybox_nb import batch
from skybox_nb.cli import _seams_one, main
from skybox_nb.cubemap import export_to
from skybox_nb.repair_cli import outputs_for, repair_one

from synthetic import render, shift_half, textured

W, H = 128, 64
N = 20


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """20 small panoramas, every fourth with a wrap seam, PNG and JPEG."""
    d = tmp_path_factory.mktemp("lib")
    for i in range(N):
        img = render(textured, W, H, seed=i)
        if i % 4 == 0:
            img = shift_half(img, 4)
        Image.fromarray(img).save(d / f"pano_{i:02d}.{'png' if i % 2 else 'jpg'}", quality=92)
    (d / "notes.txt").write_text("not a panorama")  # not a panorama suffix: skipped
    (d / ".pano_99.png.1.x.part").write_bytes(b"half")  # a writer's temp file: skipped
    return d


def _timeless(reports: dict) -> dict:
    """The reports without their own timing (the one field that differs run to run)."""
    return {k: {f: v for f, v in r.items() if f != "seconds"} for k, r in reports.items()}


def _one_by_one_json(paths: list[Path], capsys) -> dict[str, dict]:
    out = {}
    for p in paths:
        assert main(["seams", str(p), "--json"]) == 0
        out[str(p)] = json.loads(capsys.readouterr().out)
    return out


def test_find_panoramas_takes_files_and_folders(library, tmp_path):
    found = batch.find_panoramas([library, library / "pano_03.png", tmp_path / "missing.jpg"])
    assert [p.name for p in found[:N]] == sorted(p.name for p in library.glob("pano_*"))
    assert found[N:] == [tmp_path / "missing.jpg"]  # kept, so it is reported


def test_seams_on_a_folder_equals_one_by_one_runs(library, capsys):
    paths = batch.find_panoramas([library])
    assert len(paths) == N
    expected = _one_by_one_json(paths, capsys)
    assert main(["seams", str(library), "--json", "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    assert _timeless(json.loads(captured.out)) == _timeless(expected)
    assert sum(not r["seamless"] for r in expected.values()) >= N // 4  # findings vary
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("[")]
    assert len(lines) == N and lines[-1].startswith(f"[{N}/{N}]")  # plain lines, no TTY


def test_a_bad_file_is_reported_at_the_end_and_the_rest_done(library, tmp_path, capsys):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    good = sorted(library.glob("pano_0*"))[:3]
    rc = main(["seams", str(good[0]), str(junk), str(good[1]), str(tmp_path / "gone.jpg"),
               str(good[2]), "--jobs", "2"])
    captured = capsys.readouterr()
    assert rc == 2
    assert [ln[3:] for ln in captured.out.splitlines() if ln.startswith("== ")] == [
        str(p) for p in good]  # every good file's report, in input order
    tail = captured.err[captured.err.index("2 of 5 failed"):]
    assert f"{junk}: cannot read" in tail and "gone.jpg" in tail


def test_cubemap_batch_writes_one_folder_per_panorama(library, tmp_path, capsys):
    files = sorted(library.glob("pano_1*"))[:3]
    rc = main(["cubemap", *map(str, files), "--face-size", "16", "--format", "jpg",
               "--quality", "80", "--out", str(tmp_path / "out")])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 18
    for f in files:
        single = export_to(f, tmp_path / "single", convention="generic", face_size=16,
                           fmt="jpg", quality=80)
        for p in single:
            batch_file = tmp_path / "out" / f.stem / p.name
            assert str(batch_file) in printed
            assert batch_file.read_bytes() == p.read_bytes()
    assert main(["cubemap", str(files[0]), "--quality", "0"]) == 2
    assert "quality: got 0" in capsys.readouterr().err
    assert main(["cubemap", str(tmp_path / "empty")]) == 2


def test_map_panoramas_keeps_order_and_turns_errors_into_outcomes(library, tmp_path):
    paths = sorted(library.glob("pano_*"))[:4] + [tmp_path / "nope.png"]
    outs = batch.map_panoramas(partial(_seams_one, plot=None, many=True), paths, workers=2,
                               progress=False)
    assert [o.path for o in outs] == paths
    assert [o.ok for o in outs] == [True] * 4 + [False]
    assert "no such file" in outs[-1].error
    with pytest.raises(ValueError, match="workers: got 0"):
        batch.map_panoramas(str, paths, workers=0)


def test_progress_is_a_bar_on_a_terminal(library):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    outs = batch.map_panoramas(Path.stat, sorted(library.glob("pano_*"))[:3], workers=1,
                               progress=True, stream=stream)
    assert all(o.ok for o in outs)
    text = stream.getvalue()
    assert "3/3" in text and "\r" in text and "[1/3]" not in text


def _repaired_one_by_one(files: list[Path], dest: Path, capsys) -> dict[str, bytes]:
    """Each file repaired by its own ``skybox-nb repair FILE --out FILE`` run."""
    dest.mkdir()
    out = {}
    for f in files:
        target = dest / f"{f.stem}-repaired.png"
        assert main(["repair", str(f), "--out", str(target)]) == 0
        out[target.name] = target.read_bytes()
    capsys.readouterr()
    return out


def test_repair_a_batch_equals_one_by_one_runs_and_reports_the_bad_file(library, tmp_path,
                                                                         capsys):
    files = sorted(library.glob("pano_*"))[:5]  # two with a wrap seam, PNG and JPEG
    junk = tmp_path / "in" / "junk.png"
    junk.parent.mkdir()
    junk.write_bytes(b"not an image")
    expected = _repaired_one_by_one(files, tmp_path / "single", capsys)
    rc = main(["repair", *map(str, files[:3]), str(junk), *map(str, files[3:]),
               "--out", str(tmp_path / "many"), "--jobs", "2"])
    captured = capsys.readouterr()
    assert rc == 2  # the bad file, reported at the end; the others written
    tail = captured.err[captured.err.index("1 of 6 failed"):]
    assert f"{junk}: cannot read {junk}: not an image" in tail  # as `seams` says it
    assert [ln[3:] for ln in captured.out.splitlines() if ln.startswith("== ")] == [
        str(f) for f in files]
    made = {f.name: f.read_bytes() for f in (tmp_path / "many").glob("*.png")}
    assert made == expected  # byte for byte, named <stem>-repaired.png
    assert sum("repair: wrap seam" in ln for ln in captured.out.splitlines()) == 2
    assert all(f.read_bytes() for f in files)  # the inputs are untouched


def test_repair_outputs_never_replace_an_input_nor_each_other(tmp_path, capsys):
    a, b = tmp_path / "a" / "sky.png", tmp_path / "b" / "sky.jpg"
    names = outputs_for([a, b], str(tmp_path / "out"))
    assert [t.name for t in names.values()] == ["sky-repaired.png", "sky-repaired-2.png"]
    assert outputs_for([a], None)[a] == tmp_path / "a" / "sky-repaired.png"
    assert outputs_for([a], str(tmp_path))[a] == tmp_path / "sky-repaired.png"  # a folder
    with pytest.raises(ValueError, match="would replace the input"):
        outputs_for([a, tmp_path / "a" / "sky-repaired.png"], None)
    with pytest.raises(ValueError, match="would replace the input"):
        outputs_for([a], str(a))
    assert main(["repair", str(a), str(b), "--out", str(tmp_path / "x.png")]) == 2
    assert "allowed: a folder" in capsys.readouterr().err


def test_a_dask_cluster_gives_the_one_by_one_results(library, tmp_path, capsys):
    """The studio path: the same call with a dask.distributed cluster's executor (a
    LocalCluster of two worker processes on loopback here), for the check and the
    repair."""
    distributed = pytest.importorskip("distributed")
    paths = batch.find_panoramas([library])
    expected = _one_by_one_json(paths, capsys)
    some = paths[:4]
    repaired = _repaired_one_by_one(some, tmp_path / "single", capsys)
    targets = outputs_for(some, str(tmp_path / "dask"))
    (tmp_path / "dask").mkdir()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        outs = batch.map_panoramas(partial(_seams_one, plot=None, many=True), paths,
                                   executor=client.get_executor(), progress=False)
        fixed = batch.map_panoramas(partial(repair_one, targets=targets, wrap=True,
                                            poles=True, plot=None, many=True), some,
                                    executor=client.get_executor(), progress=False)
        workers_used = client.run(lambda: True)
    assert len(workers_used) == 2
    assert all(o.ok for o in outs) and all(o.ok for o in fixed)
    assert _timeless({str(o.path): o.value[1] for o in outs}) == _timeless(expected)
    assert {t.name: t.read_bytes() for t in targets.values()} == repaired



@pytest.mark.parametrize("command", ["seams", "repair"])
def test_json_names_every_file_asked_about_failures_included(command, library, tmp_path,
                                                              capsys):
    # A script reading --json from stdout learns which file failed and why, not only from
    # the exit status and stderr; a file alone that fails is keyed by its path too.
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    good = sorted(library.glob("pano_0*"))[0]
    out = ["--out", str(tmp_path / "fixed")] if command == "repair" else []
    assert main([command, str(good), str(junk), "--json", *out]) == 2
    captured = capsys.readouterr()
    found = json.loads(captured.out)
    assert list(found) == [str(good), str(junk)]
    assert "error" not in found[str(good)]
    assert list(found[str(junk)]) == ["error"]
    assert found[str(junk)]["error"].startswith(f"cannot read {junk}: not an image")
    assert f"{junk}: cannot read" in captured.err

    assert main([command, str(junk), "--json", *out]) == 2
    alone = json.loads(capsys.readouterr().out)
    assert alone == {str(junk): found[str(junk)]}
