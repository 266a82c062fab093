"""Reports for people and machines, rendered from stored findings."""
