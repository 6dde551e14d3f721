// k6 version of the `journey` scenario of `loadtest` (weights: loadtest/src/scenario.rs).
// A shopper's journey (Online Boutique's locustfile weights): landing, browse, add, view cart, checkout.
//   k6 run -e RATE=200 -e DURATION=30s loadtest/k6/journey.js     (see loadtest/k6/README.md)
import { constantRateOptions, iteration, setupShop } from './lib/shop.js';

const SCENARIO = 'journey';

export const options = constantRateOptions(SCENARIO, 50);

export function setup() {
  return setupShop(SCENARIO);
}

export default function (data) {
  iteration(data);
}
