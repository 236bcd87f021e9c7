import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import { CONTROL_REQUEST_METHODS, requestChannel, StreamChannels, type IpcResult } from '../../src-main/electron/ipc/controlChannels.js';
import { registerControlIpc, UntrustedSenderError } from '../../src-main/electron/ipc/registerControlIpc.js';
import { isTrustedSender } from '../../src-main/electron/ipc/senderPolicy.js';
import { fakeControl, fakeIpcMain, fakeSender } from './fakes.js';

const OWN_IDS = new Set([1, 2]);

function setup() {
  const ipc = fakeIpcMain();
  const fake = fakeControl();
  const registration = registerControlIpc({
    ipcMain: ipc.ipcMain,
    control: () => fake.control,
    senderPolicy: { origins: ['app://rbee'], isOwnWebContents: (id) => OWN_IDS.has(id) },
  });
  return { ipc, fake, registration, dashboard: fakeSender(1) };
}

describe('control IPC: one validated channel per ControlApi method', () => {
  it('covers every request method of ControlApi, plus the stream channels', () => {
    const { ipc } = setup();
    const all: Array<keyof ControlApi> = [...CONTROL_REQUEST_METHODS, 'subscribe', 'infer'];
    expect(new Set(all).size).toBe(Object.keys(fakeControl().control).length);
    for (const m of CONTROL_REQUEST_METHODS) expect(ipc.handlers.has(requestChannel(m))).toBe(true);
    for (const c of Object.values(StreamChannels).filter((c) => !c.endsWith('-event'))) expect(ipc.handlers.has(c)).toBe(true);
  });

  it('calls the ControlApi with the validated arguments and returns its result', async () => {
    const { ipc, fake, dashboard } = setup();
    const spawn = { hive_id: 'local', model: 'rbee-demo-tiny.gguf', slots: 2, threads: 1 };
    const reply = (await ipc.invoke(dashboard, 'rbee:spawnWorker', spawn)) as IpcResult<{ id: string }>;
    expect(reply).toMatchObject({ ok: true, value: { id: 'w2', state: 'loading' } });
    expect(fake.control.spawnWorker).toHaveBeenCalledWith(spawn);

    await ipc.invoke(dashboard, 'rbee:stopWorker', 'local', 'w1');
    expect(fake.control.stopWorker).toHaveBeenCalledWith('local', 'w1');
    await ipc.invoke(dashboard, 'rbee:removeHive', 'gpu1', { stop: false });
    expect(fake.control.removeHive).toHaveBeenCalledWith('gpu1', { stop: false });
    await ipc.invoke(dashboard, 'rbee:queryAudit', { event_types: ['worker_crashed'], limit: 10 });
    expect(fake.control.queryAudit).toHaveBeenCalledWith({ event_types: ['worker_crashed'], limit: 10 });
    await ipc.invoke(dashboard, 'rbee:updateSettings', { restart_policy: { max_restarts: 5 } });
    expect(fake.control.updateSettings).toHaveBeenCalledWith({ restart_policy: { max_restarts: 5 } });
    expect(await ipc.invoke(dashboard, 'rbee:getSnapshot')).toMatchObject({ ok: true, value: { hives: [{ id: 'local' }] } });
  });

  const bad: Array<[string, unknown[]]> = [
    ['rbee:spawnWorker', [{ hive_id: 'local' }]], // model missing
    ['rbee:spawnWorker', [{ hive_id: 'local', model: 'm', slots: 0 }]], // out of range
    ['rbee:spawnWorker', [{ hive_id: 'local', model: 'm', evil: true }]], // unknown field
    ['rbee:spawnWorker', ['local', 'm']], // wrong shape
    ['rbee:stopWorker', ['local']], // too few
    ['rbee:stopWorker', ['local', 'w1', 'extra']], // too many
    ['rbee:stopWorker', ['local', 42]], // wrong type
    ['rbee:stopWorker', ['loc\u0000al', 'w1']], // control character
    ['rbee:getSnapshot', [1]], // takes nothing
    ['rbee:addHive', [{ host: '-oProxyCommand=touch /tmp/pwned' }]], // ssh option injection
    ['rbee:addHive', [{ host: 'gpu1; rm -rf ~' }]],
    ['rbee:addHive', [{ host: 'gpu1', port: 70000 }]],
    ['rbee:addHive', [{ host: 'gpu1', trust_fingerprint: 'md5:aa' }]],
    ['rbee:downloadModel', [{ hive_id: 'local', source: 'file:///etc/passwd' }]],
    ['rbee:downloadModel', [{ hive_id: 'local', source: 'hf:a/b/c.gguf', name: '../../.bashrc' }]],
    ['rbee:removeHive', ['gpu1', { stop: 'yes' }]],
    ['rbee:queryAudit', [{ event_types: ['not_an_event'] }]],
    ['rbee:queryAudit', [{ limit: 10_000 }]],
    ['rbee:updateSettings', [{ audit_mode: 'cloud' }]],
    ['rbee:updateSettings', [{ queen_port: 80 }]], // not patchable
    ['rbee:updateDesktopPreferences', [{ queen_port: 70_000 }]], // the store's schema
    ['rbee:updateDesktopPreferences', [{ quick_shortcut: 'Ctrl+' }]],
    ['rbee:updateDesktopPreferences', [{ secrets: {} }]], // not a preference
    ['rbee:getWorkerLogs', ['local', 'w1', 10_000]], // tail too long
  ];

  it.each(bad)('rejects %s %j with INVALID_REQUEST and never calls the ControlApi', async (channel, args) => {
    const { ipc, fake, dashboard } = setup();
    const reply = (await ipc.invoke(dashboard, channel, ...args)) as IpcResult<unknown>;
    expect(reply.ok).toBe(false);
    if (!reply.ok) {
      expect(reply.error.code).toBe('INVALID_REQUEST');
      expect(reply.error.status).toBe(400);
    }
    const method = channel.slice('rbee:'.length) as keyof typeof fake.control;
    expect(fake.control[method]).not.toHaveBeenCalled();
  });

  it('passes ApiError code and status through as data', async () => {
    const { ipc, fake, dashboard } = setup();
    fake.control.restartWorker.mockRejectedValueOnce(new ApiError(404, 'WORKER_NOT_FOUND', 'No worker w9 on local'));
    const reply = await ipc.invoke(dashboard, 'rbee:restartWorker', 'local', 'w9');
    expect(reply).toEqual({ ok: false, error: { status: 404, code: 'WORKER_NOT_FOUND', message: 'No worker w9 on local' } });
    fake.control.verifyAudit.mockRejectedValueOnce(new Error('disk gone'));
    expect(await ipc.invoke(dashboard, 'rbee:verifyAudit')).toEqual({ ok: false, error: { status: 500, code: 'INTERNAL', message: 'disk gone' } });
  });
});

describe('sender check (checklist 17)', () => {
  const untrusted: Array<[string, ReturnType<typeof fakeSender>]> = [
    ['a remote page', fakeSender(1, 'https://evil.example/')],
    ['a file:// page', fakeSender(1, 'file:///tmp/x.html')],
    ['a look-alike app host', fakeSender(1, 'app://rbee.evil/index.html')],
    ['a sub-frame of our own window', fakeSender(1, 'app://rbee/index.html', { url: 'app://rbee/index.html' })],
    ['a webContents that is not ours', fakeSender(99, 'app://rbee/index.html')],
  ];

  it.each(untrusted)('refuses %s before validating or calling anything', async (_name, sender) => {
    const { ipc, fake } = setup();
    await expect(ipc.invoke(sender, 'rbee:getSnapshot')).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(ipc.invoke(sender, 'rbee:stopWorker', 'local', 'w1')).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(ipc.invoke(sender, StreamChannels.subscribe, 's1')).rejects.toBeInstanceOf(UntrustedSenderError);
    await expect(ipc.invoke(sender, StreamChannels.infer, 'i1', { prompt: 'x', model: 'm' })).rejects.toBeInstanceOf(UntrustedSenderError);
    expect(fake.control.getSnapshot).not.toHaveBeenCalled();
    expect(fake.control.stopWorker).not.toHaveBeenCalled();
    expect(fake.control.subscribe).not.toHaveBeenCalled();
    expect(fake.control.infer).not.toHaveBeenCalled();
  });

  it('refuses a missing frame (navigated away or destroyed)', () => {
    expect(isTrustedSender({ origins: ['app://rbee'], isOwnWebContents: () => true }, { id: 1 }, null)).toBe(false);
  });

  it('accepts the dev server origin only when configured', () => {
    const policy = { origins: ['app://rbee', 'http://localhost:5173'], isOwnWebContents: () => true };
    expect(isTrustedSender(policy, { id: 1 }, { url: 'http://localhost:5173/#/quick', parent: null })).toBe(true);
    expect(isTrustedSender(policy, { id: 1 }, { url: 'http://localhost:5174/', parent: null })).toBe(false);
  });
});

describe('streams over IPC', () => {
  it('forwards cluster events to the subscribing window and stops on unsubscribe', async () => {
    const { ipc, fake, dashboard, registration } = setup();
    expect(await ipc.invoke(dashboard, StreamChannels.subscribe, 'sub1')).toEqual({ ok: true, value: null });
    expect(dashboard.sent.map((m) => m.channel)).toEqual([StreamChannels.clusterEvent, StreamChannels.clusterEvent]);
    expect(dashboard.sent[0]?.payload).toEqual({ id: 'sub1', connection: 'open' });
    expect(dashboard.sent[1]?.payload).toMatchObject({ id: 'sub1', event: { type: 'snapshot' } });
    fake.emit({ type: 'worker_removed', hive_id: 'local', worker_id: 'w1' });
    expect(dashboard.sent).toHaveLength(3);
    expect(registration.openStreams).toBe(1);

    await ipc.invoke(dashboard, StreamChannels.unsubscribe, 'sub1');
    fake.emit({ type: 'worker_removed', hive_id: 'local', worker_id: 'w1' });
    expect(dashboard.sent).toHaveLength(3);
    expect(fake.subscribers.size).toBe(0);
    expect(registration.openStreams).toBe(0);
  });

  it('ends a window’s subscriptions when its webContents is destroyed', async () => {
    const { ipc, fake, dashboard, registration } = setup();
    await ipc.invoke(dashboard, StreamChannels.subscribe, 'a');
    await ipc.invoke(dashboard, StreamChannels.subscribe, 'b');
    expect(fake.subscribers.size).toBe(2);
    dashboard.destroy();
    expect(fake.subscribers.size).toBe(0);
    expect(registration.openStreams).toBe(0);
  });

  it('rejects a duplicate stream id and a malformed one', async () => {
    const { ipc, dashboard } = setup();
    await ipc.invoke(dashboard, StreamChannels.subscribe, 'a');
    expect(await ipc.invoke(dashboard, StreamChannels.subscribe, 'a')).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect(await ipc.invoke(dashboard, StreamChannels.subscribe, '../x')).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
  });

  it('streams an inference, validating the request with the shared schema', async () => {
    const { ipc, fake, dashboard } = setup();
    const reply = await ipc.invoke(dashboard, StreamChannels.infer, 'i1', { prompt: 'Hello', model: 'm', max_tokens: 8 });
    expect(reply).toEqual({ ok: true, value: null });
    expect(fake.control.infer.mock.calls[0]?.[0]).toEqual({ prompt: 'Hello', model: 'm', max_tokens: 8, temperature: 0.7 });
    expect(dashboard.sent.map((m) => (m.payload as { event: { type: string } }).event.type)).toEqual(['started', 'token', 'end']);

    for (const badRequest of [{ prompt: '', model: 'm' }, { prompt: 'x' }, { prompt: 'x', model: 'm', max_tokens: 5000 }, { prompt: 'x', model: 'm', shell: 'rm' }]) {
      expect(await ipc.invoke(dashboard, StreamChannels.infer, 'i2', badRequest)).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
    }
    expect(fake.control.infer).toHaveBeenCalledTimes(1);
  });

  it('cancels a running inference through its AbortSignal', async () => {
    const { ipc, fake, dashboard } = setup();
    let seenSignal: AbortSignal | undefined;
    fake.control.infer.mockImplementationOnce(
      (_r: unknown, _e: unknown, signal?: { aborted: boolean }) =>
        new Promise<void>((resolve) => {
          seenSignal = signal as AbortSignal;
          seenSignal.addEventListener('abort', () => resolve());
        }),
    );
    const running = ipc.invoke(dashboard, StreamChannels.infer, 'i1', { prompt: 'Hello', model: 'm' });
    await Promise.resolve();
    expect(seenSignal?.aborted).toBe(false);
    await ipc.invoke(dashboard, StreamChannels.inferCancel, 'i1');
    expect(seenSignal?.aborted).toBe(true);
    await expect(running).resolves.toEqual({ ok: true, value: null });
  });

  it('dispose removes every handler and ends open streams', async () => {
    const { ipc, fake, dashboard, registration } = setup();
    await ipc.invoke(dashboard, StreamChannels.subscribe, 'a');
    registration.dispose();
    registration.dispose();
    expect(ipc.handlers.size).toBe(0);
    expect(fake.subscribers.size).toBe(0);
  });
});
