// Stand-in for `k6/metrics` under node.
export const counters = {};

export class Counter {
  constructor(name) {
    this.name = name;
  }
  add(n, tags) {
    const key = tags && tags.code ? `${this.name}{${tags.code}}` : this.name;
    counters[key] = (counters[key] || 0) + n;
  }
}
