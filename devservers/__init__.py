"""Development servers on 127.0.0.1: one launcher each for PostgreSQL (`postgres`), Redis
(`redis`) and the S3 stand-in (`s3`, moto's server). Dev-only (not in the service's wheel).

The lab (lab/ with its process registry and CPU cgroups), the tests (lab/localservers.py's
throwaway servers), `python -m infra.capacity.measure` and `python -m lab.bench_seed` all
start their servers through these. A launcher says how a server is prepared and started (its
binary, its argv, its configuration, its durability, when it is ready); who supervises the
process is the caller's: `process.start` (a plain child process) or the lab's registry.

Imports only the standard library, so every floor above (infra, lab, tests) may use it.
"""
