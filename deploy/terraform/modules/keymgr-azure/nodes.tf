# Placement and rendered boot files (see ../keymgr-nodes). Only variables go in, so the
# offline tests evaluate this call with Terraform itself.

module "nodes" {
  source         = "../keymgr-nodes"
  cloud          = "azure"
  name           = var.name
  node_count     = var.node_count
  zones          = var.zones
  dns_domain     = var.dns_domain
  api_port       = var.api_port
  raft_port      = var.raft_port
  log_level      = var.log_level
  keymgr_package = var.keymgr_package
  secret_scope   = var.key_vault_name
  data_disk      = "/dev/disk/azure/scsi1/lun0"
}

locals {
  nodes          = module.nodes.nodes
  node_ids       = [for n in module.nodes.nodes : n.id]
  shared_secrets = module.nodes.shared_secrets
  node_secrets   = module.nodes.node_secrets
  node_yaml      = module.nodes.node_yaml
  user_data      = module.nodes.user_data
}
