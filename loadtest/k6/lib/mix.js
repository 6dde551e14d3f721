// The scenarios' operation weights, as declared in loadtest/src/scenario.rs (`Scenario::mix`).
// Keep them identical: `cargo test -p shop-loadtest --test k6` compares the two.
export const MIX = {
  'thrift-shop-mix': [
    // 50% catalog reads
    ['products', 15],
    ['productSearch', 10],
    ['productByHandle', 15],
    ['collection', 10],
    // 25% writes
    ['cartCreate', 8],
    ['cartLinesAdd', 7],
    ['cartLinesUpdate', 4],
    ['cartCheckout', 6],
    // 25% personal reads
    ['cart', 10],
    ['customerOrders', 7],
    ['productRecommendations', 8],
  ],
  // Online Boutique's locustfile weights (setCurrency folded into the landing page).
  journey: [
    ['landing', 3],
    ['productByHandle', 10],
    ['cartLinesAdd', 2],
    ['cart', 3],
    ['cartCheckout', 1],
  ],
  'flash-sale': [
    ['variantStock', 40],
    ['cartCreate', 30],
    ['cartCheckout', 30],
  ],
  'catalog-read': [['catalogHeavy', 1]],
};

/** Does the scenario need signed-in customers? (same rule as `Scenario::needs_customers`) */
export function needsCustomers(scenario) {
  return MIX[scenario].some(([op]) => op === 'customerOrders' || op === 'cart' || op === 'cartCheckout');
}
