import { useEffect, useRef } from 'react';
import { AuditDegradedBanner, ConnectionStatus, DisconnectedBanner } from './components/ConnectionBanner.js';
import { Toasts } from './components/Toasts.js';
import { LoadingState } from './components/states.js';
import { useRoute, type Route } from './components/useRoute.js';
import { logout } from './session.js';
import { useRbee } from './stores/store.js';
import { AuditView } from './views/AuditView.js';
import { ClusterView } from './views/ClusterView.js';
import { LoginView } from './views/LoginView.js';
import { ModelsView } from './views/ModelsView.js';
import { PlaygroundView } from './views/PlaygroundView.js';
import { PoolsView } from './views/PoolsView.js';
import { QuickView } from './views/QuickView.js';
import { SettingsView } from './views/SettingsView.js';
import { WorkersView } from './views/WorkersView.js';

const NAV: ReadonlyArray<{ route: Exclude<Route, 'quick'>; label: string }> = [
  { route: 'cluster', label: 'Cluster' },
  { route: 'workers', label: 'Workers' },
  { route: 'pools', label: 'Pools' },
  { route: 'audit', label: 'Audit' },
  { route: 'models', label: 'Models' },
  { route: 'playground', label: 'Playground' },
  { route: 'settings', label: 'Settings' },
];

function View({ route }: { route: Route }) {
  switch (route) {
    case 'workers':
      return <WorkersView />;
    case 'pools':
      return <PoolsView />;
    case 'audit':
      return <AuditView />;
    case 'models':
      return <ModelsView />;
    case 'playground':
      return <PlaygroundView />;
    case 'settings':
      return <SettingsView />;
    default:
      return <ClusterView />;
  }
}

function Shell({ route }: { route: Route }) {
  const bridge = useRbee((s) => s.connection.bridge);
  const fingerprint = useRbee((s) => s.connection.tokenFingerprint);
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    // Move focus to the new view's heading on navigation (not on first load).
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
    document.title = `${NAV.find((n) => n.route === route)?.label ?? 'Cluster'} · rbee`;
  }, [route]);
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => (e.preventDefault(), mainRef.current?.focus())}>
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">
          <img src="./favicon.svg" alt="" width="20" height="20" /> rbee
        </span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.route}>
                <a href={`#/${n.route}`} aria-current={route === n.route ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <ConnectionStatus />
          {bridge === 'http' ? (
            <button type="button" className="small" onClick={logout} title={fingerprint ? `Signed in with ${fingerprint}` : undefined}>
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      <DisconnectedBanner />
      <AuditDegradedBanner />
      <main id="main" ref={mainRef} tabIndex={-1}>
        <View route={route} />
      </main>
      <Toasts />
    </>
  );
}

export function App() {
  const auth = useRbee((s) => s.connection.auth);
  const bridge = useRbee((s) => s.connection.bridge);
  const route = useRoute();
  // Once the login form was shown, it stays up while a submitted token is checked.
  const loginShown = useRef(false);
  if (auth === 'needed' || auth === 'refused') loginShown.current = true;
  if (bridge === 'http' && auth !== 'ok') {
    if (auth === 'checking' && !loginShown.current) return <LoadingState label="Connecting to the queen…" />;
    return <LoginView />;
  }
  if (route === 'quick') return <QuickView />;
  return <Shell route={route} />;
}
