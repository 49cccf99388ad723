# Smallest useful cluster: 3 nodes in 3 zones of an existing VPC, the API open to one
# private agent range. Replace the ids with yours.

provider "aws" {
  region = "eu-west-1"
}

module "keymgr" {
  source = "../../modules/keymgr-aws"

  zones  = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  vpc_id = "vpc-0123456789abcdef0"
  private_subnet_ids = {
    "eu-west-1a" = "subnet-0a1a1a1a1a1a1a1a1"
    "eu-west-1b" = "subnet-0b1b1b1b1b1b1b1b1"
    "eu-west-1c" = "subnet-0c1c1c1c1c1c1c1c1"
  }
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
