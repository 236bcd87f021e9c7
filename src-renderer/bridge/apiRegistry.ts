import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import type { BridgeKind } from './selectBridge.js';

/** The one ControlApi the store's actions call; installed at startup (or by a test). */
let current: { api: ControlApi; kind: BridgeKind } | null = null;

export function installApi(api: ControlApi, kind: BridgeKind): void {
  current = { api, kind };
}

export function getApi(): ControlApi {
  if (!current) throw new Error('ControlApi not installed');
  return current.api;
}

export function bridgeKind(): BridgeKind | null {
  return current?.kind ?? null;
}
