// k6 version of the `flash-sale` scenario of `loadtest` (weights: loadtest/src/scenario.rs).
// Many buyers racing for one variant with little stock (the in-stock variant with the least stock).
//   k6 run -e RATE=200 -e DURATION=30s loadtest/k6/flash-sale.js     (see loadtest/k6/README.md)
import { constantRateOptions, flashSaleTeardown, iteration, setupShop } from './lib/shop.js';

const SCENARIO = 'flash-sale';

export const options = constantRateOptions(SCENARIO, 100);

export function setup() {
  return setupShop(SCENARIO);
}

export default function (data) {
  iteration(data);
}

export function teardown(data) {
  flashSaleTeardown(data);
}
