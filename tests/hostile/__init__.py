"""Attacks on the service: hostile feeds, pages and records, careless watches and templates,
failing disks and receivers, and a hostile browser or network. Each asserts the service stays up,
answers, keeps the other feeds going and stays within memory. A change that adds a surface adds
its attack here, and its row to the fault matrix in docs/operations.md, in the same change."""
