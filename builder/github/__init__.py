"""Read-only GitHub source: guarded client, token policy, snapshot, evidence, generated archive, issue links."""
