// The k6 counterpart of the Rust generator's world (loadtest/src/world.rs): catalog discovery and sign-up in
// setup(), Zipf-skewed product popularity, per-VU pools of open carts, and one GraphQL request per iteration
// for each operation of loadtest/src/scenario.rs.
//
// Environment (all optional):
//   TARGET       GraphQL endpoint                      (http://127.0.0.1:8080/graphql)
//   RATE         offered rate, requests per second    (100)
//   DURATION     measured duration, k6 syntax          (30s)
//   WARMUP       warm-up before it, not in thresholds  (5s; 0s for none)
//   P99_MS       p99 threshold in ms                   (per scenario: 50, or 100 for checkout-heavy ones)
//   VUS, MAX_VUS pre-allocated / maximum VUs           (derived from RATE)
//   CUSTOMERS    customers signed up in setup          (20)
//   LOGIN_SHARE  share of shopper requests signed in   (0.5)
//   ZIPF_S       Zipf exponent of product popularity   (1.0)
//   SEED         seed of the popularity order          (1)
//   FLASH_VARIANT  flash-sale variant gid              (the in-stock variant with the least stock)
import http from 'k6/http';
import { check, fail } from 'k6';
import { Counter } from 'k6/metrics';
import * as D from './documents.js';
import { MIX, needsCustomers } from './mix.js';

export const TARGET = __ENV.TARGET || 'http://127.0.0.1:8080/graphql';
/** Test card that the sandbox payment provider accepts. */
export const TEST_CARD = '4242424242424242';
const MAX_CARTS = 4096;
const LOGIN_SHARE = num(__ENV.LOGIN_SHARE, 0.5);
const ZIPF_S = num(__ENV.ZIPF_S, 1.0);

const userErrors = new Counter('user_errors'); // business outcomes (e.g. INSUFFICIENT_STOCK), tagged by code
const gqlErrors = new Counter('gql_errors'); // top-level errors, HTTP errors, unreadable bodies, tagged by code
const cartWarnings = new Counter('cart_warnings'); // cart warnings (not failures), tagged by code
const cartFallbacks = new Counter('cart_ops_without_cart_became_cartCreate');
const ordersPaid = new Counter('orders_paid');
const unitsPaid = new Counter('units_paid');
const hotUnitsPaid = new Counter('flash_sale_units_paid');

function num(v, dflt) {
  const n = Number(v);
  return v === undefined || v === '' || Number.isNaN(n) ? dflt : n;
}

/** k6 duration (`30s`, `2m`, `500ms`, `1m30s`) in seconds. */
export function seconds(d) {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m;
  while ((m = re.exec(String(d))) !== null) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
  }
  return total;
}

/**
 * Options for one scenario at a constant arrival rate: an optional warm-up scenario, then the measured one;
 * thresholds apply to the measured one only (k6 tags every sample with its `scenario`).
 */
export function constantRateOptions(scenario, dfltP99Ms) {
  const rate = num(__ENV.RATE, 100);
  const duration = __ENV.DURATION || '30s';
  const warmup = __ENV.WARMUP || '5s';
  const vus = num(__ENV.VUS, Math.max(10, Math.ceil(rate / 10)));
  const maxVus = num(__ENV.MAX_VUS, Math.max(100, vus * 10));
  const scenarios = {};
  if (seconds(warmup) > 0) {
    scenarios.warmup = {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: warmup,
      preAllocatedVUs: vus,
      maxVUs: maxVus,
      gracefulStop: '0s',
      tags: { phase: 'warmup' },
    };
  }
  scenarios.measured = {
    executor: 'constant-arrival-rate',
    rate,
    timeUnit: '1s',
    duration,
    startTime: seconds(warmup) > 0 ? warmup : '0s',
    preAllocatedVUs: vus,
    maxVUs: maxVus,
    gracefulStop: '10s',
    tags: { phase: 'measured' },
  };
  const arrivals = Math.ceil(rate * seconds(duration));
  return {
    scenarios,
    thresholds: thresholds(num(__ENV.P99_MS, dfltP99Ms), arrivals),
    setupTimeout: '300s',
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max', 'count'],
    // Every scenario's operations as their own sub-metrics in the summary.
    tags: { testid: scenario },
  };
}

/** The p99 threshold (measured phase), and failures at most 1% (the native sweep's SLO criteria). */
export function thresholds(p99Ms, arrivals) {
  return {
    'http_req_duration{phase:measured}': [`p(99)<${p99Ms}`],
    'http_req_failed{phase:measured}': ['rate<0.01'],
    'checks{phase:measured}': ['rate>0.99'],
    // Arrivals that found no free VU (the open-loop generator's "dropped").
    'dropped_iterations{scenario:measured}': [`count<=${Math.max(1, Math.floor(arrivals * 0.01))}`],
  };
}

/** One GraphQL POST, tagged with the operation's name. */
export function post(op, query, variables, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return http.post(TARGET, JSON.stringify({ query, variables: variables || {} }), {
    headers,
    tags: { op, name: op },
  });
}

function body(res) {
  try {
    return JSON.parse(res.body);
  } catch (_) {
    return null;
  }
}

/** The code of a top-level error: `extensions.errorCode` when there is one, else `extensions.code`. */
function errorCode(errors) {
  const x = (errors[0] && errors[0].extensions) || {};
  return x.errorCode || x.code || 'GRAPHQL_ERROR';
}

/** Classifies an answer like `gql.rs`: returns [failure code or null, data or null]. */
function classify(res) {
  const b = body(res);
  if (b && Array.isArray(b.errors) && b.errors.length > 0) return [errorCode(b.errors), null];
  if (res.status < 200 || res.status >= 300) return [`HTTP_${res.status}`, null];
  if (!b) return ['BAD_BODY', null];
  if (b.data === null || b.data === undefined) return ['NO_DATA', null];
  return [null, b.data];
}

/** A read: ok unless a top-level error, an HTTP error, no data, or `validate(data)` returns a code. */
export function read(op, query, variables, token, validate) {
  const res = post(op, query, variables, token);
  let [err, data] = classify(res);
  if (!err && validate) err = validate(data);
  if (err) gqlErrors.add(1, { op, code: err });
  check(res, { 'answered without errors': () => err === null }, { op });
  return data;
}

/** A mutation with a payload at `data[field]`: user errors are business outcomes, not failures. */
export function mutate(op, query, variables, token, field) {
  const res = post(op, query, variables, token);
  const [err, data] = classify(res);
  if (err) gqlErrors.add(1, { op, code: err });
  check(res, { 'answered without errors': () => err === null }, { op });
  if (!data) return null;
  const payload = data[field] || {};
  const ue = (payload.userErrors || [])[0];
  if (ue) userErrors.add(1, { op, code: ue.code || 'USER_ERROR' });
  for (const w of payload.warnings || []) cartWarnings.add(1, { op, code: w.code });
  return payload;
}

/** A setup request: any error is fatal. */
function setupData(query, variables, token) {
  const res = post('setup', query, variables, token);
  const [err, data] = classify(res);
  if (err) fail(`setup: ${err}: ${res.body}`);
  return data;
}

// A small seeded PRNG (mulberry32), for the popularity order.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomHex(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

/** A fresh idempotency key per checkout attempt, in the Rust generator's format (`lt-` + 32 hex digits). */
export function idempotencyKey() {
  return `lt-${randomHex(32)}`;
}

/**
 * Discovers the catalog (products with their variants' stock, collections, search terms) and signs customers up
 * and in. Runs once; what it returns is every VU's read-only `data`.
 */
export function setupShop(scenario) {
  const products = [];
  const terms = new Set();
  let after = null;
  for (let page = 0; page < 100; page++) {
    const d = setupData(D.DISCOVER, { after });
    for (const e of d.products.edges) {
      const n = e.node;
      const variants = n.variants.edges.map((v) => ({ id: v.node.id, available: v.node.quantityAvailable || 0 }));
      if (!n.id || !n.handle || variants.length === 0) continue;
      if (n.productType && !n.productType.includes(' ')) terms.add(`product_type:${n.productType}`);
      for (const w of (n.title || '').split(/\s+/)) {
        if (w.length >= 4 && /^[\p{L}]+$/u.test(w)) terms.add(w.toLowerCase());
      }
      products.push({ id: n.id, handle: n.handle, variants });
    }
    after = d.products.pageInfo.endCursor;
    if (!d.products.pageInfo.hasNextPage || !after) break;
  }
  if (products.length === 0) fail(`the catalog at ${TARGET} has no products with variants`);
  // Popularity does not follow catalog order (Fisher-Yates with a seeded PRNG).
  const r = rng(num(__ENV.SEED, 1));
  for (let i = products.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [products[i], products[j]] = [products[j], products[i]];
  }
  const collections = setupData(D.COLLECTIONS, {}).collections.edges.map((e) => e.node.handle);

  let hot = null;
  if (scenario === 'flash-sale') {
    const inStock = products.flatMap((p) => p.variants).filter((v) => v.available > 0);
    hot = __ENV.FLASH_VARIANT
      ? inStock.find((v) => v.id === __ENV.FLASH_VARIANT)
      : inStock.sort((a, b) => a.available - b.available || (a.id < b.id ? -1 : 1))[0];
    if (!hot) fail('no variant in stock for the flash sale');
    console.log(`flash sale: ${hot.id} with ${hot.available} available`);
  }

  const customers = [];
  if (needsCustomers(scenario)) {
    // Fresh emails on every run, so runs can repeat against a shop that keeps its data.
    const run = randomHex(8);
    const n = num(__ENV.CUSTOMERS, 20);
    for (let i = 0; i < n; i++) {
      const email = `k6-${run}-${i}@example.com`;
      const password = `load test password ${run} ${i}`;
      const c = setupData(D.SIGN_UP, {
        i: { email, password, firstName: 'Load', lastName: `Tester ${i}` },
      }).customerCreate;
      if (c.userErrors.length > 0) fail(`customerCreate ${email}: ${JSON.stringify(c.userErrors)}`);
      const t = setupData(D.LOG_IN, { i: { email, password } }).customerAccessTokenCreate;
      if (!t.customerAccessToken) fail(`no access token for ${email}: ${JSON.stringify(t)}`);
      customers.push(t.customerAccessToken.accessToken);
    }
  }
  return { scenario, products, collections, terms: [...terms].sort(), customers, hot };
}

// Per-VU state (each VU is its own JS runtime): the Zipf table, open carts, variants seen sold out.
let zipfCdf = null;
const carts = [];
const soldOut = new Set();

/** A product rank 1..n with P(k) ∝ 1/k^s, like rand_distr's Zipf. */
function product(data) {
  if (!zipfCdf) {
    let sum = 0;
    zipfCdf = data.products.map((_, k) => (sum += 1 / Math.pow(k + 1, ZIPF_S)));
    zipfCdf = zipfCdf.map((c) => c / sum);
  }
  const x = Math.random();
  let lo = 0;
  let hi = zipfCdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (zipfCdf[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return data.products[lo];
}

function pickOf(arr) {
  return arr[Math.floor(Math.random() * arr.length)];
}

/** A variant to buy: the flash-sale variant, or one of a popular product's in-stock variants. */
function variant(data) {
  if (data.hot) return data.hot;
  let p = product(data);
  for (let i = 0; i < 8; i++) {
    const inStock = p.variants.filter((v) => v.available > 0 && !soldOut.has(v.id));
    if (inStock.length > 0) return pickOf(inStock);
    p = product(data);
  }
  return pickOf(p.variants);
}

/** Who makes a request: a customer's token, or null for a guest. */
function shopper(data) {
  return data.customers.length > 0 && Math.random() < LOGIN_SHARE ? Math.floor(Math.random() * data.customers.length) : null;
}

function token(data, owner) {
  return owner === null || owner === undefined ? null : data.customers[owner];
}

function putCart(cart) {
  if (carts.length >= MAX_CARTS) carts.splice(Math.floor(Math.random() * carts.length), 1);
  carts.push(cart);
}

function cartOf(payload, owner) {
  const c = payload && payload.cart;
  if (!c) return null;
  return { id: c.id, owner, lines: ((c.lines && c.lines.edges) || []).map((e) => e.node.id) };
}

/** Remembers the variants a cart payload reports out of stock (the error's field path names the line). */
function noteSoldOut(payload, requested) {
  for (const e of (payload && payload.userErrors) || []) {
    if (!(e.code || '').endsWith('OUT_OF_STOCK')) continue;
    const path = e.field || [];
    const i = path.indexOf('lines');
    const line = i >= 0 ? Number(path[i + 1]) : NaN;
    const v = !Number.isNaN(line) ? requested[line] : requested.length === 1 ? requested[0] : undefined;
    if (v) soldOut.add(v);
  }
}

const CART_GONE = ['CART_NOT_FOUND', 'CART_NOT_OPEN', 'CART_ALREADY_PURCHASED', 'CART_CHECKOUT_IN_PROGRESS'];

function cartMutation(data, op, query, vars, field, cart, requested) {
  const payload = mutate(op, `${query}\n${D.CART_FIELDS}`, vars, token(data, cart.owner), field);
  if (payload) noteSoldOut(payload, requested);
  const updated = cartOf(payload, cart.owner);
  if (updated) putCart(updated);
  else {
    const code = payload && payload.userErrors && payload.userErrors[0] && payload.userErrors[0].code;
    if (!CART_GONE.includes(code)) putCart(cart);
  }
}

function cartCreate(data) {
  const owner = shopper(data);
  const n = data.hot ? 1 : 1 + Math.floor(Math.random() * 2);
  const ids = [];
  for (let i = 0; i < n; i++) {
    const id = variant(data).id;
    if (ids[ids.length - 1] !== id) ids.push(id);
  }
  const lines = ids.map((id) => ({ merchandiseId: id, quantity: 1 }));
  const payload = mutate('cartCreate', `${D.CART_CREATE}\n${D.CART_FIELDS}`, { input: { lines } }, token(data, owner), 'cartCreate');
  const cart = cartOf(payload, owner);
  if (cart && !(payload.userErrors || []).length) putCart(cart);
  else noteSoldOut(payload, ids);
}

function checkout(data, cart) {
  // A fresh idempotency key per attempt; a retry of the same attempt would reuse it (neither generator retries).
  const vars = { cartId: cart.id, payment: { token: TEST_CARD }, key: idempotencyKey() };
  const payload = mutate('cartCheckout', D.CHECKOUT, vars, token(data, cart.owner), 'cartCheckout');
  const order = payload && payload.order;
  if (!order || order.status !== 'PAID') return;
  ordersPaid.add(1);
  for (const e of order.lineItems.edges) {
    unitsPaid.add(e.node.quantity);
    if (data.hot && e.node.variant && e.node.variant.id === data.hot.id) hotUnitsPaid.add(e.node.quantity);
  }
}

const SORT_KEYS = ['ID', 'TITLE', 'PRICE', 'BEST_SELLING', 'CREATED_AT'];

/** Draws an operation in proportion to the scenario's weights. */
export function pick(scenario) {
  const mix = MIX[scenario];
  const total = mix.reduce((s, [, w]) => s + w, 0);
  let x = Math.random() * total;
  for (const [op, w] of mix) {
    if (x < w) return op;
    x -= w;
  }
  return mix[mix.length - 1][0];
}

/** One arrival: one GraphQL request of an operation drawn from the scenario's mix. */
export function iteration(data) {
  let op = pick(data.scenario);
  let cart = null;
  // Cart operations take a cart from this VU's pool (so no two requests race on one cart); with none, the
  // arrival becomes a cartCreate, as in the Rust generator.
  if (['cartLinesAdd', 'cartLinesUpdate', 'cartCheckout', 'cart'].includes(op)) {
    if (carts.length > 0) {
      const i = Math.floor(Math.random() * carts.length);
      cart = op === 'cart' ? carts[i] : carts.splice(i, 1)[0];
    } else {
      cartFallbacks.add(1);
      op = 'cartCreate';
    }
  }
  if (op === 'customerOrders' && data.customers.length === 0) op = 'products';
  runOp(data, op, cart);
}

/** The request behind each operation (same documents and variables as `World::exec`). */
export function runOp(data, op, cart) {
  switch (op) {
    case 'products':
      return read(op, `${D.PRODUCTS}\n${D.CARD}`, { sortKey: pickOf(SORT_KEYS), reverse: Math.random() < 0.5 });
    case 'productSearch': {
      const q = data.terms.length > 0 ? pickOf(data.terms) : product(data).handle.replace(/-/g, ' ');
      return read(op, `${D.SEARCH}\n${D.CARD}`, { q });
    }
    case 'productByHandle':
      return read(op, `${D.PRODUCT}\n${D.CARD}`, { handle: product(data).handle });
    case 'collection':
      return read(op, `${D.COLLECTION}\n${D.CARD}`, { handle: data.collections.length > 0 ? pickOf(data.collections) : 'sale' });
    case 'landing':
      return read(op, `${D.LANDING}\n${D.CARD}`, {});
    case 'catalogHeavy':
      return read(op, D.CATALOG_HEAVY, {});
    case 'variantStock':
      return read(op, D.VARIANT_STOCK, { id: variant(data).id });
    case 'productRecommendations':
      return read(op, `${D.RECOMMENDATIONS}\n${D.CARD}`, { id: product(data).id });
    case 'customerOrders':
      return read(op, D.ORDERS, { first: 10 }, pickOf(data.customers));
    case 'cart':
      return read(op, `${D.CART}\n${D.CART_FIELDS}`, { id: cart.id }, token(data, cart.owner), (d) =>
        d.cart === null ? 'CART_NULL' : null,
      );
    case 'cartLinesAdd': {
      const v = variant(data).id;
      const vars = { cartId: cart.id, lines: [{ merchandiseId: v, quantity: 1 }] };
      return cartMutation(data, op, D.CART_LINES_ADD, vars, 'cartLinesAdd', cart, [v]);
    }
    case 'cartLinesUpdate': {
      const line = cart.lines.length > 0 ? pickOf(cart.lines) : '';
      const vars = { cartId: cart.id, lines: [{ id: line, quantity: 1 + Math.floor(Math.random() * 3) }] };
      return cartMutation(data, op, D.CART_LINES_UPDATE, vars, 'cartLinesUpdate', cart, []);
    }
    case 'cartCheckout':
      return checkout(data, cart);
    case 'cartCreate':
      return cartCreate(data);
    default:
      fail(`unknown operation ${op}`);
  }
  return null;
}

/** The flash sale's end state: the variant's stock now (oversold if negative). */
export function flashSaleTeardown(data) {
  if (!data.hot) return;
  const d = setupData(D.VARIANT_STOCK, { id: data.hot.id });
  const now = d.productVariant.quantityAvailable;
  console.log(`flash sale: ${data.hot.id} had ${data.hot.available} available, now ${now}; compare flash_sale_units_paid`);
  check(now, { 'flash sale did not oversell (stock ≥ 0)': (n) => n >= 0 });
}
