"""The HTTPS gateway (`keymgr gateway`): the Vault/OpenBao HTTP API that existing tools
speak, served from the cluster.

Two parts share one listener:

- **KV v2** secrets mounts (`/v1/<mount>/data|metadata|delete|undelete|destroy/<path>`,
  `/v1/<mount>/config`, and the few `sys/` and `auth/token/` endpoints hvac and the
  `bao`/`vault` CLI call on their way). A caller is a keymgr token (`X-Vault-Token:
  kmt_...`) or the client certificate of its TLS connection; each request is made on
  the cluster *as that caller* (`SecretsClient.with_token` /
  `with_forwarded_certificate`), so the cluster's policies and audit log see who asked.
  The gateway holds no secret and decides no access itself.
- **MariaDB TDE** (`hashicorp_key_management`): the mount named in `tde:` keeps today's
  behaviour (`keymgr.gateway.tde`).

Modules, each one concern: `config` (YAML), `paths` (the request target, checked before
anything else), `replies` (KV v2 response shapes), `bodies` (JSON bodies), `callers`
(who is asking), `cluster` (calls with a failover deadline), `kv2` and `sysapi` (the
handlers), `tde`, `tls` (a server context that follows its certificate files),
`server` (routing and the bounded listener).
"""
