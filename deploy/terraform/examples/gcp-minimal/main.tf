# Smallest useful cluster: 3 nodes in 3 zones of an existing VPC, the API open to one
# private agent range. Replace the names with yours.

provider "google" {
  project = "example-kms-project"
  region  = "europe-west1"
}

module "keymgr" {
  source = "../../modules/keymgr-gcp"

  project        = "example-kms-project"
  zones          = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
  network        = "projects/example-kms-project/global/networks/private"
  subnetwork     = "projects/example-kms-project/regions/europe-west1/subnetworks/kms"
  agent_cidrs    = ["10.20.0.0/16"]
  keymgr_package = "keymgr==0.1.0"
}

output "api_endpoints" {
  description = "KEYMGR_ADDR for agents and operators."
  value       = module.keymgr.api_endpoints
}

output "secrets_to_upload" {
  description = "Secrets to fill after apply (docs/deploy.md)."
  value       = module.keymgr.secrets_to_upload
}
