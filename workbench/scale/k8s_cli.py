"""The ``workbench k8s`` command: a Docker build context and Kubernetes manifests for one
experiment (see ``workbench.scale.k8s``).

``add_commands(add)`` registers it on the main parser (``add(name, handler, help)`` returns a
sub-parser that already has ``--json``).
"""

from __future__ import annotations

import argparse
import json

from workbench.scale.k8s import DEFAULT_CLAIM, DEFAULT_IMAGE, K8sOptions, write_bundle


def add_commands(add) -> None:
    """Register ``k8s``."""
    sub = add("k8s", cmd_k8s, "write a Dockerfile and Kubernetes Job/CronJob manifests that train an "
                              "experiment on a cluster")
    sub.add_argument("experiment", help="experiment file (.json)")
    sub.add_argument("-o", "--output", required=True,
                     help="folder to write (the Docker build context: Dockerfile, project copy, "
                          "experiment, job.yaml, ...)")
    sub.add_argument("--image", default=DEFAULT_IMAGE,
                     help=f"image name to build, push and run, e.g. registry.example.com/team/digits:v1 "
                          f"(default {DEFAULT_IMAGE})")
    sub.add_argument("--gpus", type=int, default=0,
                     help="GPUs per pod (nvidia.com/gpu); > 0 builds on tensorflow/tensorflow:latest-gpu "
                          "(default 0: python:3.11-slim)")
    sub.add_argument("--cron", metavar="SCHEDULE",
                     help='also write cronjob.yaml training on this schedule, e.g. "0 3 * * *"')
    sub.add_argument("--runs-volume", dest="runs_volume", metavar="CLAIM", default=DEFAULT_CLAIM,
                     help=f"PersistentVolumeClaim for the run folders, mounted at /runs "
                          f"(default {DEFAULT_CLAIM})")
    sub.add_argument("--epochs", type=int, help="override the experiment's number of epochs")
    sub.add_argument("--backoff-limit", dest="backoff_limit", type=int, default=3,
                     help="retries of a failed pod (default 3)")
    sub.add_argument("--project", metavar="DIR",
                     help="the workbench source checkout to install in the image (default: this one)")


def cmd_k8s(args: argparse.Namespace) -> int:
    options = K8sOptions(image=args.image, gpus=args.gpus, cron=args.cron, runs_volume=args.runs_volume,
                         epochs=args.epochs, backoff_limit=args.backoff_limit)
    bundle = write_bundle(args.experiment, args.output, options, project=args.project)
    if args.json:
        print(json.dumps(bundle.to_dict(), indent=2))
        return 0
    lines = [f"wrote {bundle.folder}: " + ", ".join(f.name for f in bundle.files) + ", project/",
             f"next: docker build -t {bundle.image} {bundle.folder} && docker push {bundle.image} && "
             f"kubectl apply -f {bundle.folder / 'runs-pvc.yaml'} -f {bundle.folder / 'job.yaml'}"]
    if "/" not in bundle.image:
        lines.append(f"note: push to a registry the cluster can pull from: give --image "
                     f"REGISTRY/NAME:TAG (the default {bundle.image} has no registry)")
    lines += [f"note: {note}" for note in bundle.notes]
    print("\n".join(lines))
    return 0
