"""Sandbox operations on top of the kube layer: validation, pod manifests, repository."""
