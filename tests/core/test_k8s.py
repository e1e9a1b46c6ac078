"""`workbench k8s`: a complete Docker build context and Job/CronJob manifests that parse and
carry what the cluster needs."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.scale import k8s_cli
from workbench.scale.k8s import (
    CPU_BASE_IMAGE,
    GPU_BASE_IMAGE,
    K8sOptions,
    check_cron,
    check_image,
    dns_name,
    write_bundle,
)


def run_cli(*argv: str) -> int:
    """The command through a parser built like workbench/cli.py builds its own."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()

    def add(name, handler, help_text):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(handler=handler)
        return sub

    k8s_cli.add_commands(add)
    args = parser.parse_args(list(argv))
    return args.handler(args)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def container(pod_spec: dict) -> dict:
    [only] = pod_spec["containers"]
    return only


def copy_sources(dockerfile: Path) -> list[str]:
    """Every source of a COPY or ADD instruction (the last argument is the destination)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_cpu_job_folder_is_a_complete_build_context(tmp_path):
    out = tmp_path / "job"
    assert run_cli("k8s", str(DEFAULT_EXPERIMENT), "-o", str(out), "--epochs", "3",
                   "--runs-volume", "team-runs") == 0
    dockerfile = out / "Dockerfile"
    assert f"FROM {CPU_BASE_IMAGE}" in dockerfile.read_text()
    sources = copy_sources(dockerfile)
    assert "project/" in sources and "experiment.json" in sources
    for source in sources:  # docker build OUT finds everything it copies
        assert (out / source).exists(), source
    project = out / "project"
    for needed in ("pyproject.toml", "README.md", "workbench/__init__.py", "workbench/cli.py",
                   "widgets/__init__.py", "experiments/default.json"):
        assert (project / needed).is_file(), needed
    assert not list(project.rglob("__pycache__"))
    assert "RUN pip install --no-cache-dir /app/project" in dockerfile.read_text()
    # The copy is the same experiment, and it loads.
    copy = Experiment.load(out / "experiment.json")
    original = Experiment.load(DEFAULT_EXPERIMENT)
    assert copy.to_dict() == original.to_dict()

    job = load(out / "job.yaml")
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "digits-cnn-train"
    assert job["spec"]["backoffLimit"] == 3
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    train = container(pod)
    assert train["command"] == ["workbench", "train", "/app/experiment.json", "--runs-dir", "/runs",
                                "--epochs", "3"]
    assert "resources" not in train  # no GPU asked, none limited
    assert train["volumeMounts"] == [{"name": "runs", "mountPath": "/runs"}]
    assert pod["volumes"] == [{"name": "runs", "persistentVolumeClaim": {"claimName": "team-runs"}}]
    assert load(out / "runs-pvc.yaml")["metadata"]["name"] == "team-runs"
    assert not (out / "cronjob.yaml").exists()
    readme = (out / "README.md").read_text()
    assert f"docker build -t keras-workbench-job:latest {out}" in readme
    assert f"kubectl apply -f {out / 'job.yaml'}" in readme
    ignored = (out / ".dockerignore").read_text().splitlines()
    assert "*.yaml" in ignored and "project" not in ignored


def test_gpu_job_and_cronjob(tmp_path, capsys):
    out = tmp_path / "gpu"
    assert run_cli("k8s", str(DEFAULT_EXPERIMENT), "-o", str(out), "--gpus", "2", "--cron", "30 2 * * 1-5",
                   "--image", "registry.example.com:5000/team/digits:v1", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "digits-cnn-train"
    assert report["image"] == "registry.example.com:5000/team/digits:v1"
    assert f"FROM {GPU_BASE_IMAGE}" in (out / "Dockerfile").read_text()
    job = load(out / "job.yaml")
    train = container(job["spec"]["template"]["spec"])
    assert train["image"] == "registry.example.com:5000/team/digits:v1"
    assert train["resources"] == {"limits": {"nvidia.com/gpu": 2}}
    cron = load(out / "cronjob.yaml")
    assert cron["apiVersion"] == "batch/v1" and cron["kind"] == "CronJob"
    assert cron["spec"]["schedule"] == "30 2 * * 1-5"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # The same pod as the Job's.
    assert cron["spec"]["jobTemplate"]["spec"]["template"] == job["spec"]["template"]
    assert "cronjob.yaml" in (out / "README.md").read_text()


def test_weights_and_data_files_travel_into_the_context(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data.path is relative to the working folder, as in training
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "points.npz", x_train=rng.random((20, 8, 8, 1)), y_train=rng.integers(0, 10, 20))
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.data = {"source": "npz", "path": "points.npz", "validation_split": 0.2}
    weights = {"digit": [np.ones((32, 10), "float32"), np.zeros(10, "float32")]}
    experiment.save(tmp_path / "mine.json")  # weights are named relative to the experiment's place
    experiment.save_weights(weights, tmp_path / "mine.weights.npz")
    experiment.save()
    out = tmp_path / "job"
    bundle = write_bundle(tmp_path / "mine.json", out)
    for source in copy_sources(out / "Dockerfile"):
        assert (out / source).exists(), source
    assert "experiment.weights.npz" in copy_sources(out / "Dockerfile")
    assert (out / "data" / "points.npz").is_file()
    copy = Experiment.load(out / "experiment.json")
    assert copy.data["path"] == "/app/data/points.npz"  # where the image has it
    assert copy.weights_file == "experiment.weights.npz"
    np.testing.assert_array_equal(copy.load_weights()["digit"][0], weights["digit"][0])
    assert out / "experiment.weights.npz" in bundle.files


def test_writing_again_refreshes_the_folder(tmp_path):
    out = tmp_path / "job"
    write_bundle(DEFAULT_EXPERIMENT, out, K8sOptions(cron="@daily"))
    assert (out / "cronjob.yaml").exists()
    write_bundle(DEFAULT_EXPERIMENT, out, K8sOptions())  # no schedule now: no stale CronJob
    assert not (out / "cronjob.yaml").exists() and (out / "job.yaml").exists()


def test_multi_worker_experiments_get_a_note(tmp_path):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "distribution": "multi-worker"}
    experiment.save(tmp_path / "mw.json")
    bundle = write_bundle(tmp_path / "mw.json", tmp_path / "job")
    assert any("TF_CONFIG" in note for note in bundle.notes)
    assert "TF_CONFIG" in (tmp_path / "job" / "README.md").read_text()


@pytest.mark.parametrize("schedule", ["0 3 * * *", "*/15 * * * *", "0 0 1,15 * MON-FRI", "@hourly",
                                      " 5 4 * 1 0 "])
def test_good_schedules(schedule):
    assert check_cron(schedule) == " ".join(schedule.split())


@pytest.mark.parametrize("schedule, words", [
    ("0 3 * *", "has 4 fields; a schedule has 5"),
    ("0 3 * * * *", "has 6 fields"),
    ("", "empty schedule"),
    ("61 * * * *", "minute '61' must be a number from 0 to 59"),
    ("0 24 * * *", "hour '24'"),
    ("*/0 * * * *", "step '0'"),
    ("0 3 * * noday", "day of week 'noday'"),
    ("@sometimes", "unknown macro"),
])
def test_bad_schedules(schedule, words):
    with pytest.raises(WorkbenchError) as caught:
        check_cron(schedule)
    assert words in str(caught.value)


@pytest.mark.parametrize("image", ["digits", "digits:v1", "team/digits", "localhost:5000/team/digits:1.0",
                                   "ghcr.io/org/train-job_x:latest", "a/b@sha256:" + "0" * 64])
def test_plausible_images(image):
    assert check_image(image) == image


@pytest.mark.parametrize("image", ["", "Digits", "digits:", "team//digits", "has space", "-digits", "a:b:c"])
def test_implausible_images(image):
    with pytest.raises(WorkbenchError, match="not a valid image name"):
        check_image(image)


@pytest.mark.parametrize("argv, words", [
    (["--cron", "every day"], "--cron 'every day' has 2 fields"),
    (["--image", "Bad Name"], "not a valid image name"),
    (["--gpus", "-1"], "--gpus must be a whole number >= 0"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--runs-volume", "Runs_Volume"], "not a valid claim name"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, argv, words):
    out = tmp_path / "job"
    with pytest.raises(WorkbenchError) as caught:
        run_cli("k8s", str(DEFAULT_EXPERIMENT), "-o", str(out), *argv)
    assert words in str(caught.value)
    assert not out.exists()


def test_output_must_be_a_folder_we_may_write(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(WorkbenchError, match="is a file"):
        write_bundle(DEFAULT_EXPERIMENT, a_file)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not empty and was not written by `workbench k8s`"):
        write_bundle(DEFAULT_EXPERIMENT, busy)
    assert (busy / "notes.txt").read_text() == "mine"


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(WorkbenchError, match="nope.json"):
        write_bundle(tmp_path / "nope.json", tmp_path / "job")
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.data = {"source": "csv", "path": str(tmp_path / "gone.csv"), "target": "label"}
    experiment.save(tmp_path / "csv.json")
    with pytest.raises(WorkbenchError, match="gone.csv: the data named by data.path is missing"):
        write_bundle(tmp_path / "csv.json", tmp_path / "job2")


def test_names_fit_kubernetes():
    assert dns_name("Digits CNN (v2)!") == "digits-cnn-v2-train"
    assert dns_name("___") == "workbench-train"
    long = dns_name("x" * 100)
    assert len(long) <= 52 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long)


def test_the_image_installs_no_desktop_toolkit():
    """The Dockerfile installs the bare project: Qt comes only with the gui extra."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    core = " ".join(project["project"]["dependencies"])
    gui = " ".join(project["project"]["optional-dependencies"]["gui"])
    assert "PySide6" not in core and "pyqtgraph" not in core
    assert "PySide6" in gui and "pyqtgraph" in gui
