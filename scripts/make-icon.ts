/**
 * `node scripts/make-icon.ts` writes scripts/assets/hive.ico, the icon of worker.exe: an amber
 * hexagon (a honeycomb cell) with a dark rim, at 16, 24, 32, 48 and 64 pixels. The file is committed;
 * run this only to change the icon. Plain 32-bit BMP images inside the ICO (alpha, no PNG), so
 * every Windows version and resedit read it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = fileURLToPath(new URL('./assets/hive.ico', import.meta.url));
const SIZES = [16, 24, 32, 48, 64];
const SUPERSAMPLE = 4;

type Rgba = [number, number, number, number];
const RIM: Rgba = [92, 52, 8, 255];
const CELL: Rgba = [245, 166, 35, 255];
const CORE: Rgba = [255, 214, 102, 255];
const CLEAR: Rgba = [0, 0, 0, 0];

/** Inside a pointy-top regular hexagon of circumradius r centred on (0, 0)? */
function inHexagon(x: number, y: number, r: number): boolean {
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  const halfWidth = (r * Math.sqrt(3)) / 2;
  return ax <= halfWidth && ay <= r - ax / Math.sqrt(3);
}

function colourAt(x: number, y: number): Rgba {
  if (inHexagon(x, y, 0.5)) return CORE;
  if (inHexagon(x, y, 0.82)) return CELL;
  if (inHexagon(x, y, 0.98)) return RIM;
  return CLEAR;
}

/** BGRA rows bottom-up (as BMP wants), each pixel the average of SUPERSAMPLE² samples. */
function render(size: number): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      const sum = [0, 0, 0, 0];
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = ((col + (sx + 0.5) / SUPERSAMPLE) / size) * 2 - 1;
          const y = ((row + (sy + 0.5) / SUPERSAMPLE) / size) * 2 - 1;
          const [r, g, b, a] = colourAt(x, y);
          // Premultiplied while averaging, so edges do not fringe dark.
          sum[0] = (sum[0] ?? 0) + r * a;
          sum[1] = (sum[1] ?? 0) + g * a;
          sum[2] = (sum[2] ?? 0) + b * a;
          sum[3] = (sum[3] ?? 0) + a;
        }
      }
      const alpha = (sum[3] ?? 0) / SUPERSAMPLE ** 2;
      const unmultiply = (channel: number) =>
        alpha === 0 ? 0 : Math.round(channel / SUPERSAMPLE ** 2 / alpha);
      const offset = ((size - 1 - row) * size + col) * 4;
      pixels[offset] = unmultiply(sum[2] ?? 0);
      pixels[offset + 1] = unmultiply(sum[1] ?? 0);
      pixels[offset + 2] = unmultiply(sum[0] ?? 0);
      pixels[offset + 3] = Math.round(alpha);
    }
  }
  return pixels;
}

/** One icon image: BITMAPINFOHEADER (height doubled: XOR + AND masks), pixels, empty AND mask. */
function bitmap(size: number): Buffer {
  const header = Buffer.alloc(40);
  header.writeUInt32LE(40, 0);
  header.writeInt32LE(size, 4);
  header.writeInt32LE(size * 2, 8);
  header.writeUInt16LE(1, 12);
  header.writeUInt16LE(32, 14);
  const maskRowBytes = Math.ceil(size / 32) * 4;
  return Buffer.concat([header, render(size), Buffer.alloc(maskRowBytes * size)]);
}

function icoFile(sizes: readonly number[]): Buffer {
  const images = sizes.map(bitmap);
  const directory = Buffer.alloc(6 + 16 * sizes.length);
  directory.writeUInt16LE(0, 0);
  directory.writeUInt16LE(1, 2);
  directory.writeUInt16LE(sizes.length, 4);
  let offset = directory.length;
  sizes.forEach((size, index) => {
    const entry = 6 + 16 * index;
    const image = images[index] as Buffer;
    directory.writeUInt8(size >= 256 ? 0 : size, entry);
    directory.writeUInt8(size >= 256 ? 0 : size, entry + 1);
    directory.writeUInt16LE(1, entry + 4);
    directory.writeUInt16LE(32, entry + 6);
    directory.writeUInt32LE(image.length, entry + 8);
    directory.writeUInt32LE(offset, entry + 12);
    offset += image.length;
  });
  return Buffer.concat([directory, ...images]);
}

mkdirSync(dirname(OUT), { recursive: true });
const ico = icoFile(SIZES);
writeFileSync(OUT, ico);
console.log(`wrote ${OUT} (${ico.length} bytes; ${SIZES.join(', ')} px)`);
