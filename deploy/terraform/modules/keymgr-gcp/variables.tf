variable "name" {
  description = "Prefix of every resource name (secrets, service accounts, firewall rules, DNS)."
  type        = string
  default     = "keymgr"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "node_count" {
  description = "Number of keymgr nodes: 3 (survives the loss of one zone) or 5 (survives two nodes)."
  type        = number
  default     = 3

  validation {
    condition     = contains([3, 5], var.node_count)
    error_message = "node_count must be 3 or 5: Raft needs an odd number of nodes and a majority that survives a zone loss."
  }
}

variable "agent_cidrs" {
  description = "CIDRs of the agents and operators allowed to reach the gRPC API (and the TDE gateway). Never the internet: each prefix must be /8 or longer."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for c in var.agent_cidrs : can(cidrhost(c, 0)) && try(tonumber(split("/", c)[1]) >= 8, false)
    ])
    error_message = "agent_cidrs must be CIDRs with a prefix of /8 or longer (0.0.0.0/0 and ::/0 are refused)."
  }
}

variable "api_port" {
  description = "gRPC API port (mTLS)."
  type        = number
  default     = 7001

  validation {
    condition     = var.api_port >= 1024 && var.api_port <= 65535 && floor(var.api_port) == var.api_port
    error_message = "api_port must be an integer in 1024..65535 (the service runs without privileges)."
  }
}

variable "raft_port" {
  description = "Raft port: reachable only from the other nodes."
  type        = number
  default     = 7101

  validation {
    condition     = var.raft_port >= 1024 && var.raft_port <= 65535 && floor(var.raft_port) == var.raft_port && var.raft_port != var.api_port
    error_message = "raft_port must be an integer in 1024..65535, different from api_port."
  }
}

variable "tde_gateway_port" {
  description = "Port of the TDE gateway (not built yet; opened only when tde_gateway_enabled)."
  type        = number
  default     = 8200

  validation {
    condition     = var.tde_gateway_port >= 1024 && var.tde_gateway_port <= 65535 && !contains([var.api_port, var.raft_port], var.tde_gateway_port)
    error_message = "tde_gateway_port must be in 1024..65535 and differ from api_port and raft_port."
  }
}

variable "tde_gateway_enabled" {
  description = "Open tde_gateway_port to the agents. Leave false until the TDE gateway ships."
  type        = bool
  default     = false
}

variable "dns_domain" {
  description = "Private DNS zone created for the nodes: node1.<dns_domain>, ... (also the names in the node certificates)."
  type        = string
  default     = "kms.internal"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.dns_domain))
    error_message = "dns_domain must be a lower-case DNS name with at least two labels, e.g. kms.internal."
  }
}

variable "keymgr_package" {
  description = "What the boot script passes to pip to install keymgr, e.g. a version pin or a wheel URL in your artifact store."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._:/@=<>~!+-]*$", var.keymgr_package))
    error_message = "keymgr_package must be one pip requirement or URL, without spaces, quotes or shell characters."
  }
}

variable "log_level" {
  description = "keymgr log level on the nodes."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warning", "error"], var.log_level)
    error_message = "log_level must be one of debug, info, warning, error."
  }
}

variable "project" {
  description = "GCP project id the nodes run in."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a GCP project id (6-30 lower-case letters, digits, '-')."
  }
}

variable "zones" {
  description = "Zones of one region (e.g. [\"europe-west1-b\", \"europe-west1-c\", \"europe-west1-d\"]); node i goes to zones[i % length(zones)]."
  type        = list(string)

  validation {
    condition     = length(distinct(var.zones)) == length(var.zones) && length(var.zones) >= 3
    error_message = "zones must list at least 3 distinct zones, so that no zone holds a Raft majority."
  }

  validation {
    condition     = alltrue([for z in var.zones : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", z))])
    error_message = "zones must be GCP zone names such as europe-west1-b."
  }

  validation {
    condition     = length(distinct([for z in var.zones : substr(z, 0, length(z) - 2)])) == 1
    error_message = "zones must all be in one region."
  }
}

variable "network" {
  description = "Self link of the VPC network (projects/P/global/networks/N)."
  type        = string

  validation {
    condition     = can(regex("^projects/[a-z][a-z0-9-]+/global/networks/[a-z][a-z0-9-]*$", var.network))
    error_message = "network must look like projects/my-project/global/networks/my-vpc."
  }
}

variable "subnetwork" {
  description = "Self link of the regional subnetwork the nodes get their private address from (projects/P/regions/R/subnetworks/S)."
  type        = string

  validation {
    condition     = can(regex("^projects/[a-z][a-z0-9-]+/regions/[a-z0-9-]+/subnetworks/[a-z][a-z0-9-]*$", var.subnetwork))
    error_message = "subnetwork must look like projects/my-project/regions/europe-west1/subnetworks/private."
  }
}

variable "agent_service_accounts" {
  description = "Service account e-mails of the agents and operators allowed to reach the gRPC API (and the TDE gateway)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.agent_service_accounts : can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.iam\\.gserviceaccount\\.com$", s))])
    error_message = "agent_service_accounts must be service account e-mails (...@P.iam.gserviceaccount.com)."
  }
}

variable "machine_type" {
  description = "Compute Engine machine type of the nodes."
  type        = string
  default     = "n2-standard-2"

  validation {
    condition     = can(regex("^[a-z0-9]+-[a-z0-9-]+$", var.machine_type))
    error_message = "machine_type must look like n2-standard-2."
  }
}

variable "image" {
  description = "Boot image; it must run cloud-init (Ubuntu does, Debian's GCE images do not)."
  type        = string
  default     = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+$", var.image))
    error_message = "image must be project/family or project/image."
  }
}

variable "boot_disk_gb" {
  description = "Size of the (CMEK-encrypted) boot disk in GB."
  type        = number
  default     = 20

  validation {
    condition     = var.boot_disk_gb >= 10 && var.boot_disk_gb <= 1024
    error_message = "boot_disk_gb must be 10..1024."
  }
}

variable "data_disk_gb" {
  description = "Size of the (CMEK-encrypted) data disk that holds the Raft journal, in GB."
  type        = number
  default     = 20

  validation {
    condition     = var.data_disk_gb >= 10 && var.data_disk_gb <= 65536
    error_message = "data_disk_gb must be 10..65536."
  }
}

variable "deletion_protection" {
  description = "Protect the instances against deletion (turn off only to destroy the cluster)."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to every resource that takes them."
  type        = map(string)
  default     = {}
}
