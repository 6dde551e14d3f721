// k6 version of `loadtest --sweep`: one scenario at rising offered rates, with a ramping-arrival-rate executor.
//   k6 run -e SCENARIO=thrift-shop-mix -e SWEEP=250,500,1000,2000 -e STEP=20s loadtest/k6/sweep.js
// Each step ramps to its rate in RAMP (2s) and holds it for STEP (20s). k6 thresholds cover the whole run, so
// the p99 threshold here is the SLO of the last step; per-step figures: `--out csv=sweep.csv` and group the
// samples by time, or use the native `loadtest --sweep`, which reports the highest rate meeting the SLO.
import { seconds, setupShop, iteration, thresholds } from './lib/shop.js';
import { MIX } from './lib/mix.js';

const SCENARIO = __ENV.SCENARIO || 'thrift-shop-mix';
if (!MIX[SCENARIO]) throw new Error(`unknown SCENARIO ${SCENARIO} (${Object.keys(MIX).join(', ')})`);
const RATES = (__ENV.SWEEP || '250,500,1000,2000').split(',').map(Number);
const STEP = __ENV.STEP || '20s';
const RAMP = __ENV.RAMP || '2s';
const top = Math.max(...RATES);

const stages = [];
for (const rate of RATES) {
  stages.push({ target: rate, duration: RAMP });
  stages.push({ target: rate, duration: STEP });
}
const arrivals = RATES.reduce((n, r) => n + r * (seconds(STEP) + seconds(RAMP)), 0);

export const options = {
  scenarios: {
    measured: {
      executor: 'ramping-arrival-rate',
      startRate: RATES[0],
      timeUnit: '1s',
      stages,
      preAllocatedVUs: Number(__ENV.VUS || Math.max(10, Math.ceil(top / 10))),
      maxVUs: Number(__ENV.MAX_VUS || Math.max(100, Math.ceil(top))),
      gracefulStop: '10s',
      tags: { phase: 'measured' },
    },
  },
  thresholds: thresholds(Number(__ENV.P99_MS || 50), arrivals),
  setupTimeout: '300s',
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max', 'count'],
  tags: { testid: `sweep-${SCENARIO}` },
};

export function setup() {
  return setupShop(SCENARIO);
}

export default function (data) {
  iteration(data);
}
