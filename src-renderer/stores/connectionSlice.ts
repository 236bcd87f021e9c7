import type { StateCreator } from 'zustand';
import type { ConnectionState } from '../../src-shared/control/ControlApi.js';
import type { RbeeState } from './store.js';

export type AuthState = 'checking' | 'needed' | 'refused' | 'ok';

export interface ConnectionData {
  bridge: 'ipc' | 'http' | null;
  auth: AuthState;
  authError: string | null;
  state: ConnectionState;
  /** Epoch ms when the stream last went down; null while open. */
  downSince: number | null;
  /** How many times the stream came back after a drop. */
  reconnects: number;
  /** Fingerprint of the token used in web mode (never the token itself). */
  tokenFingerprint: string | null;
}

export interface ConnectionSlice {
  connection: ConnectionData;
  setConnectionState: (state: ConnectionState) => void;
  setAuth: (auth: AuthState, error?: string | null) => void;
  setBridge: (bridge: 'ipc' | 'http') => void;
  setTokenFingerprint: (fp: string | null) => void;
}

export const initialConnectionData: ConnectionData = {
  bridge: null,
  auth: 'checking',
  authError: null,
  state: 'connecting',
  downSince: null,
  reconnects: 0,
  tokenFingerprint: null,
};

/** Pure: track when the stream went down and count recoveries. */
export function reduceConnection(data: ConnectionData, state: ConnectionState, now: number): ConnectionData {
  if (state === data.state) return data;
  if (state === 'open') {
    return { ...data, state, downSince: null, reconnects: data.downSince !== null ? data.reconnects + 1 : data.reconnects };
  }
  if (state === 'reconnecting' || state === 'closed') return { ...data, state, downSince: data.downSince ?? now };
  return { ...data, state };
}

export const createConnectionSlice: StateCreator<RbeeState, [], [], ConnectionSlice> = (set) => ({
  connection: initialConnectionData,
  setConnectionState: (state) => set((s) => ({ connection: reduceConnection(s.connection, state, Date.now()) })),
  setAuth: (auth, error = null) => set((s) => ({ connection: { ...s.connection, auth, authError: error } })),
  setBridge: (bridge) => set((s) => ({ connection: { ...s.connection, bridge } })),
  setTokenFingerprint: (tokenFingerprint) => set((s) => ({ connection: { ...s.connection, tokenFingerprint } })),
});
