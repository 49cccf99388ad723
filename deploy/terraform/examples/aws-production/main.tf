# Production shape: 5 nodes over 3 zones (survives a zone loss and one more node), agents
# admitted by security group, CloudHSM provisioned for the PKCS#11 seal, remote state.
# Replace the ids with yours.

terraform {
  backend "s3" {
    bucket       = "example-terraform-state"
    key          = "keymgr/prod.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = "eu-west-1"
}

module "keymgr" {
  source = "../../modules/keymgr-aws"

  name       = "keymgr-prod"
  node_count = 5
  zones      = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  vpc_id     = "vpc-0123456789abcdef0"
  private_subnet_ids = {
    "eu-west-1a" = "subnet-0a1a1a1a1a1a1a1a1"
    "eu-west-1b" = "subnet-0b1b1b1b1b1b1b1b1"
    "eu-west-1c" = "subnet-0c1c1c1c1c1c1c1c1"
  }
  agent_security_group_ids = ["sg-0d1d1d1d1d1d1d1d1", "sg-0e1e1e1e1e1e1e1e1"]
  agent_cidrs              = ["10.20.0.0/16"]
  https_egress_cidrs       = ["10.0.0.0/16"] # VPC endpoints and the artifact proxy only
  instance_type            = "m6i.large"
  data_volume_gb           = 50
  dns_domain               = "kms.prod.internal"
  keymgr_package           = "keymgr==0.1.0"
  cloudhsm_enabled         = true
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
