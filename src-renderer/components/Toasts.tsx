import { bridgeKind } from '../bridge/apiRegistry.js';
import { useRbee } from '../stores/store.js';

/**
 * Notices in the web dashboard (breaker opened, worker failed, hive unreachable), polite live region,
 * each dismissible. The desktop app shows native notifications instead, so none here over IPC.
 */
export function Toasts() {
  const toasts = useRbee((s) => s.toasts);
  const dismiss = useRbee((s) => s.dismissToast);
  if (bridgeKind() === 'ipc') return null;
  return (
    <div className="toasts" role="status" aria-live="polite" aria-label="Notices">
      {toasts.map((t) => (
        <div key={t.id} className="toast" data-testid="toast">
          <p className="toast-title">{t.title}</p>
          <p className="toast-body">{t.body}</p>
          <button type="button" className="small" onClick={() => dismiss(t.id)} aria-label={`Dismiss: ${t.title}`}>
            Dismiss
          </button>
        </div>
      ))}
    </div>
  );
}
