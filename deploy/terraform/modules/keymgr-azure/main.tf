data "azurerm_client_config" "current" {}

locals {
  tags    = merge(var.tags, { "keymgr-cluster" = var.name })
  vnet_id = regex("^(.*)/subnets/[^/]+$", var.subnet_id)[0]
  # Placeholder of the secrets the operator uploads (docs/deploy.md); the boot script's
  # `keymgr config check` refuses it, so a node waits until the real value is there.
  placeholder = "uploaded-by-operator"
}

# --- Key Vault: node secrets and the disk key, RBAC only, firewalled -----------------------

resource "azurerm_key_vault" "keymgr" {
  #checkov:skip=CKV_AZURE_189: public access stays on only so that the firewall below can admit the node subnet and key_vault_allowed_cidrs; default action is Deny
  #checkov:skip=CKV2_AZURE_32: a private endpoint needs a private DNS zone the customer's network owns; the node subnet reaches the vault through its service endpoint
  name                          = var.key_vault_name
  location                      = var.location
  resource_group_name           = var.resource_group_name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "premium" # HSM-backed keys
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = true
  tags                          = local.tags

  network_acls {
    default_action             = "Deny"
    bypass                     = "AzureServices"
    ip_rules                   = var.key_vault_allowed_cidrs
    virtual_network_subnet_ids = [var.subnet_id]
  }
}

# Whoever runs Terraform writes the node configs and creates the disk key.
resource "azurerm_role_assignment" "deployer" {
  for_each             = toset(["Key Vault Secrets Officer", "Key Vault Crypto Officer"])
  scope                = azurerm_key_vault.keymgr.id
  role_definition_name = each.value
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_key_vault_key" "disks" {
  name            = "${var.name}-disks"
  key_vault_id    = azurerm_key_vault.keymgr.id
  key_type        = "RSA-HSM"
  key_size        = 3072
  key_opts        = ["wrapKey", "unwrapKey"]
  expiration_date = timeadd(plantimestamp(), "17520h") # 2 years; rotated yearly below

  rotation_policy {
    automatic {
      time_before_expiry = "P30D"
    }
    expire_after         = "P2Y"
    notify_before_expiry = "P60D"
  }

  lifecycle {
    ignore_changes = [expiration_date]
  }

  depends_on = [azurerm_role_assignment.deployer]
}

resource "azurerm_disk_encryption_set" "keymgr" {
  name                      = "${var.name}-disks"
  location                  = var.location
  resource_group_name       = var.resource_group_name
  key_vault_key_id          = azurerm_key_vault_key.disks.versionless_id
  auto_key_rotation_enabled = true
  tags                      = local.tags

  identity {
    type = "SystemAssigned"
  }
}

resource "azurerm_role_assignment" "disk_encryption_set" {
  scope                = azurerm_key_vault.keymgr.id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_disk_encryption_set.keymgr.identity[0].principal_id
}

# --- secrets: the node config is written here; TLS material and the cluster secret are
# --- uploaded by the operator, so no private key is in Terraform state.

resource "azurerm_key_vault_secret" "shared" {
  #checkov:skip=CKV_AZURE_41: an expired secret cannot be read, and a node that reboots must read it; certificate validity is the real expiry
  for_each     = local.shared_secrets
  name         = each.value
  key_vault_id = azurerm_key_vault.keymgr.id
  value        = local.placeholder
  content_type = each.key == "ca" ? "application/x-pem-file" : "text/plain"
  tags         = local.tags

  lifecycle {
    ignore_changes = [value, tags]
  }

  depends_on = [azurerm_role_assignment.deployer]
}

resource "azurerm_key_vault_secret" "config" {
  #checkov:skip=CKV_AZURE_41: an expired secret cannot be read, and a node that reboots must read it
  for_each     = local.node_yaml
  name         = local.node_secrets[each.key].config
  key_vault_id = azurerm_key_vault.keymgr.id
  value        = each.value
  content_type = "application/yaml"
  tags         = local.tags

  depends_on = [azurerm_role_assignment.deployer]
}

resource "azurerm_key_vault_secret" "tls" {
  #checkov:skip=CKV_AZURE_41: an expired secret cannot be read, and a node that reboots must read it; certificate validity is the real expiry
  for_each = { for pair in setproduct(local.node_ids, ["tls_cert", "tls_key"]) :
  "${pair[0]}/${pair[1]}" => { node = pair[0], kind = pair[1] } }
  name         = local.node_secrets[each.value.node][each.value.kind]
  key_vault_id = azurerm_key_vault.keymgr.id
  value        = local.placeholder
  content_type = "application/x-pem-file"
  tags         = local.tags

  lifecycle {
    # The operator's upload must survive the next apply.
    ignore_changes = [value, tags]
  }

  depends_on = [azurerm_role_assignment.deployer]
}

# Each VM's own identity may read its own three secrets and the two shared ones: nothing else.
resource "azurerm_role_assignment" "own_config" {
  for_each             = azurerm_key_vault_secret.config
  scope                = each.value.resource_versionless_id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_linux_virtual_machine.node[each.key].identity[0].principal_id
}

resource "azurerm_role_assignment" "own_tls" {
  for_each             = azurerm_key_vault_secret.tls
  scope                = each.value.resource_versionless_id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_linux_virtual_machine.node[split("/", each.key)[0]].identity[0].principal_id
}

resource "azurerm_role_assignment" "shared_secrets" {
  for_each = { for pair in setproduct(keys(local.shared_secrets), local.node_ids) :
  "${pair[0]}/${pair[1]}" => { secret = pair[0], node = pair[1] } }
  scope                = azurerm_key_vault_secret.shared[each.value.secret].resource_versionless_id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_linux_virtual_machine.node[each.value.node].identity[0].principal_id
}

# --- network: the node application security group is the Raft peer group ------------------

resource "azurerm_application_security_group" "node" {
  name                = "${var.name}-nodes"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = local.tags
}

resource "azurerm_network_security_group" "node" {
  name                = "${var.name}-nodes"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = local.tags
}

resource "azurerm_network_security_rule" "raft_from_peers" {
  name                                       = "raft-from-peers"
  description                                = "Raft from the other keymgr nodes only"
  resource_group_name                        = var.resource_group_name
  network_security_group_name                = azurerm_network_security_group.node.name
  priority                                   = 100
  direction                                  = "Inbound"
  access                                     = "Allow"
  protocol                                   = "Tcp"
  source_port_range                          = "*"
  destination_port_range                     = tostring(var.raft_port)
  source_application_security_group_ids      = [azurerm_application_security_group.node.id]
  destination_application_security_group_ids = [azurerm_application_security_group.node.id]
}

resource "azurerm_network_security_rule" "api_from_peers" {
  name                                       = "api-from-peers"
  description                                = "gRPC API from the other nodes (forwarding to the leader, status)"
  resource_group_name                        = var.resource_group_name
  network_security_group_name                = azurerm_network_security_group.node.name
  priority                                   = 110
  direction                                  = "Inbound"
  access                                     = "Allow"
  protocol                                   = "Tcp"
  source_port_range                          = "*"
  destination_port_range                     = tostring(var.api_port)
  source_application_security_group_ids      = [azurerm_application_security_group.node.id]
  destination_application_security_group_ids = [azurerm_application_security_group.node.id]
}

resource "azurerm_network_security_rule" "api_from_agent_cidrs" {
  count                                      = length(var.agent_cidrs) > 0 ? 1 : 0
  name                                       = "api-from-agent-cidrs"
  description                                = "gRPC API (and TDE gateway) from agents"
  resource_group_name                        = var.resource_group_name
  network_security_group_name                = azurerm_network_security_group.node.name
  priority                                   = 120
  direction                                  = "Inbound"
  access                                     = "Allow"
  protocol                                   = "Tcp"
  source_port_range                          = "*"
  destination_port_ranges                    = var.tde_gateway_enabled ? [tostring(var.api_port), tostring(var.tde_gateway_port)] : [tostring(var.api_port)]
  source_address_prefixes                    = var.agent_cidrs
  destination_application_security_group_ids = [azurerm_application_security_group.node.id]
}

resource "azurerm_network_security_rule" "api_from_agent_asgs" {
  count                                      = length(var.agent_application_security_group_ids) > 0 ? 1 : 0
  name                                       = "api-from-agent-asgs"
  description                                = "gRPC API (and TDE gateway) from agents"
  resource_group_name                        = var.resource_group_name
  network_security_group_name                = azurerm_network_security_group.node.name
  priority                                   = 130
  direction                                  = "Inbound"
  access                                     = "Allow"
  protocol                                   = "Tcp"
  source_port_range                          = "*"
  destination_port_ranges                    = var.tde_gateway_enabled ? [tostring(var.api_port), tostring(var.tde_gateway_port)] : [tostring(var.api_port)]
  source_application_security_group_ids      = var.agent_application_security_group_ids
  destination_application_security_group_ids = [azurerm_application_security_group.node.id]
}

# Azure's default rules let the whole VNet in (AllowVnetInBound): this drops it.
resource "azurerm_network_security_rule" "deny_other_inbound" {
  name                        = "deny-other-inbound"
  description                 = "Everything else to the keymgr nodes is dropped"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.node.name
  priority                    = 4096
  direction                   = "Inbound"
  access                      = "Deny"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
}

# --- nodes ---------------------------------------------------------------------------------

resource "azurerm_network_interface" "node" {
  for_each            = toset(local.node_ids)
  name                = "${var.name}-${each.value}"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = local.tags

  # No public_ip_address_id: no public IP.
  ip_configuration {
    name                          = "private"
    subnet_id                     = var.subnet_id
    private_ip_address_allocation = "Dynamic"
  }
}

resource "azurerm_network_interface_security_group_association" "node" {
  for_each                  = azurerm_network_interface.node
  network_interface_id      = each.value.id
  network_security_group_id = azurerm_network_security_group.node.id
}

resource "azurerm_network_interface_application_security_group_association" "node" {
  for_each                      = azurerm_network_interface.node
  network_interface_id          = each.value.id
  application_security_group_id = azurerm_application_security_group.node.id
}

resource "azurerm_linux_virtual_machine" "node" {
  #checkov:skip=CKV_AZURE_50: no extension is installed by this module; the VM agent stays on because Azure needs it to report provisioning and deliver custom_data
  for_each                        = { for n in local.nodes : n.id => n }
  name                            = "${var.name}-${each.key}"
  location                        = var.location
  resource_group_name             = var.resource_group_name
  zone                            = each.value.zone
  size                            = var.vm_size
  admin_username                  = var.admin_username
  disable_password_authentication = true
  network_interface_ids           = [azurerm_network_interface.node[each.key].id]
  custom_data                     = base64encode(local.user_data[each.key])
  encryption_at_host_enabled      = var.encryption_at_host
  secure_boot_enabled             = true
  vtpm_enabled                    = true
  allow_extension_operations      = false
  tags                            = local.tags

  admin_ssh_key {
    username   = var.admin_username
    public_key = var.admin_ssh_public_key
  }

  os_disk {
    caching                = "ReadWrite"
    storage_account_type   = "Premium_LRS"
    disk_size_gb           = var.os_disk_gb
    disk_encryption_set_id = azurerm_disk_encryption_set.keymgr.id
  }

  source_image_reference {
    publisher = var.image.publisher
    offer     = var.image.offer
    sku       = var.image.sku
    version   = var.image.version
  }

  identity {
    type = "SystemAssigned"
  }

  depends_on = [azurerm_role_assignment.disk_encryption_set]
}

resource "azurerm_managed_disk" "data" {
  for_each                      = { for n in local.nodes : n.id => n }
  name                          = "${var.name}-${each.key}-data"
  location                      = var.location
  resource_group_name           = var.resource_group_name
  zone                          = each.value.zone
  storage_account_type          = "Premium_LRS"
  create_option                 = "Empty"
  disk_size_gb                  = var.data_disk_gb
  disk_encryption_set_id        = azurerm_disk_encryption_set.keymgr.id
  public_network_access_enabled = false
  network_access_policy         = "DenyAll"
  tags                          = local.tags

  depends_on = [azurerm_role_assignment.disk_encryption_set]
}

resource "azurerm_virtual_machine_data_disk_attachment" "data" {
  for_each           = azurerm_linux_virtual_machine.node
  managed_disk_id    = azurerm_managed_disk.data[each.key].id
  virtual_machine_id = each.value.id
  lun                = 0
  caching            = "None" # the Raft journal fsyncs: no host write cache
}

# --- DNS: node1.<dns_domain> ... in a private zone linked to the VNet ---------------------

resource "azurerm_private_dns_zone" "nodes" {
  name                = var.dns_domain
  resource_group_name = var.resource_group_name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "nodes" {
  name                  = "${var.name}-nodes"
  resource_group_name   = var.resource_group_name
  private_dns_zone_name = azurerm_private_dns_zone.nodes.name
  virtual_network_id    = local.vnet_id
  registration_enabled  = false
  tags                  = local.tags
}

resource "azurerm_private_dns_a_record" "node" {
  for_each            = azurerm_network_interface.node
  name                = each.key
  zone_name           = azurerm_private_dns_zone.nodes.name
  resource_group_name = var.resource_group_name
  ttl                 = 60
  records             = [each.value.private_ip_address]
}
