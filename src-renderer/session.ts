import { ApiError } from '../src-shared/api/ApiError.js';
import type { ControlApi } from '../src-shared/control/ControlApi.js';
import { getApi, installApi } from './bridge/apiRegistry.js';
import { selectBridge } from './bridge/selectBridge.js';
import { clearToken, readToken, tokenFingerprint, writeToken } from './bridge/tokenStore.js';
import { errorMessage } from './stores/errors.js';
import { dispatchClusterEvent, useRbee } from './stores/store.js';

/** Startup and login: picks the bridge, checks the token, runs the one event stream. */
let unsubscribe: (() => void) | null = null;

function stopStream(): void {
  unsubscribe?.();
  unsubscribe = null;
}

function startStream(api: ControlApi): void {
  stopStream();
  unsubscribe = api.subscribe(dispatchClusterEvent, (state) => {
    const before = useRbee.getState().connection;
    useRbee.getState().setConnectionState(state);
    // Back after a drop: the snapshot resynced the cluster; resync the audit page as well.
    if (state === 'open' && before.downSince !== null && useRbee.getState().audit.status !== 'idle') {
      void useRbee.getState().loadAudit();
    }
  });
}

function onUnauthorized(error: ApiError): void {
  stopStream();
  clearToken();
  useRbee.getState().setTokenFingerprint(null);
  useRbee.getState().setAuth('refused', error.message);
}

export function boot(win: Window): void {
  const { kind, api } = selectBridge(win, { getToken: readToken, onUnauthorized });
  installApi(api, kind);
  const store = useRbee.getState();
  store.setBridge(kind);
  if (kind === 'ipc') {
    store.setAuth('ok');
    startStream(api);
    return;
  }
  const token = readToken();
  if (token) void login(token);
  else store.setAuth('needed');
}

/** Web mode: keep the token for this tab only, prove it with a snapshot, then stream. */
export async function login(token: string): Promise<boolean> {
  const store = useRbee.getState();
  store.setAuth('checking');
  writeToken(token);
  try {
    const snapshot = await getApi().getSnapshot();
    dispatchClusterEvent({ type: 'snapshot', snapshot, seq: -1, at: Date.now() });
    store.setTokenFingerprint(await tokenFingerprint(token).catch(() => null));
    store.setAuth('ok');
    startStream(getApi());
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      clearToken();
      store.setAuth('refused', 'The queen refused this token.');
    } else {
      store.setAuth('needed', errorMessage(error));
    }
    return false;
  }
}

export function logout(): void {
  stopStream();
  clearToken();
  const store = useRbee.getState();
  store.setTokenFingerprint(null);
  store.setAuth('needed');
}
