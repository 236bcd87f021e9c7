#!/usr/bin/env node
// Writes the app icon and the tray images into resources/ as PNGs (no image libraries: RGBA rows,
// zlib, CRC). Deterministic, so the committed files only change when this script does.
// Run: node scripts/gen-icons.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';
import { deflateSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** @param {number} size @param {(x:number,y:number)=>[number,number,number,number]} pixel */
function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x, y);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
      raw[o + 3] = a;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Anti-aliased disc coverage of pixel (x,y) for a circle at (c,c) with radius r (4×4 supersampling). */
function coverage(x, y, c, r) {
  let inside = 0;
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) {
      const dx = x + (i + 0.5) / 4 - c;
      const dy = y + (j + 0.5) / 4 - c;
      if (dx * dx + dy * dy <= r * r) inside++;
    }
  return inside / 16;
}

const HEALTH = {
  ready: [46, 160, 67],
  degraded: [219, 154, 4],
  down: [207, 34, 46],
  starting: [110, 118, 129],
};

/** Tray: a coloured dot with a dark rim, the health at a glance. */
function trayImage(size, [r, g, b]) {
  const c = size / 2;
  return png(size, (x, y) => {
    const outer = coverage(x, y, c, size * 0.44);
    const inner = coverage(x, y, c, size * 0.34);
    if (outer === 0) return [0, 0, 0, 0];
    const mix = inner; // inner: colour; ring: darker shade
    const shade = (v) => Math.round(v * mix + v * 0.55 * (1 - mix));
    return [shade(r), shade(g), shade(b), Math.round(255 * outer)];
  });
}

/** App icon: an amber disc with three dark stripes (a bee, roughly). */
function appIcon(size) {
  const c = size / 2;
  return png(size, (x, y) => {
    const a = coverage(x, y, c, size * 0.46);
    if (a === 0) return [0, 0, 0, 0];
    const band = Math.floor(((y - size * 0.22) / (size * 0.56)) * 7);
    const stripe = y > size * 0.22 && y < size * 0.78 && band % 2 === 1;
    const [r, g, b] = stripe ? [34, 30, 28] : [245, 185, 30];
    return [r, g, b, Math.round(255 * a)];
  });
}

function write(rel, data) {
  const path = join(root, 'resources', rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  console.log(`wrote resources/${rel} (${data.length} bytes)`);
}

for (const [name, colour] of Object.entries(HEALTH)) {
  write(`tray/tray-${name}.png`, trayImage(16, colour));
  write(`tray/tray-${name}@2x.png`, trayImage(32, colour));
}
write('icon.png', appIcon(512));
