import { spawnSync } from 'node:child_process';

/** Build the dashboard once per run; the queen serves `out/renderer` at /ui/. */
export default function globalSetup(): void {
  if (process.env.RBEE_E2E_SKIP_BUILD === '1') return;
  const result = spawnSync('npm', ['run', '--silent', 'build:ui'], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build:ui failed (exit ${result.status ?? result.signal})`);
}
