"""Runtime observability: the metrics a run exports (Prometheus, OpenTelemetry) and the pack that watches them."""
