import { z } from 'zod';
import type { Device, GpuLayers, KvCacheType } from '../cluster/WorkerInfo.js';

/**
 * The GPU-related launch options of a worker (DESIGN §6, issue 19), one schema for every tier that
 * accepts them: the hive's spawn body, the queen's control API, the IPC bridge and the worker CLI.
 */

/** `auto` | `cpu` | `gpu` (any GPU) | `gpu0`, `gpu1` … (a HardwareProbe device id: one GPU). */
export const DEVICE_PATTERN = /^(?:auto|cpu|gpu|gpu(?:0|[1-9]\d?))$/;

export const DeviceSchema = z
  .string()
  .regex(DEVICE_PATTERN, 'auto, cpu, gpu or gpu0, gpu1 …')
  .transform((value) => value as Device);

/** `auto` (fit what the admission estimate allows), `max` (every layer), or a layer count. */
export const GpuLayersSchema = z.union([z.enum(['auto', 'max']), z.number().int().min(0).max(1024)]);

/**
 * KV cache element types offered (node-llama-cpp's `experimentalKvCacheKeyType/ValueType`, both set).
 * llama.cpp needs flash attention for a quantized V cache.
 */
export const KV_CACHE_TYPES = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1'] as const;
export const KvCacheTypeSchema = z.enum(KV_CACHE_TYPES);

/** The fields to spread into a spawn schema (all optional; defaults live with the hive and worker). */
export const GpuLaunchShape = {
  device: DeviceSchema.optional(),
  gpu_layers: GpuLayersSchema.optional(),
  /** Tokens evaluated per batch; node-llama-cpp defaults to min(512, ctx). */
  batch_size: z.number().int().min(1).max(65_536).optional(),
  /** node-llama-cpp's default is "auto" (on where the model and backend support it). */
  flash_attention: z.boolean().optional(),
  kv_cache_type: KvCacheTypeSchema.optional(),
};

export interface GpuLaunchOptions {
  device?: Device;
  gpu_layers?: GpuLayers;
  batch_size?: number;
  flash_attention?: boolean;
  kv_cache_type?: KvCacheType;
}

export function parseDevice(raw: string): Device | null {
  return DEVICE_PATTERN.test(raw) ? (raw as Device) : null;
}

/** `auto`, `max` or a non-negative integer (the CLI form of `gpu_layers`); null when invalid. */
export function parseGpuLayers(raw: string): GpuLayers | null {
  if (raw === 'auto' || raw === 'max') return raw;
  if (!/^\d{1,4}$/.test(raw)) return null;
  const n = Number(raw);
  return n <= 1024 ? n : null;
}

/** The GPU index of `gpu0`, `gpu1` …; null for auto, cpu and gpu (any). */
export function pinnedGpuIndex(device: Device): number | null {
  const match = /^gpu(\d+)$/.exec(device);
  return match ? Number(match[1]) : null;
}
