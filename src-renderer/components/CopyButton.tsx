import { useState } from 'react';

/** A copy-to-clipboard button that says, in a live region, whether it worked. */
/** `text`: the string, or a function that fetches it when clicked (a secret is not held in the page until then). */
export function CopyButton({ text, label, done = 'Copied.' }: { text: string | (() => Promise<string> | string); label: string; done?: string }) {
  const [message, setMessage] = useState('');
  return (
    <>
      <button
        type="button"
        onClick={() => {
          void (async () => {
            try {
              await navigator.clipboard.writeText(typeof text === 'string' ? text : await text());
              setMessage(done);
            } catch (error) {
              setMessage(`Copy failed: ${error instanceof Error ? error.message : 'clipboard not available'}.`);
            }
          })();
        }}
      >
        {label}
      </button>
      <span role="status" className="sub">
        {message}
      </span>
    </>
  );
}
