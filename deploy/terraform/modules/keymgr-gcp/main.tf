data "google_project" "current" {
  project_id = var.project
}

locals {
  region = substr(var.zones[0], 0, length(var.zones[0]) - 2)
  labels = merge(var.labels, { "keymgr-cluster" = var.name })
  # Compute Engine's service agent encrypts the disks with the key below.
  compute_agent = "serviceAccount:service-${data.google_project.current.number}@compute-system.iam.gserviceaccount.com"
  node_sa       = { for id in local.node_ids : id => google_service_account.node[id].email }
}

# --- one customer-managed key (CMEK) for the disks ------------------------------------------

resource "google_kms_key_ring" "keymgr" {
  project  = var.project
  name     = var.name
  location = local.region
}

resource "google_kms_crypto_key" "disks" {
  name            = "${var.name}-disks"
  key_ring        = google_kms_key_ring.keymgr.id
  rotation_period = "7776000s" # 90 days
  purpose         = "ENCRYPT_DECRYPT"
  labels          = local.labels

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "compute_agent" {
  crypto_key_id = google_kms_crypto_key.disks.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.compute_agent
}

# --- identity: one service account per node, reading only its own secrets -----------------

resource "google_service_account" "node" {
  for_each     = toset(local.node_ids)
  project      = var.project
  account_id   = "${var.name}-${each.value}"
  display_name = "keymgr ${var.name} ${each.value}"
}

# --- secrets: the node config is written here; TLS material and the cluster secret are
# --- uploaded by the operator (docs/deploy.md), so no private key is in Terraform state.

resource "google_secret_manager_secret" "shared" {
  for_each  = local.shared_secrets
  project   = var.project
  secret_id = each.value
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = local.region
      }
    }
  }
}

resource "google_secret_manager_secret" "node" {
  for_each = { for pair in setproduct(local.node_ids, ["config", "tls_cert", "tls_key"]) :
  "${pair[0]}/${pair[1]}" => { node = pair[0], kind = pair[1] } }
  project   = var.project
  secret_id = local.node_secrets[each.value.node][each.value.kind]
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = local.region
      }
    }
  }
}

resource "google_secret_manager_secret_version" "config" {
  for_each    = local.node_yaml
  secret      = google_secret_manager_secret.node["${each.key}/config"].id
  secret_data = each.value
}

resource "google_secret_manager_secret_iam_member" "own" {
  for_each  = google_secret_manager_secret.node
  project   = var.project
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${local.node_sa[split("/", each.key)[0]]}"
}

resource "google_secret_manager_secret_iam_member" "shared" {
  for_each = { for pair in setproduct(keys(local.shared_secrets), local.node_ids) :
  "${pair[0]}/${pair[1]}" => { secret = pair[0], node = pair[1] } }
  project   = var.project
  secret_id = google_secret_manager_secret.shared[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${local.node_sa[each.value.node]}"
}

# --- firewall: the node service accounts are the Raft peer group ---------------------------

resource "google_compute_firewall" "raft_from_peers" {
  project                 = var.project
  name                    = "${var.name}-raft-from-peers"
  description             = "Raft from the other keymgr nodes only"
  network                 = var.network
  direction               = "INGRESS"
  priority                = 1000
  source_service_accounts = values(local.node_sa)
  target_service_accounts = values(local.node_sa)

  allow {
    protocol = "tcp"
    ports    = [tostring(var.raft_port)]
  }
}

resource "google_compute_firewall" "api_from_peers" {
  project                 = var.project
  name                    = "${var.name}-api-from-peers"
  description             = "gRPC API from the other nodes (forwarding to the leader, status)"
  network                 = var.network
  direction               = "INGRESS"
  priority                = 1000
  source_service_accounts = values(local.node_sa)
  target_service_accounts = values(local.node_sa)

  allow {
    protocol = "tcp"
    ports    = [tostring(var.api_port)]
  }
}

resource "google_compute_firewall" "api_from_agent_cidrs" {
  count                   = length(var.agent_cidrs) > 0 ? 1 : 0
  project                 = var.project
  name                    = "${var.name}-api-from-agent-cidrs"
  description             = "gRPC API (and TDE gateway) from agents"
  network                 = var.network
  direction               = "INGRESS"
  priority                = 1000
  source_ranges           = var.agent_cidrs
  target_service_accounts = values(local.node_sa)

  allow {
    protocol = "tcp"
    ports    = var.tde_gateway_enabled ? [tostring(var.api_port), tostring(var.tde_gateway_port)] : [tostring(var.api_port)]
  }
}

resource "google_compute_firewall" "api_from_agent_sas" {
  count                   = length(var.agent_service_accounts) > 0 ? 1 : 0
  project                 = var.project
  name                    = "${var.name}-api-from-agent-sas"
  description             = "gRPC API (and TDE gateway) from agents"
  network                 = var.network
  direction               = "INGRESS"
  priority                = 1000
  source_service_accounts = var.agent_service_accounts
  target_service_accounts = values(local.node_sa)

  allow {
    protocol = "tcp"
    ports    = var.tde_gateway_enabled ? [tostring(var.api_port), tostring(var.tde_gateway_port)] : [tostring(var.api_port)]
  }
}

# Beats any broader allow rule of the VPC (e.g. default-allow-internal, priority 65534):
# the nodes accept nothing but the rules above.
resource "google_compute_firewall" "deny_other_ingress" {
  project                 = var.project
  name                    = "${var.name}-deny-other-ingress"
  description             = "Everything else to the keymgr nodes is dropped"
  network                 = var.network
  direction               = "INGRESS"
  priority                = 2000
  source_ranges           = ["0.0.0.0/0"]
  target_service_accounts = values(local.node_sa)

  deny {
    protocol = "all"
  }
}

# --- nodes ---------------------------------------------------------------------------------

resource "google_compute_disk" "data" {
  for_each = { for n in local.nodes : n.id => n }
  project  = var.project
  name     = "${var.name}-${each.key}-data"
  zone     = each.value.zone
  type     = "pd-balanced"
  size     = var.data_disk_gb
  labels   = local.labels

  disk_encryption_key {
    kms_key_self_link = google_kms_crypto_key.disks.id
  }

  depends_on = [google_kms_crypto_key_iam_member.compute_agent]
}

resource "google_compute_instance" "node" {
  for_each                  = { for n in local.nodes : n.id => n }
  project                   = var.project
  name                      = "${var.name}-${each.key}"
  zone                      = each.value.zone
  machine_type              = var.machine_type
  can_ip_forward            = false
  deletion_protection       = var.deletion_protection
  allow_stopping_for_update = true
  labels                    = local.labels

  boot_disk {
    kms_key_self_link = google_kms_crypto_key.disks.id

    initialize_params {
      image = var.image
      size  = var.boot_disk_gb
      type  = "pd-balanced"
    }
  }

  attached_disk {
    source            = google_compute_disk.data[each.key].id
    device_name       = "keymgr-data"
    kms_key_self_link = google_kms_crypto_key.disks.id
  }

  # No access_config block: no public IP.
  network_interface {
    subnetwork = var.subnetwork
  }

  service_account {
    email  = google_service_account.node[each.key].email
    scopes = ["cloud-platform"] # narrowed by IAM: the account may read its own secrets only
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    user-data              = local.user_data[each.key]
    block-project-ssh-keys = "true"
    enable-oslogin         = "TRUE"
    serial-port-enable     = "false"
  }

  depends_on = [google_kms_crypto_key_iam_member.compute_agent]
}

# --- DNS: node1.<dns_domain> ... in a private zone of the VPC -----------------------------

resource "google_dns_managed_zone" "nodes" {
  project     = var.project
  name        = "${var.name}-nodes"
  dns_name    = "${var.dns_domain}."
  description = "keymgr ${var.name} nodes"
  visibility  = "private"
  labels      = local.labels

  private_visibility_config {
    networks {
      network_url = var.network
    }
  }
}

resource "google_dns_record_set" "node" {
  for_each     = google_compute_instance.node
  project      = var.project
  managed_zone = google_dns_managed_zone.nodes.name
  name         = "${each.key}.${var.dns_domain}."
  type         = "A"
  ttl          = 60
  rrdatas      = [each.value.network_interface[0].network_ip]
}
