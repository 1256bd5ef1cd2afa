"""A black-box web UI variant: time an AUTOMATIC1111-compatible server over HTTP.

- `client`: one `POST /sdapi/v1/txt2img` (stdlib only), failures classified into one line;
- `load`: R requests at concurrency N, per-request latencies, throughput, errors;
- `vram`: NVML device memory sampled during the load when the server is on this machine;
- `runs`: the results as a saved run (docs/run-format.md), read by `python -m reports`;
- `server` / `serve`: a small local server speaking that API, backed by the harness's own
  pipeline, the stand-in for a real web UI in tests and on a fresh clone.
"""
