"""Fleet runs: one selection run on many machines by an engine operators
already use (Ansible over SSH; a Slurm backend for clusters), the results
fetched to `results/fleet/<fleet-run-id>/<host>.json`.

`base` is the interface every backend implements, `fleetrun` what a fleet
run does around a backend (ids, the store, the summary), `progress` the
live and final per-host tables.
"""
