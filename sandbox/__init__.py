"""Servers that speak the Kubernetes API, ARM and DNS protocols on loopback, fed by fixtures.

- ``kube_api.KubeApiServer``: a read-only Kubernetes API server (HTTP) for one cluster's
  YAML fixtures, with faults (``KubeFaults``) and RBAC (``kube_rbac.RbacPolicy``).
- ``arm.ArmServer``: Azure Resource Manager plus a minimal Entra ID over HTTPS
  (``arm_data.ArmData``, faults ``ArmFaults``).
- ``dns.DnsServer``: A records over UDP and TCP.
- ``sample_fleet.load_sample_fleet``: the shipped three-cluster fleet (``fleet_data/``).
- ``runner.start_sandbox`` / ``runner.serve_sandbox``: all of them at once.
"""
