terraform {
  # 1.9: validation blocks may refer to other variables.
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.20, < 7.0"
    }
  }
}
