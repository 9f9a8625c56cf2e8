"""The Kubernetes layer: client, raw JSON to domain values, quantities, pod ownership."""
