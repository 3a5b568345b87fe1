"""The capacity model: inputs (workload, rates), flow (load per tier), checks (headroom),
cli (`python -m infra capacity`), measure (the backend rates measured on this machine)."""
