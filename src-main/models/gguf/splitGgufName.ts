/**
 * llama.cpp's split GGUF naming (`llama_split_path`: `<prefix>-%05d-of-%05d.gguf`, parts from 1).
 * llama.cpp loads a split model from its first shard and finds the others by this exact pattern, so
 * the pattern is matched exactly (five digits, lower-case `.gguf`), as node-llama-cpp's
 * `resolveSplitGgufParts` does.
 */
const SPLIT_SUFFIX = /-(\d{5})-of-(\d{5})\.gguf$/;

export interface SplitGgufName {
  /** The name without `-NNNNN-of-MMMMM.gguf`. */
  prefix: string;
  /** 1-based. */
  part: number;
  parts: number;
}

/** The shard a file name denotes, or null when it is not a split GGUF name (or an impossible one: part 0, part > parts). */
export function parseSplitGgufName(fileName: string): SplitGgufName | null {
  const m = SPLIT_SUFFIX.exec(fileName);
  if (!m) return null;
  const part = Number(m[1]);
  const parts = Number(m[2]);
  if (part < 1 || parts < 1 || part > parts) return null;
  return { prefix: fileName.slice(0, m.index), part, parts };
}

/** `<prefix>-0000<part>-of-0000<parts>.gguf`. */
export function splitGgufPartName(prefix: string, part: number, parts: number): string {
  return `${prefix}-${String(part).padStart(5, '0')}-of-${String(parts).padStart(5, '0')}.gguf`;
}

/** Every shard's name of the model `fileName` belongs to, first shard first; `[fileName]` for a single file. */
export function splitGgufPartNames(fileName: string): string[] {
  const split = parseSplitGgufName(fileName);
  if (!split) return [fileName];
  return Array.from({ length: split.parts }, (_, i) => splitGgufPartName(split.prefix, i + 1, split.parts));
}
