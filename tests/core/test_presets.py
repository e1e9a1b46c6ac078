"""The classic-experiment presets: every bundled group loads, validates and builds, and each one,
run headless as shipped, really shows the lesson its note promises."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from workbench.data import load_dataset
from workbench.errors import ExperimentFileError, WorkbenchError
from workbench.experiment import is_bundled
from workbench.graph.convert import build_model, from_keras
from workbench.graph.validate import validate
from workbench.presets import (
    PRESETS_DIR,
    Compare,
    bundled_presets,
    curves,
    find_preset,
    load_group,
    run_group,
)
from workbench.tasks import RecordingProgress

EXPECTED = {"noise_channels", "capacity", "regularization", "optimizers", "batch_norm",
            "initialization", "schedules", "class_imbalance"}


@pytest.fixture(scope="module")
def groups():
    return {group.key: group for group in bundled_presets()}


def final(runs, member: str, key: str) -> float:
    """The mean over seeds of a member's last value of ``key``."""
    return float(np.mean([run.history[key][-1] for run in runs[member]]))


def gap(runs, member: str) -> float:
    """Validation loss minus training loss at the end, mean over seeds."""
    return final(runs, member, "val_loss") - final(runs, member, "loss")


def finished(runs) -> None:
    for member_runs in runs.values():
        for run in member_runs:
            assert run.result.status == "finished", (run.member, run.result.reason)


# ------------------------------------------------------------------ files
def test_every_preset_group_is_bundled_with_a_lesson(groups):
    assert set(groups) >= EXPECTED
    for group in groups.values():
        assert len(group.members) >= 2 and len(group.lesson) > 80
        assert group.path.parent == PRESETS_DIR and is_bundled(group.path / "group.json")
        for member in group.members:
            assert is_bundled(member.path)  # opened as templates: Save never overwrites them
            sentences = [s for s in member.description.replace("e.g.", "eg").split(". ") if s.strip()]
            assert 1 <= len(sentences) <= 3, (member.name, member.description)
        assert find_preset(group.key) is not None


def structure(graph) -> dict:
    """The graph's JSON without positions, numbers to float32 precision (Keras keeps some
    parameters, such as an L1 factor, as float32)."""
    def plain(value):
        if isinstance(value, float):
            return float(f"{value:.6g}")
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "pos"}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(graph.to_dict())


def test_every_member_validates_builds_and_fits_its_data(groups):
    datasets = {}
    for group in groups.values():
        for member in group.members:
            report = validate(member.graph)
            assert report.ok, (member.name, report.errors())
            model = build_model(member.graph).model
            if group.key not in EXPECTED:  # other groups' models may take noise, say
                continue
            # Stored in compact form: the file is what an import of the built model gives back.
            assert structure(from_keras(model)[0]) == structure(member.graph), member.name
            key = json.dumps(member.data, sort_keys=True)
            if key not in datasets:
                datasets[key] = load_dataset(member.data)
            data = datasets[key]
            assert tuple(model.input_shape[1:]) == data.input_shape, member.name
            assert model.output_shape[-1] == data.num_classes, member.name


def test_a_broken_group_file_is_named(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(PRESETS_DIR / "batch_norm", folder)
    document = json.loads((folder / "group.json").read_text())
    cases = [
        ({**document, "members": ["with.json"]}, "members"),
        ({**document, "members": ["with.json", "gone.json"]}, "members[1]"),
        ({**document, "members": ["../with.json", "with.json"]}, "members[0]"),
        ({**document, "compare": {"metric": "val_accuracy", "seeds": [-1]}}, "compare.seeds"),
        ({**document, "compare": {"metric": "val_accuracy", "colour": "red"}}, "compare.colour"),
        ({**document, "version": 2}, "version"),
        ({**document, "lesson": ""}, "lesson"),
    ]
    for data, where in cases:
        (folder / "group.json").write_text(json.dumps(data))
        with pytest.raises(ExperimentFileError) as error:
            load_group(folder)
        assert error.value.where == where, (where, str(error.value))
    with pytest.raises(ExperimentFileError, match="no group.json"):
        load_group(tmp_path)
    with pytest.raises(WorkbenchError, match="no lesson 'nope'; choose one of"):
        find_preset("nope")


def test_compare_round_trips():
    compare = Compare.from_dict({"metric": "loss", "metrics": ["lr"], "seeds": [0, 1],
                                 "evaluate": True, "focus_classes": [3]})
    assert Compare.from_dict(compare.to_dict()) == compare
    assert compare.keys == ["loss", "lr"]
    assert Compare.from_dict({"metric": "val_loss"}).to_dict() == {"metric": "val_loss"}


# ------------------------------------------------------------------ running
def test_run_group_records_runs_relays_progress_and_stops_when_cancelled(groups, tmp_path):
    group = groups["batch_norm"]
    progress = RecordingProgress()
    runs = run_group(group, seeds=(3,), epochs=1, runs_dir=tmp_path, progress=progress)
    assert list(runs) == group.member_names
    for member in group.members:
        (run,) = runs[member.name]
        assert run.seed == 3 and run.result.status == "finished"
        assert run.result.run.experiment().training["seed"] == 3  # the copy, not the file
        assert len(run.history["loss"]) == 1
    assert all(member.training["seed"] == 0 for member in group.members)
    epochs = [p for p in progress.partials if p["kind"] == "epoch"]
    assert [(p["member"], p["seed"]) for p in epochs] == [(name, 3) for name in group.member_names]
    assert progress.steps[-1][:2] == (2, 2)
    band = curves(runs, "loss")
    assert set(band) == set(group.member_names) and band["batchnorm-on"]["runs"] == 1

    cancelled = RecordingProgress()
    cancelled.cancel()
    assert run_group(group, epochs=1, progress=cancelled) == {name: [] for name in group.member_names}


# ------------------------------------------------------------------ lessons
def test_noise_channels_lower_validation_accuracy(groups):
    runs = run_group(groups["noise_channels"], seeds=(0, 1))
    finished(runs)
    zeros, noise = "noise-channels-zeros", "noise-channels-noise"
    assert final(runs, noise, "val_accuracy") < final(runs, zeros, "val_accuracy") - 0.03
    # The network fits the noise: a better training fit, a worse validation one.
    assert gap(runs, noise) > gap(runs, zeros) + 0.1


def test_a_large_network_overfits_sooner(groups):
    runs = run_group(groups["capacity"], seeds=(0,))
    finished(runs)
    best = {name: int(np.argmin(member[0].history["val_loss"])) for name, member in runs.items()}
    assert best["capacity-large"] < best["capacity-original"] <= best["capacity-small"] + 1, best
    assert best["capacity-large"] < len(runs["capacity-large"][0].history["val_loss"]) // 2
    assert gap(runs, "capacity-large") > 2 * max(gap(runs, "capacity-small"), gap(runs, "capacity-original"))
    # And it fits the training data much better.
    assert final(runs, "capacity-large", "loss") < 0.2 * final(runs, "capacity-original", "loss")


def test_regularization_narrows_the_train_validation_gap(groups):
    runs = run_group(groups["regularization"], seeds=(0,))
    finished(runs)
    baseline = gap(runs, "regularization-baseline")
    assert baseline > 0.1
    for member in ("regularization-l2", "regularization-l1", "regularization-l1-l2"):
        assert gap(runs, member) < 0.75 * baseline, member
    assert gap(runs, "regularization-dropout") < 0.5 * baseline


def test_adaptive_optimizers_and_momentum_beat_plain_sgd(groups):
    runs = run_group(groups["optimizers"], seeds=(0,))
    finished(runs)
    sgd = final(runs, "optimizer-sgd", "loss")
    for name in ("optimizer-adagrad", "optimizer-rmsprop", "optimizer-adam"):
        assert final(runs, name, "loss") < 0.5 * sgd, name
        assert final(runs, name, "val_accuracy") > final(runs, "optimizer-sgd", "val_accuracy") + 0.2
    for name in ("optimizer-momentum", "optimizer-nesterov"):
        assert final(runs, name, "loss") < 0.5 * sgd, name


def test_batch_norm_trains_at_a_rate_where_the_plain_network_stalls(groups):
    runs = run_group(groups["batch_norm"], seeds=(0,))
    finished(runs)
    assert final(runs, "batchnorm-on", "val_accuracy") > 0.8
    assert final(runs, "batchnorm-off", "val_accuracy") < 0.3
    assert final(runs, "batchnorm-on", "loss") < 0.25 * final(runs, "batchnorm-off", "loss")


def test_weight_initialization(groups):
    runs = run_group(groups["initialization"], seeds=(0,))
    finished(runs)
    he, glorot = "init-he", "init-glorot"
    small, large = "init-small-gaussian", "init-large-gaussian"
    # Large Gaussian weights: an exploding start and a worse end.
    assert runs[large][0].history["loss"][0] > 100 * runs[he][0].history["loss"][0]
    assert final(runs, large, "val_accuracy") < final(runs, he, "val_accuracy") - 0.05
    assert final(runs, large, "val_loss") > 10 * final(runs, he, "val_loss")
    # Tiny Gaussian weights: the signal vanishes and the loss barely leaves log(10).
    assert final(runs, small, "loss") > 0.9 * math.log(10)
    for good in (he, glorot):
        assert final(runs, good, "val_accuracy") > 0.8, good


def test_annealing_settles_lower_and_the_snapshot_ensemble_beats_its_final_model(groups):
    group = groups["schedules"]
    runs = run_group(group, seeds=(0,), members=["constant", "cyclical", "sgdr"])
    finished(runs)
    rates = {name: np.asarray(member[0].history["lr"]) for name, member in runs.items()}
    peak = group.member("constant").training["optimizer"]["learning_rate"]
    np.testing.assert_allclose(rates["schedule-constant"], peak, rtol=1e-6)
    for name in ("schedule-cyclical", "schedule-sgdr"):  # the rate comes down and goes up again
        steps = np.diff(rates[name])
        assert (steps < 0).any() and (steps > 0).any(), name
        assert rates[name].max() <= peak * (1 + 1e-6) and rates[name][-1] < 0.1 * peak, name
    # A constant high rate keeps bouncing; SGDR's annealing settles into a minimum.
    assert final(runs, "schedule-sgdr", "loss") < 0.5 * final(runs, "schedule-constant", "loss")
    assert final(runs, "schedule-sgdr", "val_loss") < final(runs, "schedule-constant", "val_loss")
    snapshots = run_group(group, seeds=(0, 1, 2), members=["snapshot"])["schedule-snapshot"]
    scores = [run.result.ensemble for run in snapshots]
    assert all(score["snapshots"] == 4 for score in scores)
    ensemble = np.mean([score["ensemble_val_accuracy"] for score in scores])
    assert ensemble > np.mean([score["final_val_accuracy"] for score in scores])
    assert ensemble > 0.85


def test_balanced_class_weights_raise_the_rare_classes_recall(groups):
    group = groups["class_imbalance"]
    runs = run_group(group, seeds=(0, 1))
    finished(runs)
    rare = group.compare.focus_classes
    assert rare and all(c in group.member("unweighted").data["imbalance"]["classes"] for c in rare)

    def rare_scores(member: str, key: str) -> float:
        return float(np.mean([run.evaluation.per_class()[c][key] for run in runs[member] for c in rare]))

    unweighted, balanced = "imbalance-unweighted", "imbalance-balanced"
    assert rare_scores(balanced, "recall") > rare_scores(unweighted, "recall") + 0.3
    assert rare_scores(balanced, "f1") > rare_scores(unweighted, "f1") + 0.2
    macro = {name: np.mean([run.evaluation.fbeta() for run in runs[name]]) for name in runs}
    assert macro[balanced] > macro[unweighted] + 0.05
    # ... while overall accuracy barely tells them apart: the rare classes are rare in validation too.
    assert abs(final(runs, balanced, "val_accuracy") - final(runs, unweighted, "val_accuracy")) < 0.03
    curves_ = runs[balanced][0].evaluation.pr_curves()
    assert len(curves_) == 10 and all(math.isfinite(curves_[c].auc) for c in rare)
