// ONNX Runtime side of bench/compare.sh (onnxruntime-node, installed by compare.sh into the build
// folder; never a dependency of geocorr). Times session.run of one model on a random input of the
// model's declared shape, single intra-op pool of THREADS threads, all graph optimisations on.
// Prints "ort <name> run <min> s median <median> s cpu <min cpu> s (N runs)" over the RUNS calls after
// a first one, then "ort first call <s> s first_cpu <s> s".
// Usage: node ort_run.js MODEL.onnx NAME THREADS RUNS
"use strict";
const ort = require("onnxruntime-node");

async function main() {
  const [model, name, threads, runs] = process.argv.slice(2);
  const n = parseInt(runs || "3", 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: parseInt(threads, 10),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const input = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape : null;
  const shape = dims || (name.startsWith("dinov2") ? [1, 3, 840, 840] : [1, 3, 512, 512]);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = ((i * 2654435761) % 2000) / 1000 - 1;
  const feeds = { [input]: new ort.Tensor("float32", data, shape) };
  // geocorr's protocol (bench/bench_util.h): a first call (first-run allocations), then RUNS timed
  const c1 = process.cpuUsage(), t1 = process.hrtime.bigint();
  await session.run(feeds);
  const first = Number(process.hrtime.bigint() - t1) / 1e9, c = process.cpuUsage(c1);
  const firstCpu = (c.user + c.system) / 1e6;
  const wall = [], cpu = [];
  for (let r = 0; r < n; r++) {
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t = Number(process.hrtime.bigint() - t0) / 1e9, c = process.cpuUsage(c0);
    wall.push(t);
    cpu.push((c.user + c.system) / 1e6);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const med = wall[Math.floor((wall.length - 1) / 2)];
  console.log(`ort ${ort.env.versions.common} ${name} run ${wall[0].toFixed(3)} s median ${med.toFixed(3)} s ` +
              `cpu ${cpu[0].toFixed(3)} s (${n} runs, ${threads} threads)`);
  console.log(`ort first call ${first.toFixed(3)} s first_cpu ${firstCpu.toFixed(3)} s`);
}

main().catch((e) => {
  console.error(`ort_run: ${e.message || e}`);
  process.exit(1);
});
