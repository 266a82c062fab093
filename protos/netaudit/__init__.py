"""aks-netaudit: fleet-wide audit of Azure Kubernetes Service networking."""
