"""Generated from proto/k8s/kms/v2/api.proto (Kubernetes KMS v2, package v2)."""
