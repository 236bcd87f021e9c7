import type { ClusterEvent, ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';

/** Main's own copy of the cluster view (the tray needs it): a pure reducer, like the dashboard's. */
export function applyClusterEvent(snapshot: ClusterSnapshot | null, event: ClusterEvent): ClusterSnapshot | null {
  if (event.type === 'snapshot') return event.snapshot;
  if (!snapshot) return snapshot;
  switch (event.type) {
    case 'hive_updated': {
      const others = snapshot.hives.filter((h) => h.id !== event.hive.id);
      return { ...snapshot, hives: [...others, event.hive] };
    }
    case 'hive_removed':
      return {
        ...snapshot,
        hives: snapshot.hives.filter((h) => h.id !== event.hive_id),
        workers: snapshot.workers.filter((w) => w.hive !== event.hive_id),
        models: snapshot.models.filter((m) => m.hive !== event.hive_id),
      };
    case 'worker_updated': {
      const others = snapshot.workers.filter((w) => !(w.id === event.worker.id && w.hive === event.worker.hive));
      return { ...snapshot, workers: [...others, event.worker] };
    }
    case 'worker_removed':
      return { ...snapshot, workers: snapshot.workers.filter((w) => !(w.id === event.worker_id && w.hive === event.hive_id)) };
    case 'models_updated':
      return { ...snapshot, models: [...snapshot.models.filter((m) => m.hive !== event.hive_id), ...event.models] };
    default:
      return snapshot;
  }
}
