"""Client-side agents: the volume agent (cryptsetup), the MariaDB TDE gateway, the
Kubernetes KMS v2 plugin. Each talks to the cluster through `keymgr.client`."""
