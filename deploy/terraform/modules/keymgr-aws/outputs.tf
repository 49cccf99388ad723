output "nodes" {
  description = "Per node: zone, DNS name, private IP and endpoints."
  value = { for n in local.nodes : n.id => {
    zone          = n.zone
    fqdn          = n.fqdn
    private_ip    = aws_instance.node[n.id].private_ip
    instance_id   = aws_instance.node[n.id].id
    api_endpoint  = "${n.fqdn}:${var.api_port}"
    raft_endpoint = "${n.fqdn}:${var.raft_port}"
  } }
}

output "api_endpoints" {
  description = "gRPC API endpoints, comma-separated, for KEYMGR_ADDR."
  value       = join(",", [for n in local.nodes : "${n.fqdn}:${var.api_port}"])
}

output "secrets_to_upload" {
  description = "Secrets Manager names the operator fills after apply (docs/deploy.md): PEM CA, cluster secret, and per node its certificate and key."
  value = {
    ca      = local.shared_secrets.ca
    cluster = local.shared_secrets.cluster
    nodes   = { for id, s in local.node_secrets : id => { tls_cert = s.tls_cert, tls_key = s.tls_key } }
  }
}

output "node_security_group_id" {
  description = "The nodes' security group (the Raft peer group)."
  value       = aws_security_group.node.id
}

output "kms_key_arn" {
  description = "Customer-managed KMS key of the disks and secrets."
  value       = aws_kms_key.keymgr.arn
}

output "dns_zone_id" {
  description = "Private Route 53 zone of the node names."
  value       = aws_route53_zone.nodes.zone_id
}

output "cloudhsm_cluster_id" {
  description = "CloudHSM cluster id (null unless cloudhsm_enabled)."
  value       = var.cloudhsm_enabled ? aws_cloudhsm_v2_cluster.seal[0].cluster_id : null
}
