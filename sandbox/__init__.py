"""Servers that speak the Kubernetes API, ARM and DNS protocols on loopback, fed by fixtures."""
