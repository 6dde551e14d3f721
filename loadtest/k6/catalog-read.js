// k6 version of the `catalog-read` scenario of `loadtest` (weights: loadtest/src/scenario.rs).
// One heavy nested catalog query (20 products x 10 variants), for gateway-overhead comparisons.
//   k6 run -e RATE=200 -e DURATION=30s loadtest/k6/catalog-read.js     (see loadtest/k6/README.md)
import { constantRateOptions, iteration, setupShop } from './lib/shop.js';

const SCENARIO = 'catalog-read';

export const options = constantRateOptions(SCENARIO, 50);

export function setup() {
  return setupShop(SCENARIO);
}

export default function (data) {
  iteration(data);
}
