import type { RunId } from '../stores/playgroundSlice.js';
import { useRbee } from '../stores/store.js';

/**
 * The conversation so far: settled turns, then the user message of the exchange on screen (its
 * answer streams in the view's answer box below). Not a live region: the finished-run status says
 * when an answer is complete.
 */
export function ChatTranscript({ run: id }: { run: RunId }) {
  const history = useRbee((s) => s.chats[id]);
  const userPrompt = useRbee((s) => s.runs[id].userPrompt);
  const dropped = useRbee((s) => s.runs[id].dropped);
  if (history.length === 0 && !userPrompt) return null;
  return (
    <div className="chat-transcript">
      <h2 className="small-h">Conversation</h2>
      {dropped > 0 ? <p className="sub">{dropped} earlier turns were not sent: they do not fit in the model's context.</p> : null}
      <ol className="chat-log" data-testid="chat-log">
        {history.map((turn, i) => (
          <li key={i} className={`turn turn-${turn.role}`} data-role={turn.role}>
            <span className="turn-role">{turn.role === 'user' ? 'You' : 'Assistant'}</span>
            <div className="turn-text">{turn.content || <span className="sub">(empty answer)</span>}</div>
            {turn.role === 'assistant' ? (
              <span className="sub turn-meta">
                {[turn.worker, turn.tokens !== undefined ? `${turn.tokens} tokens` : null, turn.stop_reason].filter(Boolean).join(' · ')}
              </span>
            ) : null}
          </li>
        ))}
        {userPrompt ? (
          <li className="turn turn-user" data-role="user" data-testid="current-user">
            <span className="turn-role">You</span>
            <div className="turn-text">{userPrompt}</div>
          </li>
        ) : null}
      </ol>
    </div>
  );
}
