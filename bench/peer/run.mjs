// Peer baseline for Stepd's whole-machine benchmark: runs the machines of
// ../shared/bench/machines on aws-local-stepfunctions (an in-memory ASL interpreter in
// JavaScript), single process, and prints {machine: transitions_per_s} as JSON on stdout.
//
// Method, per machine (the same as bench/machines_bench.cpp):
//   1. build the StateMachine once (the package validates the definition here);
//   2. one verification run that counts states entered (nested Map/Parallel states included);
//      the count must equal the manifest's "transitions" and the run must succeed, otherwise
//      exit 1;
//   3. warm-up runs for --warmup seconds (lets V8 optimise);
//   4. runs one after another for --budget seconds; transitions/s = runs * transitions / time.
// Timed runs do not read the event log (the package records it anyway) and are not hooked.
//
// The package runs Map iterations and Parallel branches as concurrent promises on the one
// event loop: Map uses MaxConcurrency, or 40 when it is absent or 0; Parallel always uses 40.
// None of the benchmark machines sets MaxConcurrency, so both run 40 at a time; it is still one
// thread.
//
// Usage: node run.mjs [--machines DIR] [--budget SECONDS] [--warmup SECONDS] [--only NAME]
//                     [--outputs]
//   --outputs  no timing: one verified run per machine, prints {machine: output} as JSON (to
//              compare with Stepd's `machines_bench --outputs`)
// Human-readable progress goes to stderr.

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node >= 22); Node 20 lacks it. It must
// exist before the package is loaded, hence the dynamic import below.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const { StateMachine } = await import('aws-local-stepfunctions');

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = {
    machines: resolve(here, '../../../shared/bench/machines'),
    budget: 2.0,
    warmup: 0.5,
    only: null,
    outputs: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--machines') opts.machines = resolve(next());
    else if (arg === '--budget') opts.budget = Number(next());
    else if (arg === '--warmup') opts.warmup = Number(next());
    else if (arg === '--only') opts.only = next();
    else if (arg === '--outputs') opts.outputs = true;
    else fail(`unknown argument '${arg}'`);
  }
  if (!(opts.budget > 0)) fail('--budget must be a positive number of seconds');
  if (!(opts.warmup >= 0)) fail('--warmup must be a non-negative number of seconds');
  return opts;
}

function fail(message) {
  process.stderr.write(`peer: ${message}\n`);
  process.exit(1);
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`cannot read ${path}: ${e.message}`);
  }
}

// One run that counts states entered and reports the final status. The package's event log
// cannot be used for the count: nested Parallel/Map events are forwarded to the root log
// asynchronously and some arrive after the root log has closed (parallel10x10 shows 91 of its
// 101 StateEntered events). So the count hooks EventLogger.dispatchStateEnteredEvent, which
// every (nested) execution calls once per state entered, and the hook is removed afterwards so
// that timed runs pay nothing for it. The EventLogger class is not exported; its prototype is
// reached through the logger that StateMachine.prototype.execute receives.
async function verifyRun(machine, input) {
  let entered = 0;
  const proto = StateMachine.prototype;
  const originalExecute = proto.execute;
  let loggerProto = null;
  let originalDispatch = null;
  proto.execute = function execute(runInput, options, cleanup) {
    if (loggerProto === null) {
      loggerProto = Object.getPrototypeOf(options.eventLogger);
      originalDispatch = loggerProto.dispatchStateEnteredEvent;
      loggerProto.dispatchStateEnteredEvent = function dispatchStateEnteredEvent(...args) {
        entered++;
        return originalDispatch.apply(this, args);
      };
    }
    return originalExecute.call(this, runInput, options, cleanup);
  };
  let status = 'SUCCEEDED';
  let failure = '';
  let output;
  try {
    output = await machine.run(input).result;
  } catch (e) {
    status = 'FAILED';
    failure = `${e.name}: ${e.message}`;
  } finally {
    proto.execute = originalExecute;
    if (loggerProto !== null) loggerProto.dispatchStateEnteredEvent = originalDispatch;
  }
  return { entered, status, failure, output };
}

async function runFor(machine, input, seconds) {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let runs = 0;
  let now = start;
  do {
    await machine.run(input).result;
    runs++;
    now = performance.now();
  } while (now < deadline);
  return { runs, seconds: (now - start) / 1000 };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const manifestPath = join(opts.machines, 'manifest.json');
  if (!existsSync(manifestPath)) fail(`no manifest at ${manifestPath}`);
  const manifest = readJson(manifestPath);
  const results = {};
  for (const [name, spec] of Object.entries(manifest.machines)) {
    if (opts.only && opts.only !== name) continue;
    const definition = readJson(join(opts.machines, spec.definition));
    const input = readJson(join(opts.machines, spec.input));
    const machine = new StateMachine(definition);

    const check = await verifyRun(machine, input);
    if (check.status !== 'SUCCEEDED') {
      fail(`${name}: verification run ${check.status} ${check.failure}`);
    }
    if (check.entered !== spec.transitions) {
      fail(`${name}: ${check.entered} states entered, manifest says ${spec.transitions}`);
    }

    if (opts.outputs) {
      results[name] = check.output;
      continue;
    }
    if (opts.warmup > 0) await runFor(machine, input, opts.warmup);
    const { runs, seconds } = await runFor(machine, input, opts.budget);
    const perSecond = (runs * spec.transitions) / seconds;
    results[name] = Math.round(perSecond);
    process.stderr.write(
      `peer ${name}: ${runs} runs in ${seconds.toFixed(2)} s, ` +
        `${Math.round(perSecond)} transitions/s\n`,
    );
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

await main();
