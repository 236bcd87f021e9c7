import { create } from 'zustand';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import { createAuditSlice, type AuditSlice } from './auditSlice.js';
import { createClusterSlice, type ClusterSlice } from './clusterSlice.js';
import { createConnectionSlice, type ConnectionSlice } from './connectionSlice.js';
import { createPlaygroundSlice, type PlaygroundSlice } from './playgroundSlice.js';
import { createNoticesSlice, type NoticesSlice } from './noticesSlice.js';
import { createSettingsSlice, type SettingsSlice } from './settingsSlice.js';

export type RbeeState = ClusterSlice & AuditSlice & ConnectionSlice & PlaygroundSlice & SettingsSlice & NoticesSlice;

/** The dashboard's one store (zustand slices pattern); tests reset it with `getInitialState()`. */
export const useRbee = create<RbeeState>()((...a) => ({
  ...createClusterSlice(...a),
  ...createAuditSlice(...a),
  ...createConnectionSlice(...a),
  ...createPlaygroundSlice(...a),
  ...createSettingsSlice(...a),
  ...createNoticesSlice(...a),
}));

/** Where the bridge delivers the state stream: cluster reducer, plus the audit tail. */
export function dispatchClusterEvent(event: ClusterEvent): void {
  const state = useRbee.getState();
  state.applyClusterEvent(event);
  if (event.type === 'audit') state.applyAuditRecord(event.record);
  state.applyNoticeEvent(event);
}
