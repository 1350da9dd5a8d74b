"""Benchmarks: MLPerf-Tiny-style models (bench.models) and the host latency/memory comparison
with onnxruntime (bench.host)."""
