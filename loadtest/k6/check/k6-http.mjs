// Stand-in for `k6/http` under node: a synchronous POST through curl (k6's http calls are synchronous).
import { execFileSync } from 'node:child_process';

export const requests = [];

function post(url, body, params = {}) {
  const args = ['-s', '-S', '-X', 'POST', '--max-time', '30', '-o', '-', '-w', '\n%{http_code}', '--data-binary', '@-'];
  for (const [k, v] of Object.entries(params.headers || {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const out = execFileSync('curl', args, { input: body, maxBuffer: 64 << 20 }).toString();
  const nl = out.lastIndexOf('\n');
  const res = { status: Number(out.slice(nl + 1)), body: out.slice(0, nl), tags: params.tags || {} };
  requests.push(res);
  return res;
}

export default { post };
