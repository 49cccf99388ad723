variable "name" {
  description = "Prefix of every resource name (secrets, roles, security group, DNS)."
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

variable "zones" {
  description = "Availability zones of one region (e.g. [\"eu-west-1a\", \"eu-west-1b\", \"eu-west-1c\"]); node i goes to zones[i % length(zones)]."
  type        = list(string)

  validation {
    condition     = length(distinct(var.zones)) == length(var.zones) && length(var.zones) >= 3
    error_message = "zones must list at least 3 distinct availability zones, so that no zone holds a Raft majority."
  }

  validation {
    condition     = alltrue([for z in var.zones : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", z))])
    error_message = "zones must be AWS availability zone names such as eu-west-1a."
  }

  validation {
    condition     = length(distinct([for z in var.zones : substr(z, 0, length(z) - 1)])) == 1
    error_message = "zones must all be in one region."
  }
}

variable "vpc_id" {
  description = "VPC that holds the private subnets."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnet per zone: { \"eu-west-1a\" = \"subnet-...\" }. Subnets that assign public IPs are refused at plan time."
  type        = map(string)

  validation {
    condition     = alltrue([for z in var.zones : contains(keys(var.private_subnet_ids), z)])
    error_message = "private_subnet_ids must have a subnet for every zone in zones."
  }

  validation {
    condition     = alltrue([for s in values(var.private_subnet_ids) : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids values must look like subnet-0123456789abcdef0."
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

variable "agent_security_group_ids" {
  description = "Security groups of the agents and operators allowed to reach the gRPC API (and the TDE gateway)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.agent_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "agent_security_group_ids must look like sg-0123456789abcdef0."
  }
}

variable "https_egress_cidrs" {
  description = "Where nodes may open HTTPS connections: the AWS APIs (Secrets Manager) and the package index keymgr is installed from. Narrow it to VPC endpoint and proxy ranges where you have them."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.https_egress_cidrs : can(cidrhost(c, 0))])
    error_message = "https_egress_cidrs must be CIDRs."
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

variable "instance_type" {
  description = "EC2 instance type of the nodes."
  type        = string
  default     = "m6i.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like m6i.large."
  }
}

variable "ami_id" {
  description = "AMI of the nodes; null means the latest Amazon Linux 2023 (x86_64), which has the AWS CLI and the /dev/sdf symlink the boot script uses."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "root_volume_gb" {
  description = "Size of the (encrypted) root volume in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_gb >= 8 && var.root_volume_gb <= 1024
    error_message = "root_volume_gb must be 8..1024."
  }
}

variable "data_volume_gb" {
  description = "Size of the (encrypted) data volume that holds the Raft journal, in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.data_volume_gb >= 1 && var.data_volume_gb <= 16384
    error_message = "data_volume_gb must be 1..16384."
  }
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

variable "secret_recovery_window_days" {
  description = "Days a deleted secret (TLS key, cluster secret) can still be recovered."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30
    error_message = "secret_recovery_window_days must be 7..30."
  }
}

variable "termination_protection" {
  description = "Protect the instances against API termination (turn off only to destroy the cluster)."
  type        = bool
  default     = true
}

variable "cloudhsm_enabled" {
  description = "Create a CloudHSM cluster with one HSM per zone, reachable only from the nodes, for the PKCS#11 seal (the seal itself is not built yet; nodes use the Shamir seal)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
