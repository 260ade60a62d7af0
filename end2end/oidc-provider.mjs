// Local OpenID Connect provider for automated tests. Logins starting with `admin` are admins;
// one containing `many-groups` is in 250 more groups.
// (npm oidc-provider 8.8: it runs on the Node.js 18 Debian 12 installs and on 20).
//
// env:
//   OIDC_PORT                       port on 127.0.0.1 (0 or unset = pick a free port)
//   OIDC_CLIENT_ID                  public client id (default "stories")
//   OIDC_REDIRECT_URIS              comma-separated redirect URIs
//   OIDC_POST_LOGOUT_REDIRECT_URIS  comma-separated post logout redirect URIs
//   OIDC_CONSENT_PAGE=1             show a consent page ("Continue" button) instead of auto-approving
//
// Prints "OIDC provider listening on http://127.0.0.1:<port>" on stdout once ready.
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);

const port = Number.parseInt(process.env.OIDC_PORT || '0', 10) || 0;
const clientId = process.env.OIDC_CLIENT_ID || 'stories';
const redirectUris = list(process.env.OIDC_REDIRECT_URIS);
const postLogoutRedirectUris = list(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS);
const showConsent = /^(1|true|yes)$/i.test(process.env.OIDC_CONSENT_PAGE || '');

if (!redirectUris.length) {
  console.error('OIDC_REDIRECT_URIS is required (comma-separated)');
  process.exit(2);
}

// ---------------------------------------------------------------- helpers
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const page = (title, body) => `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
<main>
<h1>${esc(title)}</h1>
${body}
</main>
</body>
</html>`;

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(data))));
    req.on('error', reject);
  });
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

function claimsFor(login) {
  const email = login.includes('@') ? login : `${login}@example.test`;
  const local = login.split('@')[0];
  return {
    sub: login,
    email,
    email_verified: true,
    name: local.charAt(0).toUpperCase() + local.slice(1),
    preferred_username: login,
    groups: [
      login.startsWith('admin') ? 'admin' : 'readers',
      // A member of very many groups (as in large directories): an ID token of about 10 KB.
      ...(login.includes('many-groups')
        ? Array.from({ length: 250 }, (_, i) => `a1b2c3d4-0000-4000-8000-${String(i).padStart(12, '0')}`)
        : []),
    ],
  };
}

// ---------------------------------------------------------------- keys
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `test-rs256-${randomBytes(4).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

// ---------------------------------------------------------------- server
let provider;
let providerCallback;

async function grantAll(details, grantId, session, params) {
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  if (details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return grant.save();
}

function loginPage(uid, params, error) {
  const hint = params.login_hint ? ` value="${esc(params.login_hint)}"` : '';
  return page('Sign-in', `${error ? `<p role="alert" class="error">${esc(error)}</p>\n` : ''}<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="login">Username</label>
  <input id="login" name="login" type="text" required autofocus${hint}>
  <button id="login-submit" type="submit">Sign-in</button>
</form>
<p><a id="cancel" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function consentPage(uid, params) {
  return page('Authorize', `<p>Client <code>${esc(params.client_id)}</code> requests: <code>${esc(params.scope || '')}</code></p>
<form id="consent-form" method="post" action="/interaction/${esc(uid)}/confirm">
  <button id="consent-submit" type="submit">Continue</button>
</form>
<p><a id="cancel" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

async function interactions(req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?\/?$/);
  if (!m) return false;
  const [, uid, action] = m;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p>interaction mismatch</p>'));
    return true;
  }
  const { prompt, params, session, grantId } = details;

  if (!action && req.method === 'GET') {
    if (prompt.name === 'login') {
      send(res, 200, loginPage(uid, params));
    } else if (prompt.name === 'consent') {
      if (showConsent) {
        send(res, 200, consentPage(uid, params));
      } else {
        const id = await grantAll(prompt.details, grantId, session, params);
        await provider.interactionFinished(req, res, { consent: { grantId: id } }, { mergeWithLastSubmission: true });
      }
    } else {
      send(res, 501, page('Error', `<p>unsupported prompt ${esc(prompt.name)}</p>`));
    }
    return true;
  }

  if (action === 'login' && req.method === 'POST') {
    const body = await readForm(req);
    const login = (body.login || '').trim();
    if (prompt.name !== 'login') {
      send(res, 400, page('Error', '<p>unexpected login submission</p>'));
    } else if (!login) {
      send(res, 400, loginPage(uid, params, 'Username is required'));
    } else {
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }
    return true;
  }

  if (action === 'confirm' && req.method === 'POST') {
    await readForm(req);
    if (prompt.name !== 'consent') {
      send(res, 400, page('Error', '<p>unexpected consent submission</p>'));
    } else {
      const id = await grantAll(prompt.details, grantId, session, params);
      await provider.interactionFinished(req, res, { consent: { grantId: id } }, { mergeWithLastSubmission: true });
    }
    return true;
  }

  if (action === 'abort' && req.method === 'GET') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return true;
  }

  send(res, 405, page('Error', '<p>method not allowed</p>'));
  return true;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${HOST}`);
  try {
    if (url.pathname.startsWith('/interaction/')) {
      if (await interactions(req, res, url)) return;
    }
    providerCallback(req, res);
  } catch (err) {
    // most likely an expired / missing interaction cookie (SessionNotFound)
    if (!res.headersSent) {
      send(res, err.statusCode || err.status || 500, page('Error', `<p>${esc(err.name)}: ${esc(err.error_description || err.message)}</p>`));
    } else {
      res.end();
    }
  }
});

server.listen(port, HOST, () => {
  const actualPort = server.address().port;
  const issuer = `http://${HOST}:${actualPort}`;

  const baseClient = {
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  };

  provider = new Provider(issuer, {
    clients: [
      { ...baseClient, client_id: clientId, token_endpoint_auth_method: 'none' },
      {
        ...baseClient,
        client_id: 'stories-secret',
        client_secret: 'stories-secret-value',
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingJwk] },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() { return claimsFor(sub); },
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    responseTypes: ['code'],
    // put scope-requested claims into the ID token too, not only in userinfo
    conformIdTokenClaims: false,
    pkce: {
      // PKCE (S256 is the only method in v9) mandatory for the public client,
      // optional (but verified if sent) for the confidential one
      required: (ctx, client) => client.clientAuthMethod === 'none',
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = page('Sign-out', `<p>Do you want to sign-out from ${esc(ctx.host)}?</p>
${form}
<button id="logout-yes" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button id="logout-no" type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p id="logout-success">Your sign-out was successful.</p>');
        },
      },
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // distinct cookie names: cookies are per host (not per port), so the app on
    // 127.0.0.1:<other port> shares the cookie jar with this provider
    cookies: {
      names: {
        session: 'oidcp_session',
        interaction: 'oidcp_interaction',
        resume: 'oidcp_interaction_resume',
      },
      keys: [randomBytes(32).toString('hex')],
      long: { httpOnly: true, sameSite: 'lax', secure: false },
      short: { httpOnly: true, sameSite: 'lax', secure: false },
    },
    clientBasedCORS: () => true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<p id="error">${esc(out.error)}</p><p id="error-description">${esc(out.error_description || '')}</p>`);
    },
  });
  provider.proxy = false;
  providerCallback = provider.callback();

  process.stdout.write(`OIDC provider listening on ${issuer}\n`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
