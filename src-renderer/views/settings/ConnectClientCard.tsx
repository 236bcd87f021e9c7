import { useState } from 'react';
import type { Settings } from '../../../src-shared/control/ControlApi.js';
import { CopyButton } from '../../components/CopyButton.js';
import { clientSnippets, queenOrigin } from '../../lib/clientSnippets.js';
import { useRbee } from '../../stores/store.js';

const TABS = [
  { id: 'curl', label: 'curl' },
  { id: 'python', label: 'Python' },
  { id: 'javascript', label: 'JavaScript' },
] as const;

/** "Connect a client": the OpenAI-compatible base URL and snippets for curl, Python and JS. */
export function ConnectClientCard({ settings }: { settings: Settings }) {
  const bridge = useRbee((s) => s.connection.bridge);
  const model = useRbee((s) => s.cluster.models[0]?.name) ?? 'rbee-demo-tiny.gguf';
  const [tab, setTab] = useState<(typeof TABS)[number]['id']>('curl');
  const origin = queenOrigin(bridge, settings.queen_port, typeof location === 'undefined' ? null : location.origin);
  const snippets = clientSnippets(origin, model);
  return (
    <div className="card" data-testid="connect-client">
      <h2>Connect a client</h2>
      <p className="sub">
        Any OpenAI-compatible client works. Use the admin token above, or better an <strong>inference</strong> key created below, as
        the API key: the snippets read it from <code>RBEE_TOKEN</code>.
      </p>
      <dl className="kv">
        <dt>Base URL</dt>
        <dd>
          <code data-testid="base-url">{snippets.baseUrl}</code> <CopyButton text={snippets.baseUrl} label="Copy URL" />
        </dd>
      </dl>
      <div role="tablist" aria-label="Client snippets" className="form-actions">
        {TABS.map((t) => (
          <button key={t.id} type="button" role="tab" id={`snippet-tab-${t.id}`} aria-selected={tab === t.id} aria-controls="snippet-panel" onClick={() => setTab(t.id)}>
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="snippet-panel" aria-labelledby={`snippet-tab-${tab}`}>
        <pre className="secret snippet">
          <code data-testid={`snippet-${tab}`}>{snippets[tab]}</code>
        </pre>
        <CopyButton text={snippets[tab]} label="Copy snippet" />
      </div>
    </div>
  );
}
