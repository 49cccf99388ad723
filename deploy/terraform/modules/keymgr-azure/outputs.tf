output "nodes" {
  description = "Per node: zone, DNS name, private IP and endpoints."
  value = { for n in local.nodes : n.id => {
    zone          = n.zone
    fqdn          = n.fqdn
    private_ip    = azurerm_network_interface.node[n.id].private_ip_address
    vm_id         = azurerm_linux_virtual_machine.node[n.id].id
    api_endpoint  = "${n.fqdn}:${var.api_port}"
    raft_endpoint = "${n.fqdn}:${var.raft_port}"
  } }
}

output "api_endpoints" {
  description = "gRPC API endpoints, comma-separated, for KEYMGR_ADDR."
  value       = join(",", [for n in local.nodes : "${n.fqdn}:${var.api_port}"])
}

output "secrets_to_upload" {
  description = "Key Vault secret names the operator fills after apply (docs/deploy.md): PEM CA, cluster secret, and per node its certificate and key."
  value = {
    key_vault = azurerm_key_vault.keymgr.name
    ca        = local.shared_secrets.ca
    cluster   = local.shared_secrets.cluster
    nodes     = { for id, s in local.node_secrets : id => { tls_cert = s.tls_cert, tls_key = s.tls_key } }
  }
}

output "node_application_security_group_id" {
  description = "The nodes' application security group (the Raft peer group)."
  value       = azurerm_application_security_group.node.id
}

output "key_vault_id" {
  description = "Key Vault of the node secrets and the disk key."
  value       = azurerm_key_vault.keymgr.id
}

output "disk_encryption_set_id" {
  description = "Disk encryption set (customer-managed key) of the disks."
  value       = azurerm_disk_encryption_set.keymgr.id
}
