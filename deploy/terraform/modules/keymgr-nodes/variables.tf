variable "cloud" {
  description = "Which secret reader the boot script uses."
  type        = string

  validation {
    condition     = contains(["aws", "gcp", "azure"], var.cloud)
    error_message = "cloud must be aws, gcp or azure."
  }
}

variable "name" {
  description = "Cluster name: prefix of the secret names."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "node_count" {
  description = "Number of nodes: 3 or 5."
  type        = number

  validation {
    condition     = contains([3, 5], var.node_count)
    error_message = "node_count must be 3 or 5."
  }
}

variable "zones" {
  description = "At least 3 distinct zones; node i goes to zones[i % length(zones)]."
  type        = list(string)

  validation {
    condition     = length(distinct(var.zones)) == length(var.zones) && length(var.zones) >= 3
    error_message = "zones must list at least 3 distinct zones."
  }
}

variable "dns_domain" {
  description = "Domain of the node names node1.<dns_domain>, ..."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.dns_domain))
    error_message = "dns_domain must be a lower-case DNS name with at least two labels."
  }
}

variable "api_port" {
  description = "gRPC API port."
  type        = number

  validation {
    condition     = var.api_port >= 1024 && var.api_port <= 65535 && floor(var.api_port) == var.api_port
    error_message = "api_port must be an integer in 1024..65535."
  }
}

variable "raft_port" {
  description = "Raft port."
  type        = number

  validation {
    condition     = var.raft_port >= 1024 && var.raft_port <= 65535 && floor(var.raft_port) == var.raft_port && var.raft_port != var.api_port
    error_message = "raft_port must be an integer in 1024..65535, different from api_port."
  }
}

variable "log_level" {
  description = "keymgr log level."
  type        = string

  validation {
    condition     = contains(["debug", "info", "warning", "error"], var.log_level)
    error_message = "log_level must be one of debug, info, warning, error."
  }
}

variable "keymgr_package" {
  description = "pip requirement or URL the boot script installs."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._:/@=<>~!+-]*$", var.keymgr_package))
    error_message = "keymgr_package must be one pip requirement or URL, without spaces, quotes or shell characters."
  }
}

variable "secret_scope" {
  description = "Where the secrets are: AWS region, GCP projects/<id>, or Azure Key Vault name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/-]+$", var.secret_scope))
    error_message = "secret_scope must be a region, projects/<id> or a vault name."
  }
}

variable "data_disk" {
  description = "Device path of the data disk on the node."
  type        = string

  validation {
    condition     = can(regex("^/dev/[A-Za-z0-9/_-]+$", var.data_disk))
    error_message = "data_disk must be a /dev path."
  }
}
