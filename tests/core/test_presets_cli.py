"""``workbench lessons`` and ``workbench lesson`` through ``workbench.cli.main``, on few epochs."""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal

import pytest
from PIL import Image

from workbench import presets_cli
from workbench.cli import main
from workbench.presets import PRESETS_DIR, bundled_presets
from workbench.tasks import ConsoleProgress


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_lessons_lists_every_bundled_group(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")  # the text is wrapped to the terminal, at most 100 wide
    groups = bundled_presets()
    assert len(groups) >= 9
    code, out, _ = run(capsys, "lessons")
    assert code == 0
    for group in groups:
        assert f"{group.key}: {group.name}" in out
        assert all(name in out for name in group.member_names)
    assert "val_accuracy (also val_loss) over seeds 0, 1, 2; per-class scores of classes 3, 8" in out
    assert max(len(line) for line in out.splitlines()) <= 100  # the lesson text is wrapped

    code, out, _ = run(capsys, "lessons", "--json")
    data = json.loads(out)
    assert code == 0 and [g["key"] for g in data] == [g.key for g in groups]
    imbalance = next(g for g in data if g["key"] == "class_imbalance")
    assert imbalance["compare"] == {"metric": "val_accuracy", "metrics": ["val_loss"], "seeds": [0, 1, 2],
                                    "evaluate": True, "focus_classes": [3, 8]}
    assert [m["file"] for m in imbalance["members"]] == ["unweighted.json", "balanced.json"]
    assert all(g["lesson"] and g["members"][0]["description"] for g in data)


def test_lesson_trains_the_members_and_writes_plot_csv_json(capsys, tmp_path):
    plot, table, runs_dir = tmp_path / "curves.png", tmp_path / "epochs.csv", tmp_path / "runs"
    code, out, _ = run(capsys, "lesson", "noise_channels", "--seeds", "0, 1", "--epochs", "2",
                       "--members", "zeros,noise", "--runs-dir", runs_dir, "--plot", plot, "--csv", table,
                       "--json")
    assert code == 0
    data = json.loads(out)  # only JSON on stdout: the lesson text is in it, progress went to stderr
    names = ["noise-channels-zeros", "noise-channels-noise"]
    assert data["group"] == "noise_channels" and data["metric"] == "val_accuracy"
    assert data["lesson"].startswith("Two copies") and data["seeds"] == [0, 1] and not data["interrupted"]
    assert [m["name"] for m in data["members"]] == names
    for member in data["members"]:
        final = member["final"]
        assert member["seeds"] == [0, 1] and final["count"] == 2
        assert all(math.isfinite(final[k]) for k in ("mean", "std", "min", "max"))
        assert 0 <= final["min"] <= final["mean"] <= final["max"] <= 1
        assert [r["final"] for r in member["runs"]] == [r["history"]["val_accuracy"][-1]
                                                        for r in member["runs"]]
        curve = member["curve"]
        assert curve["epoch"] == [1, 2] and curve["mean"][-1] == pytest.approx(final["mean"])
        assert all(lo <= mean <= hi for lo, mean, hi in zip(curve["min"], curve["mean"], curve["max"]))
        assert all(r["status"] == "finished" and r["run"] for r in member["runs"])
    assert len(list(runs_dir.iterdir())) == 4

    with Image.open(plot) as picture:
        assert picture.format == "PNG" and picture.size[0] > 400
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:6] == ["member", "seed", "status", "epoch", "val_accuracy", "accuracy"]
    assert {"val_loss", "loss"} <= set(rows[0])
    assert [(r["member"], r["seed"], r["epoch"]) for r in rows] == [
        (name, seed, epoch) for name in names for seed in "01" for epoch in "12"]
    assert float(rows[1]["val_accuracy"]) == pytest.approx(data["members"][0]["runs"][0]["final"], abs=1e-5)


def test_an_evaluating_group_shows_focus_classes_and_the_snapshot_ensemble(capsys, tmp_path):
    folder = tmp_path / "small_lesson"
    folder.mkdir()
    shutil.copy(PRESETS_DIR / "class_imbalance" / "unweighted.json", folder)
    shutil.copy(PRESETS_DIR / "schedules" / "snapshot.json", folder)
    (folder / "group.json").write_text(json.dumps({
        "format": "keras-workbench/preset-group", "version": 1, "name": "Rare digits, small",
        "lesson": "A small lesson written by the test.", "members": ["unweighted.json", "snapshot.json"],
        "compare": {"metric": "val_accuracy", "seeds": [0], "evaluate": True, "focus_classes": [3, 8]}}))
    code, out, _ = run(capsys, "lesson", folder, "--epochs", "2", "--runs-dir", tmp_path / "runs")
    assert code == 0
    assert out.startswith("Rare digits, small (small_lesson)\n\nA small lesson written by the test.\n")
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("member"))
    for column in ("final val_accuracy", "class 3 recall", "class 3 precision", "class 8 F1",
                   "ensemble val_accuracy", "final model val_accuracy"):
        assert column in header
    unweighted = next(line for line in lines if line.startswith("imbalance-unweighted")).split()
    snapshot = next(line for line in lines if line.startswith("schedule-snapshot")).split()
    # member, seeds, final, min..max, 6 focus scores, ensemble and final model (none for this member)
    assert len(unweighted) == 12 and unweighted[-2:] == ["–", "–"]
    assert all(0 <= float(v) <= 1 for v in unweighted[4:10])
    assert all(0 <= float(v) <= 1 for v in snapshot[4:])
    assert "2 runs kept in" in out


@pytest.mark.parametrize("argv, expected", [
    (["lesson", "no_such_lesson"], "no lesson 'no_such_lesson'; choose one of batch_norm, capacity"),
    (["lesson", "noise_channels", "--seeds", "0,one"], "--seeds: seeds are whole numbers >= 0"),
    (["lesson", "noise_channels", "--seeds", " , "], "--seeds: seeds are whole numbers >= 0"),
    (["lesson", "noise_channels", "--seeds", "-1"], "--seeds: seeds are whole numbers >= 0"),
    (["lesson", "noise_channels", "--epochs", "0"], "--epochs must be at least 1 (got 0)"),
    (["lesson", "noise_channels", "--members", "zeros,bogus"],
     "no member 'bogus'; the members are noise-channels-zeros, noise-channels-noise"),
    (["lesson", "noise_channels", "--plot", "curves.jpg"], "--plot takes its format from the extension"),
    (["lesson", "noise_channels", "--csv", "epochs.txt"], "--csv takes its format from the extension"),
    (["lesson", "noise_channels", "--plot", "missing/curves.png"], "the folder missing does not exist"),
    (["lesson", "missing/folder"], "missing/folder: no such folder"),
    (["lesson", "."], "is not a preset group: it has no group.json"),
])
def test_bad_input_is_one_line_and_exit_1(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv, "--runs-dir", tmp_path / "runs")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("workbench: error: ") and expected in err
    assert not (tmp_path / "runs").exists()  # refused before anything trained


def test_ctrl_c_keeps_the_finished_runs_and_exits_130(capsys, tmp_path, monkeypatch):
    class InterruptAfterFirstRun(ConsoleProgress):
        def step(self, done, total=None, message=""):
            super().step(done, total, message)
            if message.endswith("seed 0: finished"):
                signal.raise_signal(signal.SIGINT)  # as if Ctrl+C were pressed now

    monkeypatch.setattr(presets_cli, "_progress", InterruptAfterFirstRun)
    before = signal.getsignal(signal.SIGINT)
    code, out, err = run(capsys, "lesson", "noise_channels", "--seeds", "0,1", "--epochs", "1",
                         "--members", "zeros", "--runs-dir", tmp_path / "runs", "--json")
    assert code == 130 and signal.getsignal(signal.SIGINT) is before
    data = json.loads(out)
    assert data["interrupted"] and data["planned_runs"] == 2
    assert [r["seed"] for r in data["members"][0]["runs"]] == [0]
    assert "stopping after the current batch" in err
    assert "interrupted after 1 of 2 runs; the finished runs are kept in" in err
    assert len(list((tmp_path / "runs").iterdir())) == 1
