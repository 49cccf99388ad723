# Placement and the rendered boot files of every node. Pure: no provider, no resource.

locals {
  templates = "${path.module}/../../templates"

  # Round-robin over >= 3 zones: no zone ever holds a Raft majority.
  nodes = [for i in range(var.node_count) : {
    id   = "node${i + 1}"
    zone = var.zones[i % length(var.zones)]
    fqdn = "node${i + 1}.${var.dns_domain}"
  }]

  shared_secrets = {
    ca      = "${var.name}-ca"
    cluster = "${var.name}-cluster-secret"
  }
  node_secrets = { for n in local.nodes : n.id => {
    config   = "${var.name}-${n.id}-config"
    tls_cert = "${var.name}-${n.id}-tls-cert"
    tls_key  = "${var.name}-${n.id}-tls-key"
  } }

  node_yaml = { for n in local.nodes : n.id => templatefile("${local.templates}/node.yaml.tftpl", {
    node_id   = n.id
    zone      = n.zone
    fqdn      = n.fqdn
    api_port  = var.api_port
    raft_port = var.raft_port
    log_level = var.log_level
    peers_json = jsonencode([for p in local.nodes : {
      id   = p.id
      api  = "${p.fqdn}:${var.api_port}"
      raft = "${p.fqdn}:${var.raft_port}"
      zone = p.zone
    } if p.id != n.id])
  }) }

  user_data = { for n in local.nodes : n.id => templatefile("${local.templates}/cloud-init.yaml.tftpl", {
    cloud            = var.cloud
    node_id          = n.id
    fqdn             = n.fqdn
    secret_scope     = var.secret_scope
    secret_config    = local.node_secrets[n.id].config
    secret_tls_cert  = local.node_secrets[n.id].tls_cert
    secret_tls_key   = local.node_secrets[n.id].tls_key
    secret_ca        = local.shared_secrets.ca
    secret_cluster   = local.shared_secrets.cluster
    data_disk        = var.data_disk
    keymgr_package   = var.keymgr_package
    boot_script_b64  = base64encode(file("${local.templates}/keymgr-boot.sh"))
    service_unit_b64 = base64encode(file("${local.templates}/keymgr.service"))
  }) }
}
