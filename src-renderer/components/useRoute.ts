import { useEffect, useState } from 'react';

export const ROUTES = ['cluster', 'workers', 'pools', 'audit', 'models', 'playground', 'settings', 'quick'] as const;
export type Route = (typeof ROUTES)[number];

/** `#/workers` → 'workers'; anything unknown → 'cluster'. */
export function parseRoute(hash: string): Route {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'cluster';
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onHash = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return route;
}
