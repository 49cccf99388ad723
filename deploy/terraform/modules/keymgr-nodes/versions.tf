terraform {
  # No provider: this module only computes, so the offline tests run it with Terraform.
  required_version = ">= 1.9"
}
