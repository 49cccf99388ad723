# Smallest useful cluster: 3 nodes in zones 1-3 of an existing VNet, the API open to one
# private agent range. Replace the ids with yours.

provider "azurerm" {
  features {}
}

module "keymgr" {
  source = "../../modules/keymgr-azure"

  resource_group_name     = "kms"
  location                = "westeurope"
  subnet_id               = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/network/providers/Microsoft.Network/virtualNetworks/private/subnets/kms"
  key_vault_name          = "example-keymgr-kv"
  key_vault_allowed_cidrs = ["203.0.113.0/24"]
  agent_cidrs             = ["10.20.0.0/16"]
  admin_ssh_public_key    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample operator"
  keymgr_package          = "keymgr==0.1.0"
}

output "api_endpoints" {
  description = "KEYMGR_ADDR for agents and operators."
  value       = module.keymgr.api_endpoints
}

output "secrets_to_upload" {
  description = "Secrets to fill after apply (docs/deploy.md)."
  value       = module.keymgr.secrets_to_upload
}
