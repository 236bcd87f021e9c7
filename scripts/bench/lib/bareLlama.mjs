// A bare node-llama-cpp process for the memory bench's baseline: loads a model with the demo
// worker's context (the worker's defaults: ctx 2048 capped by the model, `slots` sequences), prints
// "ready", and holds it until killed. Usage: node bareLlama.mjs MODEL SLOTS THREADS
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [modelPath, slots, threads] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: 'never', maxThreads: Number(threads), logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: Math.min(2048, model.trainContextSize), sequences: Number(slots), threads: Number(threads) });
process.stdout.write('ready\n');
setInterval(() => context, 1_000);
