"""The service: its roles, how they are wired on each bus, and monitor.yaml."""
