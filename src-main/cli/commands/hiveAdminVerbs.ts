/**
 * `rbee hive <verb>` manages remote hives through a running queen; plain `rbee hive --…` is the daemon.
 * Apart from hiveAdminCli so that the daemon does not load the admin CLI (its queen client and the
 * control API's schemas) just to read this list.
 */
export const HIVE_ADMIN_VERBS = ['add', 'trust', 'list', 'status', 'remove'] as const;
