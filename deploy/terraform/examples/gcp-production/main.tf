# Production shape: 5 nodes over 3 zones, agents admitted by service account, remote state.
# Replace the names with yours.

terraform {
  backend "gcs" {
    bucket = "example-terraform-state"
    prefix = "keymgr/prod"
  }
}

provider "google" {
  project = "example-kms-project"
  region  = "europe-west1"
}

module "keymgr" {
  source = "../../modules/keymgr-gcp"

  name                   = "keymgr-prod"
  project                = "example-kms-project"
  node_count             = 5
  zones                  = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
  network                = "projects/example-kms-project/global/networks/private"
  subnetwork             = "projects/example-kms-project/regions/europe-west1/subnetworks/kms"
  agent_service_accounts = ["volume-agent@example-app-project.iam.gserviceaccount.com"]
  machine_type           = "n2-standard-4"
  data_disk_gb           = 50
  dns_domain             = "kms.prod.internal"
  keymgr_package         = "keymgr==0.1.0"
  labels = {
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
