// Stand-in for `k6` under node.
export const checks = { passes: 0, fails: 0, failed: {} };

export function check(value, sets) {
  let ok = true;
  for (const [name, f] of Object.entries(sets)) {
    const pass = typeof f === 'function' ? !!f(value) : !!f;
    if (pass) checks.passes++;
    else {
      checks.fails++;
      checks.failed[name] = (checks.failed[name] || 0) + 1;
      ok = false;
    }
  }
  return ok;
}

export function fail(msg) {
  throw new Error(msg);
}
