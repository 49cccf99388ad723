output "nodes" {
  description = "Nodes in order: id, zone, fqdn."
  value       = local.nodes
}

output "shared_secrets" {
  description = "Names of the secrets every node reads: ca, cluster."
  value       = local.shared_secrets
}

output "node_secrets" {
  description = "Per node id, the names of its own secrets: config, tls_cert, tls_key."
  value       = local.node_secrets
}

output "node_yaml" {
  description = "Per node id, its rendered keymgr config (no secret in it)."
  value       = local.node_yaml
}

output "user_data" {
  description = "Per node id, its rendered cloud-init (secret names only, no secret values)."
  value       = local.user_data
}
