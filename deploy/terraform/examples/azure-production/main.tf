# Production shape: 5 nodes over the region's 3 zones, agents admitted by application
# security group, remote state. Replace the ids with yours.

terraform {
  backend "azurerm" {
    resource_group_name  = "terraform-state"
    storage_account_name = "exampletfstate"
    container_name       = "tfstate"
    key                  = "keymgr/prod.tfstate"
  }
}

provider "azurerm" {
  features {}
}

module "keymgr" {
  source = "../../modules/keymgr-azure"

  name                                 = "keymgr-prod"
  node_count                           = 5
  resource_group_name                  = "kms-prod"
  location                             = "westeurope"
  subnet_id                            = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/network/providers/Microsoft.Network/virtualNetworks/private/subnets/kms"
  key_vault_name                       = "example-keymgr-prod"
  key_vault_allowed_cidrs              = ["203.0.113.0/24"]
  agent_application_security_group_ids = ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/apps/providers/Microsoft.Network/applicationSecurityGroups/volume-agents"]
  vm_size                              = "Standard_D4s_v5"
  data_disk_gb                         = 64
  dns_domain                           = "kms.prod.internal"
  admin_ssh_public_key                 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample operator"
  keymgr_package                       = "keymgr==0.1.0"
  tags = {
    environment = "prod"
    owner       = "security"
  }
}

output "api_endpoints" {
  description = "KEYMGR_ADDR for agents and operators."
  value       = module.keymgr.api_endpoints
}

output "nodes" {
  description = "Nodes with zone, name and address."
  value       = module.keymgr.nodes
}

output "secrets_to_upload" {
  description = "Secrets to fill after apply (docs/deploy.md)."
  value       = module.keymgr.secrets_to_upload
}
