"""The offline audit: the rule catalogue run on exported files, with no service running.

It composes the agent (its gatherers, over a file-backed Kubernetes reader) and the
collector (the ARM converter, the rules and the fleet-wide step); it is the only
module that imports both, and neither imports it.
"""
