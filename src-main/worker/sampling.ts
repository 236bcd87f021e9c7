import type { LlamaGrammar, LlamaGrammarEvaluationState, LlamaModel, SequenceEvaluateOptions, Token, TokenBias } from 'node-llama-cpp';
import type { ParsedInferenceRequest } from '../../src-shared/worker/inferenceWire.js';

/** node-llama-cpp classes, passed in because the library can only be loaded with a dynamic import. */
export interface SamplingClasses {
  TokenBias: new (tokenizer: LlamaModel['tokenizer']) => TokenBias;
  LlamaGrammarEvaluationState: new (options: { model: LlamaModel; grammar: LlamaGrammar }) => LlamaGrammarEvaluationState;
}

/**
 * The sampler settings of one request. `generated` is the job's own output so far: OpenAI's
 * frequency and presence penalties count tokens of the completion, not of the prompt. Every option
 * the request does not set stays undefined, so a plain request samples exactly as before.
 */
export function samplingOptions(
  classes: SamplingClasses,
  model: LlamaModel,
  request: ParsedInferenceRequest,
  generated: readonly Token[],
  grammar: LlamaGrammar | undefined,
): SequenceEvaluateOptions {
  const options: SequenceEvaluateOptions = {
    temperature: request.temperature,
    topK: request.top_k,
    topP: request.top_p,
    minP: request.min_p,
    seed: request.seed,
    yieldEogToken: true,
  };
  const frequency = request.frequency_penalty ?? 0;
  const presence = request.presence_penalty ?? 0;
  if (frequency !== 0 || presence !== 0) {
    options.repeatPenalty = {
      punishTokens: () => generated as Token[],
      maxPunishTokens: request.max_tokens,
      // 1 turns off llama.cpp's multiplicative repeat penalty: OpenAI's two penalties are additive only.
      penalty: 1,
      frequencyPenalty: frequency,
      presencePenalty: presence,
    };
  }
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0) {
    const bias = new classes.TokenBias(model.tokenizer);
    // Ids are checked against the vocabulary when the request is prepared.
    for (const [id, value] of Object.entries(request.logit_bias)) {
      const token = Number(id);
      // OpenAI: -100 bans a token and 100 all but forces it; in between the value is added to the logit.
      bias.set(token as Token, value <= -100 ? 'never' : { logit: value });
    }
    options.tokenBias = bias;
  }
  if (grammar) options.grammarEvaluationState = new classes.LlamaGrammarEvaluationState({ model, grammar });
  return options;
}
