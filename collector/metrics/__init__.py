"""Metrics computed when scans and inventory refreshes run, stored, and read by /metrics.

``families`` names every family the collector exports; ``cluster_part`` computes one
cluster's share of the samples where its facts are loaded anyway; ``fleet_snapshot``
merges the shares (each shared subnet or VNet once); ``publish`` stores them; the exporter
(``netaudit.collector.exporter``) only reads and renders.
"""
