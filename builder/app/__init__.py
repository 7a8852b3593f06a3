"""The application layer: what the commands, the HTTP intake and the demo call.

Commands parse arguments and print; the services here assemble the pieces below (site, gifts, jobs, github,
ops) and hold the orchestration, so no caller re-enters the CLI.
"""
