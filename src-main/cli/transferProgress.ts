import { parseClusterEvent, type DownloadProgress } from '../../src-shared/cluster/ClusterEvent.js';
import { SseParser } from '../../src-shared/util/SseParser.js';

/**
 * The `download_progress` events of one transfer (a hive's download, or an upload to a remote hive)
 * read from an open `/v1/control/events` response, until and including the one that ends it (`done`
 * or `failed`). Open the stream before starting the transfer, so no event can pass unseen. Throws if
 * the stream closes first.
 */
export async function* transferProgress(events: Response, transferId: string): AsyncGenerator<DownloadProgress> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  for await (const chunk of events.body as unknown as AsyncIterable<Uint8Array>) {
    for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
      const event = parseClusterEvent(message.data);
      if (event?.type !== 'download_progress' || event.progress.download_id !== transferId) continue;
      yield event.progress;
      if (event.progress.state !== 'running') return;
    }
  }
  throw new Error('the queen closed its event stream before the transfer ended');
}
