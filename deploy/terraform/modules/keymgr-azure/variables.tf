variable "name" {
  description = "Prefix of every resource name (Key Vault secrets, VMs, network security group, DNS)."
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

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
variable "resource_group_name" {
  description = "Existing resource group that receives every resource."
  type        = string

  validation {
    condition     = can(regex("^[-\\w._()]{1,90}$", var.resource_group_name))
    error_message = "resource_group_name must be an Azure resource group name."
  }
}

variable "location" {
  description = "Azure region with availability zones (e.g. westeurope)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be a region name such as westeurope."
  }
}

variable "zones" {
  description = "Availability zones of the region (\"1\", \"2\", \"3\"); node i goes to zones[i % length(zones)]."
  type        = list(string)
  default     = ["1", "2", "3"]

  validation {
    condition     = length(distinct(var.zones)) == length(var.zones) && length(var.zones) >= 3
    error_message = "zones must list at least 3 distinct zones, so that no zone holds a Raft majority."
  }

  validation {
    condition     = alltrue([for z in var.zones : contains(["1", "2", "3"], z)])
    error_message = "zones must be \"1\", \"2\" or \"3\"."
  }
}

variable "subnet_id" {
  description = "Private subnet of the nodes (with the Microsoft.KeyVault service endpoint enabled, so nodes reach the vault through it)."
  type        = string

  validation {
    condition     = can(regex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.Network/virtualNetworks/[^/]+/subnets/[^/]+$", var.subnet_id))
    error_message = "subnet_id must be a subnet resource id (/subscriptions/.../virtualNetworks/V/subnets/S)."
  }
}

variable "agent_application_security_group_ids" {
  description = "Application security groups of the agents and operators allowed to reach the gRPC API (and the TDE gateway)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.agent_application_security_group_ids : can(regex("/providers/Microsoft.Network/applicationSecurityGroups/[^/]+$", a))])
    error_message = "agent_application_security_group_ids must be application security group resource ids."
  }
}

variable "key_vault_name" {
  description = "Name of the Key Vault created for the node secrets and the disk key (globally unique, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", var.key_vault_name))
    error_message = "key_vault_name must be 3-24 letters, digits and '-', starting with a letter."
  }
}

variable "key_vault_allowed_cidrs" {
  description = "Public CIDRs (besides the node subnet) allowed through the Key Vault firewall: where Terraform and the operator upload secrets from."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for c in var.key_vault_allowed_cidrs : can(cidrhost(c, 0)) && try(tonumber(split("/", c)[1]) >= 8, false)
    ])
    error_message = "key_vault_allowed_cidrs must be CIDRs with a prefix of /8 or longer (0.0.0.0/0 is refused)."
  }
}

variable "vm_size" {
  description = "VM size of the nodes."
  type        = string
  default     = "Standard_D2s_v5"

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.vm_size))
    error_message = "vm_size must look like Standard_D2s_v5."
  }
}

variable "admin_username" {
  description = "Admin user Azure requires on a Linux VM (no inbound SSH is allowed; reach it through Bastion or the serial console)."
  type        = string
  default     = "keymgradmin"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.admin_username)) && !contains(["admin", "root"], var.admin_username)
    error_message = "admin_username must be a Linux user name other than admin or root."
  }
}

variable "admin_ssh_public_key" {
  description = "OpenSSH public key of the admin user (password login is disabled)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp[0-9]+) [A-Za-z0-9+/=]+( .*)?$", var.admin_ssh_public_key))
    error_message = "admin_ssh_public_key must be an OpenSSH public key line."
  }
}

variable "image" {
  description = "Marketplace image (Gen2, for trusted launch); it must run cloud-init."
  type = object({
    publisher = string
    offer     = string
    sku       = string
    version   = string
  })
  default = {
    publisher = "Canonical"
    offer     = "ubuntu-24_04-lts"
    sku       = "server"
    version   = "latest"
  }

  validation {
    condition     = alltrue([for v in values(var.image) : can(regex("^[A-Za-z0-9._-]+$", v))])
    error_message = "image fields must be Azure marketplace names."
  }
}

variable "os_disk_gb" {
  description = "Size of the (CMK-encrypted) OS disk in GB."
  type        = number
  default     = 32

  validation {
    condition     = var.os_disk_gb >= 30 && var.os_disk_gb <= 1024
    error_message = "os_disk_gb must be 30..1024."
  }
}

variable "data_disk_gb" {
  description = "Size of the (CMK-encrypted) data disk that holds the Raft journal, in GB."
  type        = number
  default     = 32

  validation {
    condition     = var.data_disk_gb >= 4 && var.data_disk_gb <= 32767
    error_message = "data_disk_gb must be 4..32767."
  }
}

variable "encryption_at_host" {
  description = "Encrypt temp disks and caches at the host too (the subscription must have the EncryptionAtHost feature registered)."
  type        = bool
  default     = true
}
