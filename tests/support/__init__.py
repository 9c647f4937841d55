"""Helpers the tests share: real servers, the service as a subprocess, fake platforms."""
