"""Durable gift jobs: ledger, state machine, retries, leases, workers, intake, dispatch and git sync."""
