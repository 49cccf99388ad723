terraform {
  # 1.9: validation blocks may refer to other variables (zones <-> subnets).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
