// k6 version of the `thrift-shop-mix` scenario of `loadtest` (weights: loadtest/src/scenario.rs).
// The thrift-shop seed's mix: 50% catalog reads, 25% writes, 25% personal reads.
//   k6 run -e RATE=200 -e DURATION=30s loadtest/k6/thrift-shop-mix.js     (see loadtest/k6/README.md)
import { constantRateOptions, iteration, setupShop } from './lib/shop.js';

const SCENARIO = 'thrift-shop-mix';

export const options = constantRateOptions(SCENARIO, 50);

export function setup() {
  return setupShop(SCENARIO);
}

export default function (data) {
  iteration(data);
}
