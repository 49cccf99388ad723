output "nodes" {
  description = "Per node: zone, DNS name, private IP and endpoints."
  value = { for n in local.nodes : n.id => {
    zone          = n.zone
    fqdn          = n.fqdn
    private_ip    = google_compute_instance.node[n.id].network_interface[0].network_ip
    instance      = google_compute_instance.node[n.id].self_link
    api_endpoint  = "${n.fqdn}:${var.api_port}"
    raft_endpoint = "${n.fqdn}:${var.raft_port}"
  } }
}

output "api_endpoints" {
  description = "gRPC API endpoints, comma-separated, for KEYMGR_ADDR."
  value       = join(",", [for n in local.nodes : "${n.fqdn}:${var.api_port}"])
}

output "secrets_to_upload" {
  description = "Secret Manager ids the operator fills after apply (docs/deploy.md): PEM CA, cluster secret, and per node its certificate and key."
  value = {
    ca      = local.shared_secrets.ca
    cluster = local.shared_secrets.cluster
    nodes   = { for id, s in local.node_secrets : id => { tls_cert = s.tls_cert, tls_key = s.tls_key } }
  }
}

output "node_service_accounts" {
  description = "Per node id, its service account e-mail (the Raft peer group)."
  value       = local.node_sa
}

output "kms_key_id" {
  description = "Cloud KMS key of the disks."
  value       = google_kms_crypto_key.disks.id
}

output "dns_zone_name" {
  description = "Private Cloud DNS zone of the node names."
  value       = google_dns_managed_zone.nodes.name
}
