import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import type { ChatWrapper, Llama, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaGrammar, LlamaModel, Token } from 'node-llama-cpp';
import { checkGgufHeader } from '../models/gguf/checkGgufHeader.js';
import { StopSequenceFilter } from './StopSequenceFilter.js';
import { forcedCallSchema, toChatFunctions, toChatHistory, UnsupportedRequestError } from './chatHistory.js';
import { GrammarCache } from './GrammarCache.js';
import { samplingOptions, type SamplingClasses } from './sampling.js';
import { tokenLogprob } from './tokenLogprob.js';
import type { Device, GpuLayers, KvCacheType, OffloadInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { ParsedInferenceRequest, StopReason, TokenLogprob, ToolCallEvent } from '../../src-shared/worker/inferenceWire.js';

export interface ModelRuntimeOptions {
  modelPath: string;
  /** Defaults to 'auto': the GPU when node-llama-cpp finds one, else the CPU. */
  device?: Device;
  /** CPU threads for evaluation. Defaults to {@link defaultThreadCount}. */
  threads?: number;
  /** Context size in tokens, shared by all slots. Defaults to 2048, capped by the model's own. */
  contextSize?: number;
  /** Parallel sequences (concurrent requests). Defaults to 2. */
  slots?: number;
  /**
   * Layers to offload: 'auto' (node-llama-cpp fits what the free VRAM allows), 'max' or a count.
   * Forced to 0 on device 'cpu'. Defaults to 'auto'.
   */
  gpuLayers?: GpuLayers;
  /** Tokens per evaluation batch. Defaults to node-llama-cpp's min(512, contextSize). */
  batchSize?: number;
  /** Defaults to node-llama-cpp's "auto" (on where the model and backend support it). */
  flashAttention?: boolean;
  /** KV cache element type (keys and values). Defaults to node-llama-cpp's F16. */
  kvCacheType?: KvCacheType;
  /** 0..1 while the weights load. */
  onLoadProgress?: (progress: number) => void;
  signal?: AbortSignal;
}

export interface GenerateCallbacks {
  /**
   * Called for each piece of decoded text with the index of the last token it contains, and (only
   * when the request asked for logprobs) the log probabilities of the tokens generated since the last call.
   */
  onText: (text: string, tokenIndex: number, logprobs?: TokenLogprob[]) => void;
  /** A complete tool call (forced calls: after the grammar completed it). */
  onToolCall?: (call: Omit<ToolCallEvent, 'type'>) => void;
  signal: AbortSignal;
}

export interface GenerateResult {
  tokensOut: number;
  decodeMs: number;
  /** 'cancelled' and 'deadline' come from the abort reason the caller set on the signal. */
  stopReason: StopReason;
}

/** The prompt does not fit the context: a client error, answered with 400. */
export class PromptTooLongError extends Error {
  override readonly name = 'PromptTooLongError';
  constructor(
    readonly promptTokens: number,
    readonly contextSize: number,
  ) {
    super(`The prompt is ${promptTokens} tokens; this worker's context holds ${contextSize}`);
  }
}

export interface PreparedInput {
  tokens: Token[];
  /** Stop sequences the chat template adds (e.g. a turn separator). */
  stops: string[];
  /** Constrains the output (JSON modes, forced tool calls). */
  grammar?: LlamaGrammar;
  /** The output is a forced tool call: held back and sent as a `tool_call` event, not as text. */
  forcedToolCall?: boolean;
}

export { UnsupportedRequestError };

/** What preparing needs of a request (a raw prompt alone is enough). */
export type PrepareRequest = Pick<ParsedInferenceRequest, 'prompt' | 'messages'> &
  Partial<Pick<ParsedInferenceRequest, 'logit_bias' | 'tools' | 'tool_choice' | 'response_format'>>;

/** Why a job was aborted; the worker sets one of these as the AbortSignal's reason. */
export type AbortCause = 'cancelled' | 'deadline';

/** A slot is one context sequence: one request at a time. */
export interface Slot {
  readonly index: number;
  readonly sequence: LlamaContextSequence;
}

/** A `Llama` being created ahead of time by a warm standby process (see prewarmLlama). */
let prewarmed: { key: string; llama: Promise<Llama> } | undefined;

function llamaKey(device: Device, threads: number): string {
  return `${device === 'cpu' ? 'cpu' : 'auto'}:${threads}`;
}

/** node-llama-cpp's GgmlType key for a KV cache type ('q8_0' → 'Q8_0'). */
function ggmlTypeName(type: KvCacheType): 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' {
  return type.toUpperCase() as 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1';
}

/** The `gpuLayers` handed to node-llama-cpp: the CPU device never offloads. */
export function resolveGpuLayersOption(device: Device, gpuLayers: GpuLayers | undefined): GpuLayers {
  return device === 'cpu' ? 0 : (gpuLayers ?? 'auto');
}

async function createLlama(device: Device, threads: number): Promise<Llama> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  return getLlama({ gpu: device === 'cpu' ? false : 'auto', build: 'never', maxThreads: threads, logLevel: LlamaLogLevel.error, progressLogs: false });
}

/**
 * Starts creating node-llama-cpp's `Llama` before the worker knows its model (a hive's warm standby
 * calls this). getLlama test-loads its binary in a subprocess on every call: most of a restart's time.
 * `ModelRuntime.load` adopts it when device and threads match, and disposes it otherwise.
 */
export function prewarmLlama(options: { device: 'auto' | 'cpu'; threads: number }): void {
  if (prewarmed) return;
  const llama = createLlama(options.device, options.threads);
  llama.catch(() => undefined); // a failure surfaces (again) in load()
  prewarmed = { key: llamaKey(options.device, options.threads), llama };
}

async function takeLlama(device: Device, threads: number): Promise<Llama> {
  const ready = prewarmed;
  prewarmed = undefined;
  if (ready) {
    if (ready.key === llamaKey(device, threads) && (device === 'auto' || device === 'cpu')) {
      try {
        return await ready.llama;
      } catch {
        // fall through to a fresh attempt
      }
    } else {
      void ready.llama.then((l) => l.dispose(), () => undefined);
    }
  }
  return createLlama(device, threads);
}

/**
 * node-llama-cpp's default thread count (max(cores, 4)) oversubscribes small machines badly
 * (BUILD-FACTS: 4 threads on 2 cores ran 500× slower than 1). Use half the cores, at least one.
 */
export function defaultThreadCount(cores: number): number {
  return Math.max(1, Math.floor(cores / 2));
}

/**
 * One loaded model with a fixed pool of context sequences. Async factory, idempotent dispose
 * (node-llama-cpp's lifecycle idiom).
 */
export class ModelRuntime {
  private readonly freeSlots: Slot[];
  /** Slots whose sequence still holds the previous job's tokens. */
  private readonly dirtySlots = new Set<Slot>();
  private readonly eogReplacement: Token;
  private readonly chatWrapper: ChatWrapper;
  private readonly grammars: GrammarCache;
  private readonly vocabularySize: number;
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  private disposed = false;

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    readonly modelName: string,
    readonly device: 'cpu' | 'gpu',
    readonly slotCount: number,
    /** Layers on the GPU out of the model's total. */
    readonly offload: OffloadInfo,
    /** VRAM the backend reports used after loading minus before; null on the CPU. */
    readonly vramMeasuredBytes: number | null,
    slots: Slot[],
    chatWrapper: ChatWrapper,
    private readonly classes: SamplingClasses,
    private readonly threads: number,
  ) {
    this.chatWrapper = chatWrapper;
    this.grammars = new GrammarCache(llama);
    this.vocabularySize = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? Number.MAX_SAFE_INTEGER;
    this.freeSlots = slots;
    const newline = model.tokenize('\n');
    this.eogReplacement = newline[newline.length - 1] ?? (0 as Token);
  }

  static async load(options: ModelRuntimeOptions): Promise<ModelRuntime> {
    await checkGgufHeader(options.modelPath);
    const { resolveChatWrapper, TokenBias, LlamaGrammarEvaluationState } = await import('node-llama-cpp');
    const device = options.device ?? 'auto';
    const threads = options.threads ?? defaultThreadCount((await import('node:os')).availableParallelism());
    const llama = await takeLlama(device, threads);
    if (device !== 'auto' && device !== 'cpu' && llama.gpu === false) {
      await llama.dispose();
      throw new Error(`device=${device} requested but node-llama-cpp found no usable GPU (CUDA, Vulkan or Metal)`);
    }
    const onGpu = llama.gpu !== false;
    const vramBefore = onGpu ? (await llama.getVramState()).used : 0;
    const model = await llama.loadModel({
      modelPath: options.modelPath,
      onLoadProgress: options.onLoadProgress,
      loadSignal: options.signal,
      gpuLayers: resolveGpuLayersOption(device, options.gpuLayers),
    });
    const slots = options.slots ?? 2;
    const contextSize = Math.min(options.contextSize ?? 2048, model.trainContextSize);
    const kvType = options.kvCacheType ? ggmlTypeName(options.kvCacheType) : undefined;
    const context = await model.createContext({
      contextSize,
      sequences: slots,
      threads,
      createSignal: options.signal,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.flashAttention !== undefined ? { flashAttention: options.flashAttention } : {}),
      ...(kvType ? { experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType } : {}),
    });
    const pool: Slot[] = [];
    for (let index = 0; index < slots; index++) pool.push({ index, sequence: context.getSequence() });
    const offload = { layers: model.gpuLayers, total: model.fileInsights.totalLayers };
    const vramMeasured = onGpu ? Math.max(0, (await llama.getVramState()).used - vramBefore) : null;
    return new ModelRuntime(llama, model, context, basename(options.modelPath), onGpu ? 'gpu' : 'cpu', slots, offload, vramMeasured, pool, resolveChatWrapper(model), {
      TokenBias,
      LlamaGrammarEvaluationState,
    }, threads);
  }

  get freeSlotCount(): number {
    return this.freeSlots.length;
  }

  acquireSlot(): Slot | undefined {
    return this.freeSlots.pop();
  }

  /**
   * Returns a slot at once, so a client that starts its next request the moment it reads `[DONE]`
   * finds it free. Its history is cleared lazily when the next job starts on it.
   */
  releaseSlot(slot: Slot): void {
    this.dirtySlots.add(slot);
    this.freeSlots.push(slot);
  }

  /**
   * Turns a request into the tokens generation starts from: a raw prompt as is, chat messages through
   * the model's own chat template (its stop triggers join the request's stop sequences; tools are
   * documented the wrapper's way). Builds the grammar a JSON mode or a forced tool call needs.
   * Throws PromptTooLongError when the input cannot fit the context, UnsupportedRequestError when the
   * request asks for what cannot be honoured.
   */
  async prepare(request: PrepareRequest): Promise<PreparedInput> {
    let tokens: Token[];
    const stops: string[] = [];
    let grammar: LlamaGrammar | undefined;
    let forcedToolCall = false;
    for (const id of Object.keys(request.logit_bias ?? {})) {
      if (Number(id) >= this.vocabularySize) throw new UnsupportedRequestError(`logit_bias: token ${id} is outside this model's vocabulary of ${this.vocabularySize}`);
    }
    if (request.messages) {
      const history = toChatHistory(request.messages);
      history.push({ type: 'model', response: [] });
      const choice = request.tool_choice ?? 'auto';
      const functions = request.tools && choice !== 'none' ? toChatFunctions(request.tools) : undefined;
      const state = this.chatWrapper.generateContextState({ chatHistory: history, availableFunctions: functions, documentFunctionParams: true });
      tokens = state.contextText.tokenize(this.model.tokenizer);
      for (const trigger of state.stopGenerationTriggers) {
        // Special-token triggers (EOS and the like) end generation on their own; keep the textual ones.
        if (trigger.values.every((v) => typeof v === 'string')) {
          const text = trigger.values.join('');
          if (text.length > 0) stops.push(text);
        }
      }
      if (functions && choice !== 'auto') {
        const allowed = typeof choice === 'object' ? [choice.name] : Object.keys(functions);
        if (!(allowed[0]! in functions)) throw new UnsupportedRequestError(`tool_choice names ${allowed[0]}, which is not among the tools`);
        grammar = await this.grammars.forSchema(forcedCallSchema(functions, allowed));
        forcedToolCall = true;
      }
    } else {
      tokens = this.model.tokenize(request.prompt ?? '');
      if (this.model.tokens.shouldPrependBosToken && this.model.tokens.bos !== null) tokens.unshift(this.model.tokens.bos);
    }
    const format = request.response_format;
    if (format?.type === 'json_object') grammar = await this.grammars.forJsonObject();
    if (format?.type === 'json_schema') grammar = await this.grammars.forClientSchema(format.schema);
    // A JSON grammar lets whitespace run on after the value is complete; its own trigger ends that.
    for (const trigger of grammar?.stopGenerationTriggers ?? []) {
      const parts: ReadonlyArray<unknown> = typeof trigger === 'string' ? [trigger] : Array.isArray(trigger) ? trigger : (trigger as { values: readonly unknown[] }).values;
      if (parts.length > 0 && parts.every((p) => typeof p === 'string')) stops.push(parts.join(''));
    }
    if (tokens.length >= this.context.contextSize) throw new PromptTooLongError(tokens.length, this.context.contextSize);
    return { tokens, stops, grammar, forcedToolCall };
  }

  /**
   * Generates token by token with the sequence's own evaluator (not LlamaCompletion), so max_tokens,
   * stop sequences, the deadline and cancellation are exact and each token reaches the caller at once.
   */
  async generate(slot: Slot, prepared: PreparedInput, request: ParsedInferenceRequest, callbacks: GenerateCallbacks): Promise<GenerateResult> {
    const model = this.model;
    const input = prepared.tokens;
    if (this.dirtySlots.delete(slot)) {
      // A fresh history per job: no state leaks from one caller's prompt into the next.
      await slot.sequence.clearHistory();
    }
    const stops = new StopSequenceFilter([...(request.stop ?? []), ...prepared.stops]);
    const started = performance.now();
    let tokensOut = 0;
    let stopReason: StopReason = 'eos';
    // Tokens whose bytes do not yet form whole UTF-8 characters wait here (byte-level vocabularies).
    let pending: Token[] = [];
    let previous: Token[] = input.slice(-4);
    const generated: Token[] = [];
    const options = samplingOptions(this.classes, model, request, generated, prepared.grammar);
    // Only a request that asks for logprobs pays for the probabilities (the plain path is unchanged).
    const withLogprobs = request.logprobs === true;
    const topLogprobs = request.top_logprobs ?? 0;
    let logprobs: TokenLogprob[] = [];
    const iterator = withLogprobs
      ? slot.sequence.evaluateWithMetadata(input, { confidence: true, probabilities: topLogprobs > 0 }, options)
      : slot.sequence.evaluate(input, options);
    // A forced tool call is held back: its text is the call's JSON, not content.
    let held = '';
    const emitText = (text: string): void => {
      if (prepared.forcedToolCall) {
        held += text;
        return;
      }
      const lp = withLogprobs ? logprobs : undefined;
      if (withLogprobs) logprobs = [];
      callbacks.onText(text, tokensOut - 1, lp);
    };
    const emit = (text: string): void => {
      const safe = stops.push(text);
      if (safe.length > 0) emitText(safe);
    };
    try {
      let step = await iterator.next();
      while (!step.done) {
        if (callbacks.signal.aborted) {
          stopReason = callbacks.signal.reason === 'deadline' ? 'deadline' : 'cancelled';
          break;
        }
        const sampled: Token = typeof step.value === 'number' ? step.value : step.value.token;
        let token = sampled;
        if (model.isEogToken(token)) {
          if (!request.ignore_eos) {
            stopReason = 'eos';
            break;
          }
          // node-llama-cpp's TokenBias cannot suppress end-of-generation tokens, so ignore_eos
          // replaces one with a line break and lets generation go on.
          token = this.eogReplacement;
        }
        tokensOut++;
        generated.push(token);
        if (withLogprobs && typeof step.value !== 'number') logprobs.push(tokenLogprob(model, token, step.value, topLogprobs));
        pending.push(token);
        const text = model.detokenize(pending, false, previous);
        if (!text.endsWith('\uFFFD') || pending.length >= 4) {
          previous = [...previous, ...pending].slice(-4);
          pending = [];
          emit(text);
        }
        if (stops.hasStopped) {
          stopReason = 'stop_sequence';
          break;
        }
        if (tokensOut >= request.max_tokens) {
          stopReason = 'max_tokens';
          break;
        }
        step = await iterator.next(token === sampled ? undefined : token);
      }
    } finally {
      await iterator.return();
    }
    if (pending.length > 0 && !stops.hasStopped) emit(model.detokenize(pending, false, previous));
    const rest = stops.flush();
    if (rest.length > 0 || logprobs.length > 0) emitText(rest);
    if (prepared.forcedToolCall && (stopReason === 'eos' || stopReason === 'stop_sequence')) {
      // The grammar only lets the model end (or reach its whitespace stop) once the call is complete JSON.
      const call = JSON.parse(held) as { name: string; arguments: unknown };
      callbacks.onToolCall?.({ index: 0, id: `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`, name: call.name, arguments: JSON.stringify(call.arguments) });
      stopReason = 'tool_calls';
    }
    return { tokensOut, decodeMs: performance.now() - started, stopReason };
  }

  /** node-llama-cpp's embedding context, created on the first embeddings request and kept. */
  private embeddings(): Promise<LlamaEmbeddingContext> {
    this.embeddingContext ??= this.model.createEmbeddingContext({ contextSize: this.context.contextSize, threads: this.threads });
    return this.embeddingContext;
  }

  get embeddingSize(): number {
    return this.model.embeddingVectorSize;
  }

  /**
   * Embeds each input (text or token ids) and counts its tokens. Throws PromptTooLongError for an input
   * longer than the context.
   */
  async embed(inputs: ReadonlyArray<string | readonly number[]>, signal: AbortSignal): Promise<{ vectors: number[][]; tokens: number }> {
    const context = await this.embeddings();
    const vectors: number[][] = [];
    let tokens = 0;
    for (const input of inputs) {
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
      const ids = typeof input === 'string' ? this.model.tokenize(input) : (input as Token[]);
      for (const id of ids) if (id >= this.vocabularySize) throw new UnsupportedRequestError(`input: token ${id} is outside this model's vocabulary of ${this.vocabularySize}`);
      if (ids.length >= this.context.contextSize) throw new PromptTooLongError(ids.length, this.context.contextSize);
      tokens += ids.length;
      const embedding = await context.getEmbeddingFor(ids);
      vectors.push([...embedding.vector]);
    }
    return { vectors, tokens };
  }

  async vramState(): Promise<{ total: number; used: number; free: number } | null> {
    if (this.device === 'cpu') return null;
    return this.llama.getVramState();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.embeddingContext) await this.embeddingContext.then((c) => c.dispose(), () => undefined);
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
