data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_subnet" "node" {
  for_each = toset(var.zones)
  id       = var.private_subnet_ids[each.value]
}

locals {
  account = data.aws_caller_identity.current.account_id
  ami_id  = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)
  tags    = merge(var.tags, { "keymgr:cluster" = var.name })
  region  = substr(var.zones[0], 0, length(var.zones[0]) - 1)
}

# --- one customer-managed key for disks and secrets ---------------------------------------

resource "aws_kms_key" "keymgr" {
  description             = "${var.name}: keymgr node disks and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # The account administers the key (the AWS default); every use by a node is
      # further limited by the node's own role policy below.
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = local.tags
}

resource "aws_kms_alias" "keymgr" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.keymgr.key_id
}

# --- secrets: the node config is written here; TLS material and the cluster secret are
# --- uploaded by the operator (docs/deploy.md), so no private key is in Terraform state.

resource "aws_secretsmanager_secret" "shared" {
  #checkov:skip=CKV2_AWS_57: rotated by the operator's runbook (new CA / cluster secret), not by a Lambda
  for_each                = local.shared_secrets
  name                    = each.value
  description             = "${var.name}: ${each.key} (uploaded by the operator)"
  kms_key_id              = aws_kms_key.keymgr.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret" "node" {
  #checkov:skip=CKV2_AWS_57: node certificates are re-issued by the operator's runbook; the config changes only with Terraform
  for_each = { for pair in setproduct(local.node_ids, ["config", "tls_cert", "tls_key"]) :
  "${pair[0]}/${pair[1]}" => { node = pair[0], kind = pair[1] } }
  name                    = local.node_secrets[each.value.node][each.value.kind]
  description             = "${var.name}: ${each.value.kind} of ${each.value.node}"
  kms_key_id              = aws_kms_key.keymgr.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "config" {
  for_each      = local.node_yaml
  secret_id     = aws_secretsmanager_secret.node["${each.key}/config"].id
  secret_string = each.value
}

# --- identity: one role per node, reading only its own secrets ------------------------------

resource "aws_iam_role" "node" {
  for_each = toset(local.node_ids)
  name     = "${var.name}-${each.value}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "node_secrets" {
  for_each = toset(local.node_ids)
  name     = "read-own-secrets"
  role     = aws_iam_role.node[each.value].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "ReadOwnSecrets"
        Effect = "Allow"
        Action = "secretsmanager:GetSecretValue"
        Resource = concat(
          [for kind in ["config", "tls_cert", "tls_key"] : aws_secretsmanager_secret.node["${each.value}/${kind}"].arn],
          [for s in aws_secretsmanager_secret.shared : s.arn],
        )
      },
      {
        Sid      = "DecryptThroughSecretsManagerOnly"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = aws_kms_key.keymgr.arn
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" }
        }
      },
    ]
  })
}

resource "aws_iam_instance_profile" "node" {
  for_each = toset(local.node_ids)
  name     = "${var.name}-${each.value}"
  role     = aws_iam_role.node[each.value].name
  tags     = local.tags
}

# --- network: the node security group is the Raft peer group -------------------------------

resource "aws_security_group" "node" {
  name_prefix = "${var.name}-node-"
  description = "keymgr nodes: Raft from peers only, API from agents only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-node" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "raft_from_peers" {
  security_group_id            = aws_security_group.node.id
  description                  = "Raft from the other keymgr nodes only"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = var.raft_port
  to_port                      = var.raft_port
}

resource "aws_vpc_security_group_ingress_rule" "api_from_peers" {
  security_group_id            = aws_security_group.node.id
  description                  = "gRPC API from the other nodes (forwarding to the leader, status)"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = var.api_port
  to_port                      = var.api_port
}

resource "aws_vpc_security_group_ingress_rule" "api_from_agent_cidrs" {
  for_each          = toset(var.agent_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "gRPC API from agents"
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
}

resource "aws_vpc_security_group_ingress_rule" "api_from_agent_sgs" {
  for_each                     = toset(var.agent_security_group_ids)
  security_group_id            = aws_security_group.node.id
  description                  = "gRPC API from agents"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.api_port
  to_port                      = var.api_port
}

resource "aws_vpc_security_group_ingress_rule" "tde_from_agent_cidrs" {
  for_each          = var.tde_gateway_enabled ? toset(var.agent_cidrs) : toset([])
  security_group_id = aws_security_group.node.id
  description       = "TDE gateway from agents"
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
  ip_protocol       = "tcp"
  from_port         = var.tde_gateway_port
  to_port           = var.tde_gateway_port
}

resource "aws_vpc_security_group_ingress_rule" "tde_from_agent_sgs" {
  for_each                     = var.tde_gateway_enabled ? toset(var.agent_security_group_ids) : toset([])
  security_group_id            = aws_security_group.node.id
  description                  = "TDE gateway from agents"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.tde_gateway_port
  to_port                      = var.tde_gateway_port
}

resource "aws_vpc_security_group_egress_rule" "to_peers" {
  for_each                     = toset([tostring(var.api_port), tostring(var.raft_port)])
  security_group_id            = aws_security_group.node.id
  description                  = "API and Raft to the other nodes"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(var.https_egress_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "HTTPS to the AWS APIs and the package index"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# --- nodes ---------------------------------------------------------------------------------

resource "aws_instance" "node" {
  for_each                    = { for n in local.nodes : n.id => n }
  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = data.aws_subnet.node[each.value.zone].id
  vpc_security_group_ids      = [aws_security_group.node.id]
  iam_instance_profile        = aws_iam_instance_profile.node[each.key].name
  associate_public_ip_address = false
  user_data                   = local.user_data[each.key]
  user_data_replace_on_change = false
  monitoring                  = true
  ebs_optimized               = true
  disable_api_termination     = var.termination_protection

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    encrypted             = true
    kms_key_id            = aws_kms_key.keymgr.arn
    volume_type           = "gp3"
    volume_size           = var.root_volume_gb
    delete_on_termination = true
  }

  tags = merge(local.tags, { Name = "${var.name}-${each.key}", "keymgr:node" = each.key })

  lifecycle {
    ignore_changes = [ami]

    precondition {
      condition     = data.aws_subnet.node[each.value.zone].availability_zone == each.value.zone
      error_message = "private_subnet_ids[\"${each.value.zone}\"] is not in zone ${each.value.zone}."
    }
    precondition {
      condition     = !data.aws_subnet.node[each.value.zone].map_public_ip_on_launch
      error_message = "private_subnet_ids[\"${each.value.zone}\"] assigns public IPs: nodes go in private subnets only."
    }
    precondition {
      condition     = data.aws_subnet.node[each.value.zone].vpc_id == var.vpc_id
      error_message = "private_subnet_ids[\"${each.value.zone}\"] is not in vpc_id."
    }
  }
}

resource "aws_ebs_volume" "data" {
  for_each          = { for n in local.nodes : n.id => n }
  availability_zone = each.value.zone
  size              = var.data_volume_gb
  type              = "gp3"
  encrypted         = true
  kms_key_id        = aws_kms_key.keymgr.arn
  tags              = merge(local.tags, { Name = "${var.name}-${each.key}-data" })
}

resource "aws_volume_attachment" "data" {
  for_each    = aws_instance.node
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[each.key].id
  instance_id = each.value.id
}

# --- DNS: node1.<dns_domain> ... in a private zone of the VPC -----------------------------

resource "aws_route53_zone" "nodes" {
  #checkov:skip=CKV2_AWS_38: DNSSEC signing is not supported for private hosted zones
  #checkov:skip=CKV2_AWS_39: query logging is for public zones; private zone queries are in the VPC Resolver query logs, which the account configures
  name          = var.dns_domain
  comment       = "${var.name}: keymgr nodes"
  force_destroy = false

  vpc {
    vpc_id = var.vpc_id
  }

  tags = local.tags
}

resource "aws_route53_record" "node" {
  for_each = aws_instance.node
  zone_id  = aws_route53_zone.nodes.zone_id
  name     = "${each.key}.${var.dns_domain}"
  type     = "A"
  ttl      = 60
  records  = [each.value.private_ip]
}

# --- optional CloudHSM: one HSM per zone, reachable from the nodes only ---------------------

resource "aws_cloudhsm_v2_cluster" "seal" {
  count      = var.cloudhsm_enabled ? 1 : 0
  hsm_type   = "hsm1.medium"
  subnet_ids = [for z in var.zones : var.private_subnet_ids[z]]
  tags       = merge(local.tags, { Name = "${var.name}-seal" })
}

resource "aws_cloudhsm_v2_hsm" "seal" {
  for_each          = var.cloudhsm_enabled ? toset(var.zones) : toset([])
  cluster_id        = aws_cloudhsm_v2_cluster.seal[0].cluster_id
  availability_zone = each.value
}

resource "aws_vpc_security_group_ingress_rule" "hsm_from_nodes" {
  count                        = var.cloudhsm_enabled ? 1 : 0
  security_group_id            = aws_cloudhsm_v2_cluster.seal[0].security_group_id
  description                  = "CloudHSM client ports from the keymgr nodes only"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = 2223
  to_port                      = 2225
}

resource "aws_vpc_security_group_egress_rule" "to_hsm" {
  count                        = var.cloudhsm_enabled ? 1 : 0
  security_group_id            = aws_security_group.node.id
  description                  = "CloudHSM client ports"
  referenced_security_group_id = aws_cloudhsm_v2_cluster.seal[0].security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 2223
  to_port                      = 2225
}
