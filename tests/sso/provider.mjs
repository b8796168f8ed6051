// A real OpenID provider for the tests: Node's `oidc-provider` on loopback, with one test client and test people.
// Settings come as JSON in SB_OIDC (port, client, redirect URIs, people). Its own login and consent pages
// ("dev interactions": the login name is the account id, any password) are what the browser journeys drive.
//
// For the failure tests only, /__test/* lets a test change the *next* ID token the token endpoint returns (other
// claims, an unknown key, alg "none", HS256 keyed with the public key) and publish a rotated signing key in the
// JWKS; everything else (codes, PKCE, one-time codes, discovery, logout) is the provider's own behaviour.
import { createHmac } from 'node:crypto';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const cfg = JSON.parse(process.env.SB_OIDC);
const issuer = `http://127.0.0.1:${cfg.port}`;

const keyA = await jose.generateKeyPair('RS256', { extractable: true });
const keyB = await jose.generateKeyPair('RS256', { extractable: true }); // "rotated": unpublished at first
const keyX = await jose.generateKeyPair('RS256', { extractable: true }); // never published
const jwk = async (pair, kid) => ({ ...(await jose.exportJWK(pair.privateKey)), kid, alg: 'RS256', use: 'sig' });
const privateA = await jwk(keyA, 'key-a');
const publicB = { ...(await jose.exportJWK(keyB.publicKey)), kid: 'key-b', alg: 'RS256', use: 'sig' };

const people = cfg.people; // { accountId: { email, email_verified, name, groups, ... } }

const provider = new Provider(issuer, {
  clients: [{
    client_id: cfg.client_id,
    client_secret: cfg.client_secret,
    redirect_uris: cfg.redirect_uris,
    post_logout_redirect_uris: cfg.post_logout_redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [privateA] },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups', 'employee_id', 'hasgroups'] },
  conformIdTokenClaims: false, // the asked-for claims go in the ID token (as Entra ID does)
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['test-cookie-key-not-secret'] },
  async findAccount(ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...person }; } };
  },
});

let mutation = null;
let rotated = false;

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

async function resign(idToken, m) {
  const payload = { ...jose.decodeJwt(idToken), ...(m.claims || {}) };
  for (const name of m.drop || []) delete payload[name];
  if (m.sign === 'none') return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
  if (m.sign === 'hs256-public') {
    // The classic confusion attack: HMAC keyed with the provider's published public key.
    const secret = await jose.exportSPKI(keyA.publicKey);
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'key-a' })}.${b64(payload)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  }
  const [key, kid] = m.sign === 'rotated' ? [keyB, 'key-b'] : m.sign === 'unknown' ? [keyX, 'key-x'] : [keyA, 'key-a'];
  return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key.privateKey);
}

async function readJson(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return raw ? JSON.parse(raw) : {};
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/__test/') && ctx.method === 'POST') {
    const body = await readJson(ctx.req);
    if (ctx.path === '/__test/mutate') mutation = body;
    if (ctx.path === '/__test/rotate') rotated = true;
    if (ctx.path === '/__test/reset') { mutation = null; rotated = false; }
    ctx.body = { ok: true };
    return;
  }
  await next();
  if (ctx.path === '/token' && mutation && ctx.body && ctx.body.id_token) {
    const m = mutation;
    mutation = null;
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, m) };
  }
  if (ctx.path === '/jwks' && rotated && ctx.body && ctx.body.keys) {
    ctx.body = { keys: [...ctx.body.keys, publicB] };
  }
});

provider.listen(cfg.port, '127.0.0.1', () => { process.stdout.write(`listening ${issuer}\n`); });
