"""The in-cluster agent: gathers evidence and streams reports to the collector."""
