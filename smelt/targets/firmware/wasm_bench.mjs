// smelt bench runner for wasm32 (node): loads the generated <name>.mjs, runs it once on the raw
// input files and prints each output as "smelt-out <index> <hex bytes>" (as firmware/harness.c
// does), then the linear-memory figures. A wasm trap prints "smelt-fault" and exits 3.
//   node wasm_bench.mjs <name>.mjs input0.bin [input1.bin ...]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

const [modulePath, ...inputFiles] = process.argv.slice(2);
const model = await import(pathToFileURL(resolve(modulePath)).href);
await model.load();
const ex = model.wasmExports();
const inputs = inputFiles.map((f, i) => {
  const raw = readFileSync(f);
  const T = { int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, int16: Int16Array,
              uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array,
              uint64: BigUint64Array, float32: Float32Array, float64: Float64Array,
              float16: Uint16Array }[model.INPUTS[i].dtype];
  return new T(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
});

// Paint the shadow stack (between the static data and the heap base) to measure its peak use.
const mem = new Uint8Array(ex.memory.buffer);
const dataEnd = ex.__data_end.value, heapBase = ex.__heap_base.value;
mem.fill(0xa5, dataEnd, heapBase);

let outs;
try {
  outs = model.run(...inputs);
} catch (e) {
  if (e instanceof WebAssembly.RuntimeError) {
    process.stdout.write(`smelt-fault wasm trap: ${e.message}\n`);
    process.exit(3);
  }
  throw e;
}
(model.OUTPUTS.length === 1 ? [outs] : outs).forEach((o, i) => process.stdout.write(`smelt-out ${i} ${hex(o)}\n`));
let low = dataEnd;
while (low < heapBase && mem[low] === 0xa5) low++;
process.stdout.write(`smelt-wasm data_end=${dataEnd} heap_base=${heapBase} stack_used=${heapBase - low}\n`);
process.stdout.write("smelt-done\n");
