"""Past one machine: distribution strategies, hyperparameter search, cluster job manifests.

Import the submodules directly (``workbench.scale.distribution``, ``workbench.scale.k8s``);
this package imports nothing, so that none of them pulls in the others.
"""
