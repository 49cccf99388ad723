"""The security invariants of the Terraform modules, as checks that return violations.

Each check reads a module directory (python-hcl2) and returns human-readable violations;
an empty list means the invariant holds. They are functions of a directory so that a
test can copy a module, break it, and show the check catches it.

Invariants (docs/deploy.md explains why):
- node_count is validated to 3 or 5 and zones to >= 3 distinct zones;
- every variable has a description; every variable that is not a bool or a tag map
  has a validation (all of them shape what is exposed or where nodes go);
- no allow rule admits 0.0.0.0/0, ::/0, "*", "Internet" or "Any"; a CIDR that comes
  from a variable comes from one whose validation refuses short prefixes;
- the Raft port is admitted only from the nodes' own peer group;
- no public IP; every disk encrypted with the module's customer-managed key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.deploy import hcl

Module = dict[str, list[Any]]
WORLD = {"0.0.0.0/0", "::/0", "*", "internet", "any", "0.0.0.0"}
CIDR_GUARD = 'split("/", c)[1]) >= 8'  # the prefix-length check in the CIDR validations
NO_VALIDATION_NEEDED = {"tags", "labels"}
PEER_GROUP = {
    "aws": "${aws_security_group.node.id}",
    "gcp": "${values(local.node_sa)}",
    "azure": "${azurerm_application_security_group.node.id}",
}


def _defaults(module: Module) -> dict[str, Any]:
    return {name: body.get("default") for name, body in hcl.variables(module).items()}


def _number(expr: object, module: Module) -> int | None:
    """A port expression as a number: a literal, tostring(var.x) or var.x (its default)."""
    if isinstance(expr, int):
        return expr
    text = str(expr)
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    match = re.fullmatch(r"\$\{(?:tostring\()?var\.(\w+)\)?\}", text)
    if match:
        value = _defaults(module).get(match.group(1))
        return value if isinstance(value, int) else None
    return None


def _ports(body: dict[str, Any], module: Module, keys: tuple[str, ...]) -> list[str]:
    """Every port expression of a rule, as written (may be ranges or '*')."""
    found: list[str] = []
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        found.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return found


def _covers(port_exprs: list[str], port: int, module: Module) -> bool:
    for expr in port_exprs:
        if expr in ("*", "-1", "all"):
            return True
        if "?" in expr:  # a conditional list: check every port it names
            if any(
                _number(f"${{var.{v}}}", module) == port for v in re.findall(r"var\.(\w+)", expr)
            ):
                return True
            continue
        if re.fullmatch(r"[0-9]+-[0-9]+", expr):
            low, high = (int(x) for x in expr.split("-"))
            if low <= port <= high:
                return True
            continue
        if _number(expr, module) == port:
            return True
    return False


def _aws_rule_ports(body: dict[str, Any], module: Module) -> list[str]:
    if str(body.get("ip_protocol")) == "-1":
        return ["*"]
    low, high = _number(body.get("from_port"), module), _number(body.get("to_port"), module)
    if low is None or high is None:
        return [str(body.get("from_port"))]
    return [f"{low}-{high}"]


def _sources(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _check_source(where: str, sources: list[str], module: Module, for_each: object) -> list[str]:
    """World-open literals are violations; variable-fed sources need a guarded variable."""
    problems: list[str] = []
    variables = hcl.variables(module)
    for source in sources:
        if source.strip().lower() in WORLD:
            problems.append(f"{where}: ingress from {source}")
            continue
        referenced = re.findall(r"var\.(\w+)", source)
        if "each.value" in source:
            referenced += re.findall(r"var\.(\w+)", str(for_each))
        for name in referenced:
            if "cidr" not in name:
                continue  # security group / account / ASG ids cannot be the internet
            conditions = " ".join(
                str(v.get("condition")) for v in hcl.blocks(variables.get(name, {}), "validation")
            )
            if CIDR_GUARD not in conditions:
                problems.append(
                    f"{where}: ingress from var.{name}, which is not validated to refuse 0.0.0.0/0"
                )
    return problems


# --- the checks ----------------------------------------------------------------------------


def check_variables(module: Module) -> list[str]:
    problems: list[str] = []
    variables = hcl.variables(module)
    for name, body in variables.items():
        if not str(body.get("description", "")).strip():
            problems.append(f"variable {name}: no description")
        kind = str(body.get("type", ""))
        if (
            name not in NO_VALIDATION_NEEDED
            and kind not in ("bool", "${bool}")
            and not hcl.blocks(body, "validation")
        ) or (body.get("sensitive") is True and not hcl.blocks(body, "validation")):
            problems.append(f"variable {name}: no validation block")
    conditions = {
        name: " ".join(str(v.get("condition")) for v in hcl.blocks(body, "validation"))
        for name, body in variables.items()
    }
    if "contains([3, 5], var.node_count)" not in conditions.get("node_count", ""):
        problems.append("variable node_count: not validated to 3 or 5")
    zones = conditions.get("zones", "")
    if "length(distinct(var.zones)) == length(var.zones)" not in zones or (
        "length(var.zones) >= 3" not in zones
    ):
        problems.append("variable zones: not validated to >= 3 distinct zones")
    return problems


def check_ingress(module: Module) -> list[str]:
    problems: list[str] = []
    for rtype, name, body in hcl.resources(module):
        where = f"{rtype}.{name}"
        if rtype == "aws_vpc_security_group_ingress_rule":
            for key in ("cidr_ipv4", "cidr_ipv6"):
                problems += _check_source(
                    where, _sources(body.get(key)), module, body.get("for_each")
                )
        elif rtype == "aws_security_group":
            if body.get("ingress"):
                problems.append(f"{where}: inline ingress (use ingress rule resources)")
        elif rtype == "aws_security_group_rule" and body.get("type") == "ingress":
            problems += _check_source(
                where, _sources(body.get("cidr_blocks")), module, body.get("for_each")
            )
        elif rtype == "google_compute_firewall":
            if str(body.get("direction", "INGRESS")) == "INGRESS" and hcl.blocks(body, "allow"):
                problems += _check_source(
                    where, _sources(body.get("source_ranges")), module, body.get("for_each")
                )
        elif rtype == "azurerm_network_security_rule":
            if body.get("direction") == "Inbound" and body.get("access") == "Allow":
                sources = _sources(body.get("source_address_prefix")) + _sources(
                    body.get("source_address_prefixes")
                )
                problems += _check_source(where, sources, module, body.get("for_each"))
        elif rtype == "azurerm_network_security_group" and body.get("security_rule"):
            problems.append(f"{where}: inline security_rule (use rule resources)")
    return problems


def check_raft_peers_only(module: Module, cloud: str) -> list[str]:
    raft_port = _defaults(module).get("raft_port")
    if not isinstance(raft_port, int):
        return ["variable raft_port: no numeric default"]
    peer = PEER_GROUP[cloud]
    problems: list[str] = []
    allowed = 0
    for rtype, name, body in hcl.resources(module):
        where = f"{rtype}.{name}"
        if rtype == "aws_vpc_security_group_ingress_rule":
            if str(body.get("security_group_id")) != peer:
                continue  # a rule on another group (e.g. the HSM's) is not the nodes' ingress
            if not _covers(_aws_rule_ports(body, module), raft_port, module):
                continue
            ok = (
                body.get("referenced_security_group_id") == peer
                and not body.get("cidr_ipv4")
                and not body.get("cidr_ipv6")
                and not body.get("prefix_list_id")
            )
        elif rtype == "google_compute_firewall":
            rules = hcl.blocks(body, "allow")
            if str(body.get("direction", "INGRESS")) != "INGRESS" or not rules:
                continue
            ports = [p for r in rules for p in (_sources(r.get("ports")) or ["*"])]
            if not _covers(ports, raft_port, module):
                continue
            ok = (
                body.get("source_service_accounts") == peer
                and body.get("target_service_accounts") == peer
                and not body.get("source_ranges")
                and not body.get("source_tags")
            )
        elif rtype == "azurerm_network_security_rule":
            if body.get("direction") != "Inbound" or body.get("access") != "Allow":
                continue
            ports = _ports(body, module, ("destination_port_range", "destination_port_ranges"))
            if not _covers(ports, raft_port, module):
                continue
            ok = (
                body.get("source_application_security_group_ids") == [peer]
                and not body.get("source_address_prefix")
                and not body.get("source_address_prefixes")
            )
        else:
            continue
        allowed += 1
        if not ok:
            problems.append(
                f"{where}: admits the Raft port ({raft_port}) from outside the node peer group"
            )
    if allowed == 0:
        problems.append("no rule admits the Raft port from the peer group")
    return problems


def check_no_public_ip(module: Module) -> list[str]:
    problems: list[str] = []
    for rtype, name, body in hcl.resources(module):
        where = f"{rtype}.{name}"
        if rtype in ("aws_eip", "azurerm_public_ip", "google_compute_address"):
            problems.append(f"{where}: public address resource")
        if rtype == "aws_instance" and body.get("associate_public_ip_address") is not False:
            problems.append(f"{where}: associate_public_ip_address is not false")
        if rtype == "google_compute_instance":
            for nic in hcl.blocks(body, "network_interface"):
                if "access_config" in nic or "ipv6_access_config" in nic:
                    problems.append(f"{where}: network_interface has an access_config")
        if rtype == "azurerm_network_interface":
            for ip in hcl.blocks(body, "ip_configuration"):
                if ip.get("public_ip_address_id"):
                    problems.append(f"{where}: public_ip_address_id set")
    return problems


def check_disks_encrypted(module: Module) -> list[str]:
    problems: list[str] = []
    disks = 0

    def need(where: str, ok: bool) -> None:
        nonlocal disks
        disks += 1
        if not ok:
            problems.append(f"{where}: not encrypted with the module's key")

    for rtype, name, body in hcl.resources(module):
        where = f"{rtype}.{name}"
        if rtype == "aws_instance":
            for root in hcl.blocks(body, "root_block_device") or [{}]:
                need(
                    where + ".root_block_device",
                    root.get("encrypted") is True and bool(root.get("kms_key_id")),
                )
            if body.get("ebs_block_device"):
                problems.append(f"{where}: inline ebs_block_device (use aws_ebs_volume)")
        elif rtype == "aws_ebs_volume":
            need(where, body.get("encrypted") is True and bool(body.get("kms_key_id")))
        elif rtype == "google_compute_instance":
            for boot in hcl.blocks(body, "boot_disk") or [{}]:
                need(where + ".boot_disk", bool(boot.get("kms_key_self_link")))
            for attached in hcl.blocks(body, "attached_disk"):
                need(where + ".attached_disk", bool(attached.get("kms_key_self_link")))
        elif rtype == "google_compute_disk":
            keys = hcl.blocks(body, "disk_encryption_key")
            need(where, bool(keys) and bool(keys[0].get("kms_key_self_link")))
        elif rtype == "azurerm_linux_virtual_machine":
            for disk in hcl.blocks(body, "os_disk") or [{}]:
                need(where + ".os_disk", bool(disk.get("disk_encryption_set_id")))
        elif rtype == "azurerm_managed_disk":
            need(where, bool(body.get("disk_encryption_set_id")))
    if disks == 0:
        problems.append("no disk found")
    return problems


def check_module(directory: Path, cloud: str) -> list[str]:
    module = hcl.load_dir(directory)
    checks: list[Callable[[], list[str]]] = [
        lambda: check_variables(module),
        lambda: check_ingress(module),
        lambda: check_raft_peers_only(module, cloud),
        lambda: check_no_public_ip(module),
        lambda: check_disks_encrypted(module),
    ]
    return [problem for check in checks for problem in check()]
