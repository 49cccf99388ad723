#!/bin/bash
# keymgr node bootstrap, run once by cloud-init as root.
#
# Why a script and not user data: the node's TLS key, certificate, config and the Raft
# cluster secret must never be in user data (readable from the metadata service and the
# cloud console). They live in the cloud's secret store; this node's identity may read
# only its own. This script installs keymgr, mounts the encrypted data disk, fetches the
# secrets until they are all there and `keymgr config check` accepts them, then starts
# keymgr.service. Settings come from /etc/keymgr/boot.env (names, never secret values).
set -euo pipefail
umask 077

declare -A env
while IFS='=' read -r key value; do
  [[ $key =~ ^KEYMGR_[A-Z_]+$ ]] && env[$key]=$value
done </etc/keymgr/boot.env

log() { echo "keymgr-boot: $*" | systemd-cat -t keymgr-boot -p info 2>/dev/null || echo "keymgr-boot: $*"; }

# --- the service user, keymgr itself, the data disk ----------------------------------------
id keymgr >/dev/null 2>&1 || useradd --system --home-dir /var/lib/keymgr --shell /usr/sbin/nologin keymgr
if [ ! -x /opt/keymgr/bin/keymgr ]; then
  if ! python3 -m venv /opt/keymgr; then  # Ubuntu ships venv's pip separately
    rm -rf /opt/keymgr
    if command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv
    else
      dnf install -y -q python3-pip
    fi
    python3 -m venv /opt/keymgr
  fi
  /opt/keymgr/bin/pip install --quiet "${env[KEYMGR_PACKAGE]}"
fi

disk=${env[KEYMGR_DATA_DISK]}
for _ in $(seq 60); do [ -b "$disk" ] && break; sleep 5; done
[ -b "$disk" ] || { log "data disk $disk not found"; exit 1; }
if ! blkid "$disk" >/dev/null 2>&1; then
  mkfs.ext4 -q -L keymgr-data "$disk"
fi
mkdir -p /var/lib/keymgr
uuid=$(blkid -s UUID -o value "$disk")
grep -q "$uuid" /etc/fstab || echo "UUID=$uuid /var/lib/keymgr ext4 defaults,nodev,nosuid,noexec,nofail 0 2" >>/etc/fstab
mountpoint -q /var/lib/keymgr || mount /var/lib/keymgr
install -d -o keymgr -g keymgr -m 0700 /var/lib/keymgr/data

# --- secrets: one reader per cloud, each using only the instance's own identity --------
scope=${env[KEYMGR_SECRET_SCOPE]}
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]], end="")' "$1"; }

fetch_aws() {
  aws secretsmanager get-secret-value --region "$scope" --secret-id "$1" \
    --query SecretString --output text
}
fetch_gcp() {
  local token
  token=$(curl -sf -H 'Metadata-Flavor: Google' \
    'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token' |
    json_field access_token)
  curl -sf -H "Authorization: Bearer $token" \
    "https://secretmanager.googleapis.com/v1/$scope/secrets/$1/versions/latest:access" |
    python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["payload"]["data"]))'
}
fetch_azure() {
  local token
  token=$(curl -sf -H 'Metadata: true' \
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net" |
    json_field access_token)
  curl -sf -H "Authorization: Bearer $token" \
    "https://$scope.vault.azure.net/secrets/$1?api-version=7.4" | json_field value
}

fetch_to() {  # fetch_to SECRET_NAME FILE MODE [OWNER]: never through a variable or the log
  local tmp
  tmp=$(mktemp /etc/keymgr/.fetch.XXXXXX)
  if "fetch_${env[KEYMGR_CLOUD]}" "$1" >"$tmp" 2>/dev/null && [ -s "$tmp" ]; then
    chown "${4:-root}:keymgr" "$tmp" && chmod "$3" "$tmp" && mv -f "$tmp" "$2"
  else
    rm -f "$tmp"
    return 1
  fi
}

install -d -o root -g keymgr -m 0750 /etc/keymgr /etc/keymgr/tls
# The operator uploads the TLS material and cluster secret after `terraform apply`
# (docs/deploy.md), so wait for them: up to an hour, then fail loudly.
for attempt in $(seq 360); do
  if fetch_to "${env[KEYMGR_SECRET_CONFIG]}" /etc/keymgr/node.yaml 0640 &&
     fetch_to "${env[KEYMGR_SECRET_CA]}" /etc/keymgr/tls/ca.pem 0640 &&
     fetch_to "${env[KEYMGR_SECRET_TLS_CERT]}" /etc/keymgr/tls/node.pem 0640 &&
     fetch_to "${env[KEYMGR_SECRET_TLS_KEY]}" /etc/keymgr/tls/node-key.pem 0640 &&
     fetch_to "${env[KEYMGR_SECRET_CLUSTER]}" /etc/keymgr/cluster-secret 0600 keymgr &&
     getent hosts "${env[KEYMGR_FQDN]}" >/dev/null &&
     /opt/keymgr/bin/keymgr config check /etc/keymgr/node.yaml; then
    systemctl daemon-reload
    systemctl enable --now keymgr.service
    log "keymgr.service started for ${env[KEYMGR_NODE_ID]} after $attempt attempt(s)"
    exit 0
  fi
  sleep 10
done
log "secrets for ${env[KEYMGR_NODE_ID]} not available or config rejected after an hour"
exit 1
